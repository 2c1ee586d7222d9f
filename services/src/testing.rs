//! Test support, for this crate's tests and the gateway's end-to-end tests: a throwaway
//! database on either backend, and a real ticket service on an ephemeral port.
//!
//! Setup failures panic: these helpers only run inside tests, where a panic is the failure
//! report.

use std::net::SocketAddr;

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::{
    grpc::{self, ServerSettings},
    metrics::Metrics,
    store::{self, DatabaseConnection, PoolSettings},
};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the PostgreSQL half uses (trust auth on this machine and in CI).
fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test and is removed afterwards, even when the test fails.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDb {
    /// Creates the database, or `None` when PostgreSQL is not running and we are not in CI
    /// (in CI, where `CI=true`, a missing server fails the test instead of skipping it).
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("tickets.db").display());
                Some(Self { url, _sqlite_dir: Some(dir), postgres_name: None })
            }
            Backend::Postgres => {
                let admin = match sqlx::PgPool::connect(&postgres_admin_url()).await {
                    Ok(pool) => pool,
                    Err(error) => {
                        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
                        assert!(!in_ci, "CI=true but PostgreSQL is unreachable: {error}");
                        eprintln!("skipping the PostgreSQL half: {error}");
                        return None;
                    }
                };
                let name = format!("tickets_test_{}", Uuid::new_v4().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("create test database");
                admin.close().await;
                let base = postgres_admin_url();
                let url = format!("{}/{name}", base.rsplit_once('/').expect("url with a path").0);
                Some(Self { url, _sqlite_dir: None, postgres_name: Some(name) })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        // Drop runs outside async; use a private runtime on a private thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(admin) = sqlx::PgPool::connect(&postgres_admin_url()).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
                        admin.close().await;
                    }
                });
            }
        })
        .join();
    }
}

/// A ticket service serving on `127.0.0.1:<ephemeral>`, stopped when dropped.
#[derive(Debug)]
pub struct TestService {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A connected channel to it.
    pub channel: Channel,
    /// Its pool, for seeding or inspecting the database directly.
    pub db: DatabaseConnection,
    /// Where its Prometheus `/metrics` endpoint listens.
    pub metrics_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestService {
    /// Migrates `url` and serves it.
    pub async fn start(url: &str, settings: ServerSettings) -> Self {
        let db = store::connect(url, PoolSettings::default()).expect("pool");
        store::migrate(&db).await.expect("migrations");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, db, settings).await
    }

    /// Serves `db` on `listener` (bind first, so callers can reuse a known address).
    pub async fn serve(
        listener: TcpListener,
        db: DatabaseConnection,
        settings: ServerSettings,
    ) -> Self {
        let db_for_server = db.clone();
        let addr = listener.local_addr().expect("local addr");
        let metrics = Metrics::new(db.clone());
        let metrics_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind metrics");
        let metrics_addr = metrics_listener.local_addr().expect("metrics addr");
        let (shutdown, stop) = oneshot::channel::<()>();
        let (metrics_stop, metrics_stopped) = oneshot::channel::<()>();
        tokio::spawn(crate::metrics::serve(metrics_listener, metrics.clone(), async move {
            let _ = metrics_stopped.await;
        }));
        let server = tokio::spawn(async move {
            let served = grpc::serve(listener, db_for_server, metrics, settings, async move {
                let _ = stop.await;
            })
            .await;
            let _ = metrics_stop.send(());
            served
        });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        Self { addr, channel, db, metrics_addr, shutdown: Some(shutdown), server: Some(server) }
    }

    /// Signals shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Starts shutdown and waits for the server to return.
    ///
    /// # Errors
    /// When the server failed.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// Reads a child process's JSON log lines until the one containing `marker` that carries an
/// `addr` field (the "listening" line of either binary), and returns that address with every
/// line read so far. Panics when the process exits first or says nothing for 30 s.
pub async fn announced_address<R>(
    lines: &mut tokio::io::Lines<R>,
    marker: &str,
) -> (String, Vec<String>)
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut read = Vec::new();
    loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the process announces its address in time")
            .expect("readable logs")
            .expect("the process is still running");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let addr = entry["addr"].as_str().filter(|_| line.contains(marker)).map(str::to_owned);
        read.push(line);
        if let Some(addr) = addr {
            return (addr, read);
        }
    }
}

/// Wraps `message` with the `x-provider-id` metadata of `provider`.
pub fn as_provider<T>(provider: Uuid, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        tickets_contract::PROVIDER_ID_METADATA,
        provider.hyphenated().to_string().parse().expect("ascii metadata"),
    );
    request
}
