//! `ticket-service`: serve (the default), `migrate`, or `seed-demo`.

use clap::Parser as _;
use ticket_service::cli::Cli;
use tickets_contract::runtime::telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = telemetry::TelemetryConfig::from_env("ticket-service", cli.log_format);
    let telemetry = match telemetry::init(&config) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("ticket-service: cannot set up tracing: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = cli.run().await;
    telemetry.flush();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "ticket-service failed");
            std::process::ExitCode::FAILURE
        }
    }
}
