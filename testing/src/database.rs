//! A database that exists for one test, on either backend, removed afterwards.

use uuid::Uuid;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `TEST_POSTGRES_URL`.
    Postgres,
}

/// Declares `mod $name { sqlite, postgres }`: one test per backend, each on a fresh database.
///
/// - `test_each_backend!(name)` calls the `async fn name(backend: Backend)` in scope, which skips
///   (returns) when [`TestDb::create`] gives `None`.
/// - `test_each_backend!(name, Fixture, |fixture| { ... })` defines that function: the body runs
///   against `Fixture::start(backend)` (an `async fn start(Backend) -> Option<Self>`), and is
///   skipped where the backend is unavailable.
#[macro_export]
macro_rules! test_each_backend {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await;
            }
        }
    };
    ($name:ident, $fixture:ty, |$arg:ident| $body:block) => {
        async fn $name(backend: $crate::Backend) {
            if let Some($arg) = <$fixture>::start(backend).await $body
        }
        $crate::test_each_backend!($name);
    };
}

/// The PostgreSQL server the PostgreSQL half uses (trust auth on this machine and in CI).
fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test and is removed afterwards, even when the test fails.
#[derive(Debug)]
pub struct TestDb {
    /// Its URL, for `TICKETS_DATABASE_URL` or `store::connect`.
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
