//! `ticket-service`: serve (the default), `migrate`, or `seed-demo`.

use clap::Parser as _;
use ticket_service::cli::Cli;
use tickets_contract::runtime::telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "ticket-service failed");
            std::process::ExitCode::FAILURE
        }
    }
}
