//! The load generator and report writer behind `bench/run.sh`.
//!
//! `tickets-bench load` drives one scenario (REST or gRPC; get, list or start-service) at a fixed
//! concurrency against running servers and appends one JSON line of results (throughput, latency
//! percentiles, errors, the servers' peak RSS during the run) to a file. `tickets-bench report`
//! turns those lines, plus the pgbench baseline, into the markdown tables of `bench/README.md`.
//! The seeding, the servers and pgbench are the script's business. `tickets-bench abuse` attacks
//! a running gateway (bench/abuse.sh). `tickets-bench events` measures the live event feed
//! (`bench/run.sh --events`). `tickets-bench reference` is the yardstick: a minimal axum + sqlx
//! server answering the same get from the same database; `tickets-bench hop` the floor of the
//! gateway's hop: a minimal axum server relaying that get to the ticket service over gRPC.

mod abuse;
mod events;
mod fixture;
mod hop;
mod http1;
mod load;
mod procfs;
mod reference;
mod report;

use std::{
    io::{self, Write as _},
    path::PathBuf,
};

use clap::{Parser, Subcommand};

/// Benchmark load generator and report writer for the ticket service and gateway.
#[derive(Debug, Parser)]
#[command(name = "tickets-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario at fixed concurrency and append its results (one JSON line) to `--out`.
    Load(Box<load::LoadArgs>),
    /// Write the markdown report of a results file.
    Report(report::ReportArgs),
    /// Attack a running gateway (slow heads or forged tokens) beside a legitimate client,
    /// append one JSON line per phase to `--out`, and print the markdown summary.
    Abuse(abuse::AbuseArgs),
    /// Partner event streams while tickets are created, then many idle streams; append one
    /// JSON line to `--out` and print the markdown rows.
    Events(events::EventsArgs),
    /// Serve `GET /v2/tickets/pending-tickets/{id}` straight from PostgreSQL with a minimal
    /// axum + sqlx handler, until killed: the reference row.
    Reference(reference::ReferenceArgs),
    /// Serve `GET /v2/tickets/pending-tickets/{id}` by relaying it to the ticket service with a
    /// minimal axum + tonic handler on one runtime thread, until killed: the hop row.
    Hop(hop::HopArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Load(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.threads)
                .enable_all()
                .build()?;
            let result = runtime.block_on(load::run(&args))?;
            let line = serde_json::to_string(&result)?;
            append_line(&args.out, &line)?;
            writeln!(io::stderr().lock(), "{}", result.summary())?;
            Ok(())
        }
        Command::Abuse(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let phases = runtime.block_on(abuse::run(&args))?;
            for phase in &phases {
                append_line(&args.out, &serde_json::to_string(phase)?)?;
            }
            io::stdout().lock().write_all(abuse::report(&phases).as_bytes())?;
            Ok(())
        }
        Command::Events(args) => {
            let mut builder = if args.threads <= 1 {
                tokio::runtime::Builder::new_current_thread()
            } else {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(args.threads);
                builder
            };
            let runtime = builder.enable_all().build()?;
            let result = runtime.block_on(events::run(&args))?;
            append_line(&args.out, &serde_json::to_string(&result)?)?;
            io::stdout().lock().write_all(result.report().as_bytes())?;
            Ok(())
        }
        Command::Reference(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(reference::run(&args)),
        Command::Hop(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(hop::run(&args)),
        Command::Report(args) => {
            let markdown = report::render(&args)?;
            io::stdout().lock().write_all(markdown.as_bytes())?;
            Ok(())
        }
    }
}

fn append_line(path: &PathBuf, line: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")?;
    Ok(())
}
