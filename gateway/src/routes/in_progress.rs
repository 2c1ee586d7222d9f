//! `/v2/tickets/in-progress-tickets`: list and get, so the start-service 303 resolves.

use axum::{
    Json,
    extract::{Path, RawQuery, State, rejection::PathRejection},
};
use tickets_contract::{v2, violations::Violations};

use crate::{
    auth::Caller,
    model::{InProgressTicket, InProgressTicketList},
    params::{ListParams, ListQuery, path_id},
    problem::Problem,
    state::AppState,
};

/// The path parameter's name, which is also the field of its violations.
const ID: &str = "in-progress-ticket-id";

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
        (status = "default", description = "An error occurred - see status code and problem response for more information.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("OAuth2" = [], "ApiKey" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<InProgressTicketList>, Problem> {
    let params = ListParams::try_from(ListQuery::decode(query.as_deref()))?;
    let request = v2::ListInProgressTicketsRequest {
        limit: Some(params.limit.as_i32()),
        offset: Some(params.offset.as_i64()),
        ticket_number: params.ticket_number,
    };
    let page = super::call(&state, &caller, ID, request, |mut c, r| async move {
        c.list_in_progress_tickets(r).await
    })
    .await?;
    let result =
        page.result.into_iter().map(InProgressTicket::try_from).collect::<Result<_, _>>()?;
    Ok(Json(InProgressTicketList { query: params.into(), result, total: page.total }))
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
        (status = "default", description = "An error occurred - see status code and problem response for more information.", body = Problem, content_type = "application/problem+json"),
    ),
    security(("OAuth2" = [], "ApiKey" = []))
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<InProgressTicket>, Problem> {
    let mut violations = Violations::new();
    let id = path_id(&mut violations, ID, path).ok_or(violations)?;
    let request = v2::GetInProgressTicketRequest { id: id.hyphenated().to_string() };
    let ticket = super::call(&state, &caller, ID, request, |mut c, r| async move {
        c.get_in_progress_ticket(r).await
    })
    .await?;
    Ok(Json(ticket.try_into().map_err(Problem::from)?))
}
