//! A throwaway Redis server per test: `redis-server` from the system's packages, on a free
//! loopback port, keeping nothing on disk, killed with the test. Skipped with a message when
//! `redis-server` is not installed, and failing instead under `CI=true`.

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    process::{Child, Command},
};

use crate::wait::eventually;

/// A running `redis-server` of one test.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port; `None` (with a message) when `redis-server` is not
    /// installed and not in CI.
    pub async fn start() -> Option<Self> {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
            listener.local_addr().expect("address").port()
        };
        let mut server = Self { port, child: None };
        match server.spawn() {
            Ok(()) => {}
            Err(error) => {
                let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
                assert!(!in_ci, "CI=true but redis-server cannot be started: {error}");
                eprintln!("skipping the Redis half: redis-server cannot be started: {error}");
                return None;
            }
        }
        server.wait_up().await;
        Some(server)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_up(&self) {
        let port = self.port;
        let up = eventually(Duration::from_secs(10), || async move { ping(port).await }).await;
        assert!(up, "redis-server on port {port} answers PING");
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): it stops answering at once.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill redis-server");
        }
    }

    /// Starts the server again on the same port (empty: it keeps nothing).
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().expect("restart redis-server");
        self.wait_up().await;
    }
}

/// Whether a Redis server on `port` answers `PING`.
async fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else { return false };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).await.is_ok() && &answer == b"+PONG\r\n"
}
