//! What both binaries do the same way at run time, and nothing about tickets: the process
//! bootstrap ([`main`]), logs and traces ([`telemetry`], [`log_writer`]), trace-context
//! propagation ([`propagation`]), the Prometheus endpoint ([`metrics`]) and the shutdown signal.

pub mod log_writer;
pub mod metrics;
pub mod propagation;
pub mod telemetry;
pub mod tls;

use std::{future::Future, num::NonZeroUsize, process::ExitCode};

/// jemalloc rather than glibc's allocator, for every binary built on this runtime: 2–11% less
/// CPU per request in the benchmark for 3–4 MiB more RSS (bench/README.md, change 16).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The `main` of both binaries: starts the async runtime with `worker_threads` threads (tokio's
/// default, one per CPU the process may use, when `None`), installs logs and traces, runs
/// `run`, flushes, and turns the outcome into the exit code (an error is logged with its whole
/// cause chain).
///
/// One thread means tokio's current-thread scheduler, not a multi-thread one with one worker:
/// it runs woken tasks in the order they were woken, where the multi-thread scheduler runs the
/// last one woken first (its "LIFO slot"). That order matters to the event feed: an event wakes
/// every stream of its provider, and each stream wakes its HTTP/2 connection's task; in wake
/// order the connection runs once, after all its streams, and sends their frames in one write
/// instead of one write per stream (bench/README.md, "Events").
pub fn main<E: std::fmt::Display>(
    name: &str,
    log_format: telemetry::LogFormat,
    worker_threads: Option<NonZeroUsize>,
    run: impl Future<Output = Result<(), E>>,
) -> ExitCode {
    let mut builder = match worker_threads {
        Some(threads) if threads.get() == 1 => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads.get());
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(run_logged(name, log_format, run)),
        Err(error) => {
            eprintln!("{name}: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run_logged<E: std::fmt::Display>(
    name: &str,
    log_format: telemetry::LogFormat,
    run: impl Future<Output = Result<(), E>>,
) -> ExitCode {
    let config = telemetry::TelemetryConfig::from_env(name, log_format);
    let telemetry = match telemetry::init(&config) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("{name}: cannot set up tracing: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = run.await;
    telemetry.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "{name} failed");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
