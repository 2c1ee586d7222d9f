//! `ticket-gateway`: the REST gateway.

use clap::Parser as _;
use ticket_gateway::cli::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let log_format = cli.log_format;
    tickets_contract::runtime::main("ticket-gateway", log_format, cli.run()).await
}
