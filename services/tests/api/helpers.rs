//! Test harness: one real server per test, on its own database.

use std::time::Duration;

use ticket_service::grpc::ServerSettings;
use tickets_contract::v2::{
    self, employee_service_client::EmployeeServiceClient,
    ticket_service_client::TicketServiceClient,
};
use tickets_testing::TestService;
pub(crate) use tickets_testing::{Backend, TestDb, as_provider};
use tonic::{Code, Status, transport::Channel};
use uuid::Uuid;

/// A running ticket service with its own database (the server stops before the database is
/// dropped: fields drop in declaration order).
#[derive(Debug)]
pub(crate) struct TestApp {
    pub(crate) channel: Channel,
    service: TestService,
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
        let service = TestService::start(&database.url, settings).await;
        Some(Self { channel: service.channel.clone(), service, _database: database })
    }

    pub(crate) fn tickets(&self) -> TicketServiceClient<Channel> {
        TicketServiceClient::new(self.channel.clone())
    }

    pub(crate) fn employees(&self) -> EmployeeServiceClient<Channel> {
        EmployeeServiceClient::new(self.channel.clone())
    }

    /// Starts shutdown and waits for the server to return.
    pub(crate) async fn stop(&mut self) -> anyhow::Result<()> {
        self.service.stop().await
    }

    /// Signals shutdown without waiting.
    pub(crate) fn begin_shutdown(&mut self) {
        self.service.begin_shutdown();
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
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    tickets_contract::violations::Violations::from_status(status)
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
