//! `ticket-gateway`: the REST gateway.

use clap::Parser as _;
use ticket_gateway::cli::Cli;
use tickets_contract::runtime::telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = telemetry::TelemetryConfig::from_env("ticket-gateway", cli.log_format);
    let telemetry = match telemetry::init(&config) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("ticket-gateway: cannot set up tracing: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = cli.run().await;
    telemetry.flush();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "ticket-gateway failed");
            std::process::ExitCode::FAILURE
        }
    }
}
