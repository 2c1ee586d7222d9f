//! Real `ticket-service` processes, for the tests that kill, restart or race them.
//!
//! Cargo hands a test binary the path of its own package's binaries only (`CARGO_BIN_EXE_*`),
//! and `ticket-service` belongs to another package. This test binary links the service's library
//! though, so it can *be* the service: [`harness_ticket_service_process`] is a hook, not a test.
//! In a normal run it returns at once (and shows up as one passing "test"); [`ServiceProcess`]
//! re-executes this binary with only that hook selected and `TICKETS_TEST_SERVICE_PROCESS=1`, and
//! the hook then runs the service's real command line (`ticket-service` serve, configured by the
//! usual `TICKETS_*` variables) until SIGTERM, exiting like the binary would.

use std::net::SocketAddr;

use clap::Parser as _;
use tickets_runtime::telemetry::{self, LogFormat, TelemetryConfig};
use tickets_testing::{ChildProcess, process};

/// Set to `1` in the environment of a re-executed test binary that is to be a ticket service.
const PROCESS_ENV: &str = "TICKETS_TEST_SERVICE_PROCESS";

/// Harness hook, not a test: see the module documentation. Does nothing unless
/// `TICKETS_TEST_SERVICE_PROCESS=1`.
#[test]
fn harness_ticket_service_process() {
    if std::env::var(PROCESS_ENV).as_deref() != Ok("1") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let result = runtime.block_on(async {
        let config = TelemetryConfig::from_env("ticket-service", LogFormat::Json);
        let _telemetry = telemetry::init(&config).unwrap();
        ticket_service::cli::Cli::parse_from(["ticket-service"]).run().await
    });
    if let Err(error) = result {
        panic!("ticket-service failed: {error:#}");
    }
}

/// The libtest name of the hook: its module path without the crate name.
fn hook_name() -> String {
    let module = module_path!().split_once("::").map_or("", |(_, path)| path);
    format!("{module}::harness_ticket_service_process")
}

/// A ticket service running as a child process; SIGKILLed when dropped.
#[derive(Debug)]
pub(crate) struct ServiceProcess {
    /// Where its gRPC server listens.
    pub(crate) addr: SocketAddr,
    /// Where its Prometheus `/metrics` endpoint listens.
    pub(crate) metrics_addr: SocketAddr,
    process: ChildProcess,
}

impl ServiceProcess {
    /// Starts a service on `database_url`, listening on `addr` (a fixed address to restart on
    /// the same one, else any free port), with `env` added, and waits until it listens (its
    /// migrations are applied by then).
    pub(crate) async fn spawn(
        database_url: &str,
        addr: Option<SocketAddr>,
        env: &[(&str, &str)],
    ) -> Self {
        let grpc_addr = addr.map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string());
        let program = std::env::current_exe().unwrap();
        let mut command = process::ticket_service_command(program, database_url, &grpc_addr);
        command
            .args(["--exact", &hook_name(), "--nocapture", "--test-threads=1"])
            .env(PROCESS_ENV, "1")
            .envs(env.iter().copied());
        // The gRPC line, then the metrics line: both listeners are bound (and the migrations
        // applied) once they are written.
        let process = ChildProcess::spawn(command, &process::TICKET_SERVICE_LISTENING).await;
        Self { addr: process.addr(), metrics_addr: process.addrs()[1], process }
    }

    /// Every log line so far (JSON, and the test harness's own lines).
    pub(crate) fn logs(&self) -> Vec<String> {
        self.process.logs()
    }

    /// SIGKILL: a crash, no draining; waits until the process is gone.
    pub(crate) async fn kill(&mut self) {
        self.process.kill().await;
    }

    /// SIGTERM, then waits for the exit and returns whether it was 0.
    pub(crate) async fn terminate(&mut self) -> bool {
        self.process.terminate().await.success()
    }
}
