//! `ticket-gateway`: the REST gateway.

use clap::Parser as _;
use ticket_gateway::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (log_format, worker_threads) = (cli.log_format, cli.worker_threads);
    tickets_runtime::main("ticket-gateway", log_format, worker_threads, cli.run())
}
