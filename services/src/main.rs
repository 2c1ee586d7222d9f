//! `ticket-service`: serve (the default), `migrate`, or `seed-demo`.

use clap::Parser as _;
use ticket_service::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (log_format, worker_threads) = (cli.log_format, cli.worker_threads);
    tickets_runtime::main("ticket-service", log_format, worker_threads, cli.run())
}
