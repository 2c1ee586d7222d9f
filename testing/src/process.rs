//! Running the real binaries as child processes: configured as the tests run them, the addresses
//! they announce, every line they write, and their exit.

use std::{
    ffi::OsStr,
    net::SocketAddr,
    path::Path,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt as _, BufReader, Lines},
    process::{Child, Command},
    task::JoinHandle,
};

use crate::wait::eventually;

/// How long a process may take to announce its addresses, or to exit once it was told to.
const PATIENCE: Duration = Duration::from_secs(30);

/// The log lines in which the ticket service announces its listeners: gRPC, then `/metrics`.
pub const TICKET_SERVICE_LISTENING: [&str; 2] = ["(gRPC)", "(HTTP /metrics)"];

/// The log lines in which the gateway announces its listeners: the partner port, then
/// `/metrics`.
pub const GATEWAY_LISTENING: [&str; 2] = ["listening (HTTP)", "(HTTP /metrics)"];

/// `program` configured as a ticket service the way the tests run one: serving `database_url` on
/// `grpc_addr` (`127.0.0.1:0` for any free port), `/metrics` on any free port, verifying
/// callers' tokens with the tests' key ([`crate::tokens`]), JSON logs at `info`. `program` is the binary, or a test binary that re-executes itself as the service.
/// Variables the caller sets afterwards take precedence.
pub fn ticket_service_command(
    program: impl AsRef<OsStr>,
    database_url: &str,
    grpc_addr: &str,
) -> Command {
    configured(
        program,
        [
            ("TICKETS_DATABASE_URL", database_url.as_ref()),
            ("TICKETS_GRPC_ADDR", grpc_addr.as_ref()),
            ("TICKETS_METRICS_ADDR", "127.0.0.1:0".as_ref()),
            ("TICKETS_TOKEN_PUBLIC_KEY_FILE", crate::tokens::key_file().as_os_str()),
        ],
    )
}

/// The gateway binary `program` configured the way the tests run it: on any free port, in front
/// of `upstream` (a `http://` or `dns:///` URL), with the clients of `credentials_file`, signing
/// with the tests' key ([`crate::tokens`]), no rate limit, JSON logs at `info`. Variables the caller sets afterwards take precedence.
pub fn gateway_command(
    program: impl AsRef<OsStr>,
    upstream: &str,
    credentials_file: &Path,
) -> Command {
    configured(
        program,
        [
            ("GATEWAY_HTTP_ADDR", "127.0.0.1:0".as_ref()),
            ("GATEWAY_METRICS_ADDR", "127.0.0.1:0".as_ref()),
            ("GATEWAY_TICKET_SERVICE_URL", upstream.as_ref()),
            ("GATEWAY_CREDENTIALS_FILE", credentials_file.as_os_str()),
            ("GATEWAY_RATE_LIMIT_PER_SECOND", "0".as_ref()),
            ("GATEWAY_SIGNING_KEY_FILE", crate::tokens::key_file().as_os_str()),
        ],
    )
}

/// `program` with `env`, logging JSON lines (the addresses are read from them) at `info`.
fn configured<'a>(
    program: impl AsRef<OsStr>,
    env: impl IntoIterator<Item = (&'a str, &'a OsStr)>,
) -> Command {
    let mut command = Command::new(program);
    command.envs(env).env("LOG_FORMAT", "json").env("RUST_LOG", "info");
    command
}

/// A real binary running as a child process: the addresses it announced, every line it wrote
/// (standard error and standard output), and its exit. Killed when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    addrs: Vec<SocketAddr>,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl ChildProcess {
    /// Starts `command` and waits until its JSON log announced an address (an `addr` field) on a
    /// line containing each of `markers`, e.g. [`TICKET_SERVICE_LISTENING`]. Panics, with what
    /// it logged, when the process exits or stays silent for 30 s first.
    pub async fn spawn(mut command: Command, markers: &[&str]) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().expect("the program starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let mut readers = vec![tokio::spawn(collect(stdout, logs.clone()))];
        let announced = tokio::time::timeout(PATIENCE, announced(&mut stderr, markers, &logs));
        let Ok(Some(addrs)) = announced.await else {
            let _ = child.start_kill();
            let program = command.as_std().get_program().to_owned();
            panic!("{program:?} did not announce {markers:?}:\n{}", lines(&logs).join("\n"));
        };
        // Keep reading, so that a full pipe never blocks the process, and keep every line.
        readers.push(tokio::spawn(collect(stderr, logs.clone())));
        Self { addrs, child, logs, readers }
    }

    /// The address announced on the line of the first marker.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The addresses announced, in the order of the markers.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Every line written so far; after [`exit`](Self::exit), every line written.
    pub fn logs(&self) -> Vec<String> {
        lines(&self.logs)
    }

    /// Waits, for at most `timeout`, until a line containing `text` was written.
    pub async fn wait_for_log(&self, text: &str, timeout: Duration) -> bool {
        eventually(timeout, || {
            let written = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
            let found = written.iter().any(|line| line.contains(text));
            async move { found }
        })
        .await
    }

    /// Whether the process has not exited yet.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("the process can be waited for").is_none()
    }

    /// Sends SIGTERM without waiting.
    pub fn sigterm(&self) {
        let pid = self.child.id().expect("the process has not been waited for").to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.expect("kill runs").success(), "kill -TERM {pid}");
    }

    /// Waits (at most 30 s) for the process to exit and for the last lines it wrote.
    pub async fn exit(&mut self) -> ExitStatus {
        let status = tokio::time::timeout(PATIENCE, self.child.wait()).await;
        let status = status.expect("the process exits in time").expect("its status");
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(PATIENCE, reader).await;
        }
        status
    }

    /// SIGTERM, then [`exit`](Self::exit).
    pub async fn terminate(&mut self) -> ExitStatus {
        self.sigterm();
        self.exit().await
    }

    /// SIGKILL (a crash: no draining), waiting until the process is gone.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL");
    }
}

fn lines(logs: &Mutex<Vec<String>>) -> Vec<String> {
    logs.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Reads lines into `logs` until the addresses of every marker were announced (`None`: the
/// stream ended first).
async fn announced<R>(
    lines: &mut Lines<R>,
    markers: &[&str],
    logs: &Mutex<Vec<String>>,
) -> Option<Vec<SocketAddr>>
where
    R: AsyncBufRead + Unpin,
{
    let mut addrs = vec![None; markers.len()];
    while let Ok(Some(line)) = lines.next_line().await {
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let addr = entry["addr"].as_str().and_then(|addr| addr.parse::<SocketAddr>().ok());
        if let (Some(addr), Some(i)) = (addr, markers.iter().position(|m| line.contains(m))) {
            addrs[i] = Some(addr);
        }
        logs.lock().unwrap_or_else(PoisonError::into_inner).push(line);
        if addrs.iter().all(Option::is_some) {
            return addrs.into_iter().collect();
        }
    }
    None
}

/// Appends every line of `lines` to `logs` until the stream ends.
async fn collect<R>(mut lines: Lines<R>, logs: Arc<Mutex<Vec<String>>>)
where
    R: AsyncBufRead + Unpin,
{
    while let Ok(Some(line)) = lines.next_line().await {
        logs.lock().unwrap_or_else(PoisonError::into_inner).push(line);
    }
}
