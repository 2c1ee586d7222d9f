//! Test harness: one real server per test, on its own database.

use std::time::Duration;

use ticket_service::{
    grpc::{self, ServerSettings},
    store::{self, PoolSettings},
};
use tickets_contract::v2::{
    self, employee_service_client::EmployeeServiceClient,
    ticket_service_client::TicketServiceClient,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Code, Request, Status, transport::Channel};
use uuid::Uuid;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
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
pub(crate) struct TestDb {
    pub(crate) url: String,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDb {
    /// Creates the database, or `None` when PostgreSQL is not running and we are not in CI
    /// (in CI, where `CI=true`, a missing server fails the test instead of skipping it).
    pub(crate) async fn create(backend: Backend) -> Option<Self> {
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

/// A running ticket service with its own database.
#[derive(Debug)]
pub(crate) struct TestApp {
    pub(crate) channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _database: TestDb,
}

impl TestApp {
    /// Starts a server on `backend`, or `None` when that backend is unavailable here.
    pub(crate) async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, ServerSettings::default()).await
    }

    /// Starts a server with custom settings.
    pub(crate) async fn start_with(backend: Backend, settings: ServerSettings) -> Option<Self> {
        let database = TestDb::create(backend).await?;
        let db = store::connect(&database.url, PoolSettings::default()).expect("pool");
        store::migrate(&db).await.expect("migrations");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(grpc::serve(listener, db.clone(), settings, async move {
            let _ = stop.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        Some(Self { channel, shutdown: Some(shutdown), server: Some(server), _database: database })
    }

    pub(crate) fn tickets(&self) -> TicketServiceClient<Channel> {
        TicketServiceClient::new(self.channel.clone())
    }

    pub(crate) fn employees(&self) -> EmployeeServiceClient<Channel> {
        EmployeeServiceClient::new(self.channel.clone())
    }

    /// Starts shutdown and waits for the server to return.
    pub(crate) async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }

    /// Signals shutdown without waiting.
    pub(crate) fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Creates an enabled operator of `provider` and returns its id.
    pub(crate) async fn operator(&self, provider: Uuid) -> Uuid {
        self.employee(provider, true, true).await
    }

    /// Creates an employee of `provider` with the given flags and returns its id.
    pub(crate) async fn employee(&self, provider: Uuid, is_operator: bool, enabled: bool) -> Uuid {
        let id = Uuid::new_v4();
        let mut request = employee_request(id);
        request.is_operator = is_operator;
        request.enabled = enabled;
        self.employees()
            .upsert_employee(as_provider(provider, request))
            .await
            .expect("upsert employee");
        id
    }

    /// Opens a pending ticket for `provider`.
    pub(crate) async fn ticket(&self, provider: Uuid) -> v2::PendingTicket {
        self.tickets()
            .create_pending_ticket(as_provider(provider, new_ticket()))
            .await
            .expect("create ticket")
            .into_inner()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// Wraps `message` with the `x-provider-id` metadata of `provider`.
pub(crate) fn as_provider<T>(provider: Uuid, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        tickets_contract::PROVIDER_ID_METADATA,
        provider.to_string().parse().expect("ascii metadata"),
    );
    request
}

/// A valid create request.
pub(crate) fn new_ticket() -> v2::CreatePendingTicketRequest {
    v2::CreatePendingTicketRequest {
        customer_id: Uuid::new_v4().to_string(),
        vehicle_model_id: 42,
        vin: "JH4KA7630PC007649".into(),
        connection_id: Some(Uuid::new_v4().to_string()),
    }
}

/// A valid upsert for an enabled operator with a unique username.
pub(crate) fn employee_request(id: Uuid) -> v2::UpsertEmployeeRequest {
    v2::UpsertEmployeeRequest {
        id: id.to_string(),
        given_name: "Ada".into(),
        family_name: "Lovelace".into(),
        username: format!("{}@example.com", id.simple()),
        role: v2::EmployeeRole::Operator.into(),
        is_operator: true,
        enabled: true,
    }
}

/// The field names of the `BadRequest` violations of an INVALID_ARGUMENT status.
pub(crate) fn violated_fields(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// Polls `check` until it holds, for at most `timeout`.
pub(crate) async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Declares one test per backend: `mod $name { sqlite, postgres }`, each given a fresh server.
macro_rules! db_test {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($app: $crate::helpers::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                if let Some(app) = $crate::helpers::TestApp::start($crate::helpers::Backend::Sqlite).await {
                    run(app).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::start($crate::helpers::Backend::Postgres).await {
                    run(app).await;
                }
            }
        }
    };
}
pub(crate) use db_test;
