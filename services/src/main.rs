//! `ticket-service`: serve (the default), `migrate`, or `seed-demo`.

use clap::Parser as _;
use ticket_service::cli::Cli;

/// jemalloc rather than glibc's allocator: 2–11% less CPU per request in the benchmark for
/// 3–4 MiB more RSS (bench/README.md, change 16).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (log_format, worker_threads) = (cli.log_format, cli.worker_threads);
    tickets_runtime::main("ticket-service", log_format, worker_threads, cli.run())
}
