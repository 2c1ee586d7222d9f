//! Test harness: one real server per test, on its own database, and each RPC as a one-line call.

use ticket_service::grpc::ServerSettings;
use tickets_contract::v2::{
    self, employee_service_client::EmployeeServiceClient,
    ticket_service_client::TicketServiceClient,
};
pub(crate) use tickets_testing::{Backend, TestDb, as_provider, grpc::employee_request};
use tickets_testing::{TestService, grpc};
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

    /// The database the server uses, for a second replica or direct statements.
    pub(crate) fn database_url(&self) -> &str {
        &self._database.url
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
        grpc::create_employee(&self.channel, provider, is_operator, enabled).await
    }

    /// Opens a pending ticket for `provider` ([`new_ticket`]).
    pub(crate) async fn ticket(&self, provider: Uuid) -> v2::PendingTicket {
        self.create(provider, new_ticket()).await.expect("create ticket")
    }
}

/// Defines `app.$name(provider, request)` for each RPC: the call as `provider`, answering the
/// response message or the status.
macro_rules! calls {
    ($($(#[$doc:meta])* $name:ident: $client:ident.$rpc:ident($request:ty) -> $response:ty;)*) => {
        impl TestApp {$(
            $(#[$doc])*
            pub(crate) async fn $name(
                &self,
                provider: Uuid,
                request: $request,
            ) -> Result<$response, Status> {
                let answer = self.$client().$rpc(as_provider(provider, request)).await;
                answer.map(tonic::Response::into_inner)
            }
        )*}
    };
}

calls! {
    /// CreatePendingTicket.
    create: tickets.create_pending_ticket(v2::CreatePendingTicketRequest) -> v2::PendingTicket;
    /// GetPendingTicket.
    get_pending: tickets.get_pending_ticket(v2::GetTicketRequest) -> v2::PendingTicket;
    /// GetInProgressTicket.
    get_in_progress: tickets.get_in_progress_ticket(v2::GetTicketRequest) -> v2::InProgressTicket;
    /// ListPendingTickets.
    list_pending:
        tickets.list_pending_tickets(v2::ListTicketsRequest) -> v2::ListPendingTicketsResponse;
    /// ListInProgressTickets.
    list_in_progress:
        tickets.list_in_progress_tickets(v2::ListTicketsRequest) -> v2::ListInProgressTicketsResponse;
    /// StartService.
    start_service: tickets.start_service(v2::StartServiceRequest) -> v2::InProgressTicket;
    /// ListTicketEvents.
    events: tickets.list_ticket_events(v2::ListTicketEventsRequest) -> v2::ListTicketEventsResponse;
    /// UpsertEmployee.
    upsert: employees.upsert_employee(v2::UpsertEmployeeRequest) -> v2::Employee;
}

/// A valid create request, with every optional field set.
pub(crate) fn new_ticket() -> v2::CreatePendingTicketRequest {
    v2::CreatePendingTicketRequest {
        connection_id: Some(Uuid::new_v4().to_string()),
        ..grpc::new_ticket()
    }
}

/// A get request for ticket `id`.
pub(crate) fn get(id: &str) -> v2::GetTicketRequest {
    v2::GetTicketRequest { id: id.to_owned() }
}

/// A StartService request: `operator` takes `ticket`.
pub(crate) fn start(ticket: &str, operator: Uuid) -> v2::StartServiceRequest {
    v2::StartServiceRequest {
        pending_ticket_id: ticket.to_owned(),
        operator_id: operator.to_string(),
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

/// Declares one test per backend: `mod $name { sqlite, postgres }`, each given a fresh server.
macro_rules! db_test {
    ($name:ident, |$app:ident| $body:block) => {
        tickets_testing::test_each_backend!($name, $crate::helpers::TestApp, |$app| $body);
    };
}
pub(crate) use db_test;
