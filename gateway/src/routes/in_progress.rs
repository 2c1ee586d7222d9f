//! `/v2/tickets/in-progress-tickets`: list and get, so the start-service 303 resolves.

use axum::{
    Json,
    extract::{Path, RawQuery, State, rejection::PathRejection},
    response::Response,
};
use tickets_contract::{cursor::CursorList, v2};

use super::collection::{self, Answer, Client, Collection};
use crate::{
    auth::Caller,
    model::{InProgressTicket, InProgressTicketList},
    params::ListQuery,
    problem::Problem,
    state::AppState,
};

/// The in-progress tickets.
pub(crate) struct InProgress;

impl Collection for InProgress {
    const PATH: &'static str = "/v2/tickets/in-progress-tickets";
    const LIST: CursorList = CursorList::InProgress;
    const ID: &'static str = "in-progress-ticket-id";
    type Wire = v2::InProgressTicket;
    type Item = InProgressTicket;
    type Page = v2::ListInProgressTicketsResponse;
    type List = InProgressTicketList;

    async fn list(
        mut client: Client,
        request: tonic::Request<v2::ListTicketsRequest>,
    ) -> Answer<Self::Page> {
        client.list_in_progress_tickets(request).await
    }

    async fn get(
        mut client: Client,
        request: tonic::Request<v2::GetTicketRequest>,
    ) -> Answer<Self::Wire> {
        client.get_in_progress_ticket(request).await
    }

    fn contents(page: Self::Page) -> (Vec<Self::Wire>, i64, Option<String>) {
        (page.result, page.total, page.next)
    }
}

/// Retrieve in-progress tickets.
///
/// Same paging contract as the pending list; oldest first.
#[utoipa::path(
    get,
    path = "/v2/tickets/in-progress-tickets",
    tag = super::IN_PROGRESS_TAG,
    operation_id = "listInProgressTickets",
    params(ListQuery),
    responses(
        (status = 200, description = "Successful response.", body = InProgressTicketList),
        (status = 400, description = "A query parameter is invalid.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    collection::list::<InProgress>(&state, &caller, query.as_deref()).await
}

/// Retrieve an in-progress ticket.
#[utoipa::path(
    get,
    path = "/v2/tickets/in-progress-tickets/{in-progress-ticket-id}",
    tag = super::IN_PROGRESS_TAG,
    operation_id = "getInProgressTicket",
    params(("in-progress-ticket-id" = uuid::Uuid, Path, description = "The identifier of the in-progress ticket.")),
    responses(
        (status = 200, description = "Successful response.", body = InProgressTicket),
        (status = 400, description = "The id is not a UUID.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such in-progress ticket.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<InProgressTicket>, Problem> {
    collection::get::<InProgress>(&state, &caller, path).await
}
