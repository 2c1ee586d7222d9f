//! Calling the ticket service as an internal client does, with valid requests to start from.

use std::net::SocketAddr;

use tickets_contract::v2::{
    self, employee_service_client::EmployeeServiceClient,
    ticket_service_client::TicketServiceClient,
};
use tonic::{Status, transport::Channel};
use uuid::Uuid;

/// Wraps `message` as an internal service with every right sends it for `provider`: the
/// token of [`crate::tokens::internal_token`] and the `x-provider-id` metadata.
pub fn as_provider<T>(provider: Uuid, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert(
        tickets_contract::metadata::PROVIDER_ID,
        provider.hyphenated().to_string().parse().expect("ascii metadata"),
    );
    metadata
        .insert(tickets_contract::metadata::AUTHORIZATION, crate::tokens::internal_authorization());
    request
}

/// A channel connected to the gRPC server at `addr`.
pub async fn connect(addr: SocketAddr) -> Channel {
    let endpoint = Channel::from_shared(format!("http://{addr}")).expect("a valid URI");
    endpoint.connect().await.unwrap_or_else(|error| panic!("connect to {addr}: {error}"))
}

/// A valid create request: a new customer, vehicle model 42, a valid VIN, no connection.
pub fn new_ticket() -> v2::CreatePendingTicketRequest {
    v2::CreatePendingTicketRequest {
        customer_id: Uuid::new_v4().to_string(),
        vehicle_model_id: 42,
        vin: "JH4KA7630PC007649".into(),
        connection_id: None,
    }
}

/// A valid upsert of employee `id`: an enabled operator with a username of its own.
pub fn employee_request(id: Uuid) -> v2::UpsertEmployeeRequest {
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

/// Opens a pending ticket ([`new_ticket`]) of `provider`.
///
/// # Errors
/// The status the service answered with.
pub async fn create_ticket(channel: &Channel, provider: Uuid) -> Result<v2::PendingTicket, Status> {
    let request = as_provider(provider, new_ticket());
    let created = TicketServiceClient::new(channel.clone()).create_pending_ticket(request).await;
    created.map(tonic::Response::into_inner)
}

/// Creates an employee of `provider` that is an operator or not, enabled or not; its id.
pub async fn create_employee(
    channel: &Channel,
    provider: Uuid,
    is_operator: bool,
    enabled: bool,
) -> Uuid {
    let id = Uuid::new_v4();
    let request = v2::UpsertEmployeeRequest { is_operator, enabled, ..employee_request(id) };
    EmployeeServiceClient::new(channel.clone())
        .upsert_employee(as_provider(provider, request))
        .await
        .expect("upsert employee");
    id
}
