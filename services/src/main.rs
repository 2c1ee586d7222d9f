//! `ticket-service`: serve (the default), `migrate`, or `seed-demo`.

use clap::Parser as _;
use ticket_service::cli::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let log_format = cli.log_format;
    tickets_contract::runtime::main("ticket-service", log_format, cli.run()).await
}
