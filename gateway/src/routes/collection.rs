//! What both ticket collections (pending, in progress) do the same way: a page of the list, and
//! one ticket by id. A collection says only how it differs — its path parameter, its types and
//! its two RPCs.

use std::future::Future;

use axum::{
    Json,
    extract::{Path, rejection::PathRejection},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tickets_contract::{
    cursor::CursorList,
    v2::{self, ticket_service_client::TicketServiceClient},
    violations::Violations,
};
use tonic::{Request, Status, transport::Channel};

use crate::{
    auth::Caller,
    model::{AppliedQuery, Incomplete},
    params::{ListParams, ListQuery, path_id},
    problem::Problem,
    state::AppState,
};

/// The client a collection's RPCs are called on.
pub(crate) type Client = TicketServiceClient<Channel>;

/// What an RPC of a collection answers.
pub(crate) type Answer<T> = Result<tonic::Response<T>, Status>;

/// One ticket collection, as the REST API serves it.
pub(crate) trait Collection {
    /// The path parameter naming one ticket, which is also the field its violations name.
    const ID: &'static str;
    /// The path of the list.
    const PATH: &'static str;
    /// The list its cursors belong to.
    const LIST: CursorList;
    /// One ticket, as the service sends it.
    type Wire: Send;
    /// One ticket, as partners see it.
    type Item: Serialize + TryFrom<Self::Wire, Error = Incomplete>;
    /// A page of the list, as the service sends it.
    type Page: Send;
    /// A page of the list, as partners see it.
    type List: Serialize + From<(AppliedQuery, Vec<Self::Item>, i64)>;

    /// The list RPC.
    fn list(
        client: Client,
        request: Request<v2::ListTicketsRequest>,
    ) -> impl Future<Output = Answer<Self::Page>> + Send;

    /// The get RPC.
    fn get(
        client: Client,
        request: Request<v2::GetTicketRequest>,
    ) -> impl Future<Output = Answer<Self::Wire>> + Send;

    /// The tickets, the total and the next page's cursor of a page.
    fn contents(page: Self::Page) -> (Vec<Self::Wire>, i64, Option<String>);
}

/// A page of collection `C` for `caller`, per the raw query string; with a `Link` to the next
/// page when the service says there may be one.
pub(crate) async fn list<C: Collection>(
    state: &AppState,
    caller: &Caller,
    query: Option<&str>,
) -> Result<Response, Problem> {
    let params = ListParams::parse(ListQuery::decode(query), C::LIST)?;
    // A list has no path id: the one field of a list the service could refuse that the gateway
    // did not check is the cursor, so that is the name its violations get.
    let page = super::call(state, caller, "after", params.into(), C::list).await?;
    let (tickets, total, next) = C::contents(page);
    let result = tickets.into_iter().map(C::Item::try_from).collect::<Result<_, _>>()?;
    let link = next.map(|next| next_link(C::PATH, &params, &next)).transpose()?;
    let body = Json(C::List::from((params.into(), result, total)));
    Ok(match link {
        Some(link) => ([(header::LINK, link)], body).into_response(),
        None => body.into_response(),
    })
}

/// `Link: <path?query>; rel="next"` (RFC 8288): this request's query with the cursor `next` in
/// place of any offset or cursor.
fn next_link(path: &str, params: &ListParams, next: &str) -> Result<HeaderValue, Problem> {
    let mut link = format!("<{path}?limit={}&after={next}", params.limit.get());
    if let Some(number) = params.ticket_number {
        link.push_str(&format!("&ticket_number={number}"));
    }
    link.push_str(">; rel=\"next\"");
    // A cursor from the service is base64url; anything else is a broken answer, not a link.
    let valid = next.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid
        .then(|| HeaderValue::try_from(link).ok())
        .flatten()
        .ok_or_else(|| Incomplete::new("a next cursor").into())
}

/// One ticket of collection `C` for `caller`, by the id in the path.
pub(crate) async fn get<C: Collection>(
    state: &AppState,
    caller: &Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<C::Item>, Problem> {
    let mut violations = Violations::new();
    let id = path_id(&mut violations, C::ID, path).ok_or(violations)?;
    let request = v2::GetTicketRequest { id: id.hyphenated().to_string() };
    let ticket = super::call(state, caller, C::ID, request, C::get).await?;
    Ok(Json(ticket.try_into()?))
}
