//! `/v2/tickets/pending-tickets`: list, get, and the start-service transition.

use axum::{
    Json,
    body::Body,
    extract::{Path, RawQuery, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tickets_contract::{cursor::CursorList, v2, violations::Violations};

use super::collection::{self, Answer, Client, Collection};
use crate::{
    auth::Caller,
    body::{self, Transition, TransitionRequest},
    model::{PendingTicket, PendingTicketList},
    params::{ListQuery, path_id},
    problem::Problem,
    state::AppState,
};

/// The pending tickets.
pub(crate) struct Pending;

impl Collection for Pending {
    const PATH: &'static str = "/v2/tickets/pending-tickets";
    const LIST: CursorList = CursorList::Pending;
    const ID: &'static str = "pending-ticket-id";
    type Wire = v2::PendingTicket;
    type Item = PendingTicket;
    type Page = v2::ListPendingTicketsResponse;
    type List = PendingTicketList;

    async fn list(
        mut client: Client,
        request: tonic::Request<v2::ListTicketsRequest>,
    ) -> Answer<Self::Page> {
        client.list_pending_tickets(request).await
    }

    async fn get(
        mut client: Client,
        request: tonic::Request<v2::GetTicketRequest>,
    ) -> Answer<Self::Wire> {
        client.get_pending_ticket(request).await
    }

    fn contents(page: Self::Page) -> (Vec<Self::Wire>, i64, Option<String>) {
        (page.result, page.total, page.next)
    }
}

/// Retrieve pending tickets.
///
/// Oldest first (`created_at`, then `ticket_number`), so pages are stable.
#[utoipa::path(
    get,
    path = "/v2/tickets/pending-tickets",
    tag = super::PENDING_TAG,
    operation_id = "listPendingTickets",
    params(ListQuery),
    responses(
        (status = 200, description = "Successful response.", body = PendingTicketList),
        (status = 400, description = "A query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    collection::list::<Pending>(&state, &caller, query.as_deref()).await
}

/// Retrieve a pending ticket.
#[utoipa::path(
    get,
    path = "/v2/tickets/pending-tickets/{pending-ticket-id}",
    tag = super::PENDING_TAG,
    operation_id = "getPendingTicket",
    params(("pending-ticket-id" = uuid::Uuid, Path, description = "The identifier of the pending ticket.")),
    responses(
        (status = 200, description = "Successful response.", body = PendingTicket),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pending ticket.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<PendingTicket>, Problem> {
    collection::get::<Pending>(&state, &caller, path).await
}

/// Transition a pending ticket.
///
/// `start-service` assigns the operator and moves the ticket to in progress, answering 303 with
/// the in-progress ticket's location. Repeating a successful request is safe: it answers 303
/// again and changes nothing.
#[utoipa::path(
    patch,
    path = "/v2/tickets/pending-tickets/{pending-ticket-id}",
    tag = super::PENDING_TAG,
    operation_id = "transitionPendingTicket",
    params(("pending-ticket-id" = uuid::Uuid, Path, description = "The identifier of the pending ticket.")),
    request_body(content = TransitionRequest, content_type = "application/json", description = "The changes you wish to make."),
    responses(
        (status = 303, description = "Transitioned.", headers(("Location" = String, description = "Path to the resource the ticket has been transitioned to."))),
        (status = 400, description = "The request violates one or more constraints.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pending ticket.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Service was already started on the ticket by another operator.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than 64 KiB.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, Problem> {
    body::require_json(&headers)?;
    let bytes = body::read_limited(request_body).await?;
    let mut violations = Violations::new();
    let id = path_id(&mut violations, Pending::ID, path);
    let transition = body::transition(&bytes, &mut violations);
    let (Some(id), Some(Transition::StartService { operator_id })) = (id, transition) else {
        return Err(violations.into());
    };
    let request = v2::StartServiceRequest {
        pending_ticket_id: id.hyphenated().to_string(),
        operator_id: operator_id.hyphenated().to_string(),
    };
    let ticket =
        super::call(&state, &caller, Pending::ID, request, |mut c: Client, r| async move {
            c.start_service(r).await
        })
        .await?;
    let location = format!("/v2/tickets/in-progress-tickets/{}", ticket.id);
    let location = HeaderValue::try_from(location).map_err(|_| {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "An internal error occurred.")
    })?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
}
