//! What both ticket collections (pending, in progress) do the same way: a page of the list, and
//! one ticket by id. A collection says only how it differs — its path parameter, its types and
//! its two RPCs.

use std::future::Future;

use axum::{
    Json,
    extract::{Path, rejection::PathRejection},
};
use serde::Serialize;
use tickets_contract::{
    v2::{self, ticket_service_client::TicketServiceClient},
    violations::Violations,
};
use tonic::{Request, Response, Status, transport::Channel};

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
pub(crate) type Answer<T> = Result<Response<T>, Status>;

/// One ticket collection, as the REST API serves it.
pub(crate) trait Collection {
    /// The path parameter naming one ticket, which is also the field its violations name.
    const ID: &'static str;
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

    /// The tickets and the total of a page.
    fn contents(page: Self::Page) -> (Vec<Self::Wire>, i64);
}

/// A page of collection `C` for `caller`, per the raw query string.
pub(crate) async fn list<C: Collection>(
    state: &AppState,
    caller: &Caller,
    query: Option<&str>,
) -> Result<Json<C::List>, Problem> {
    let params = ListParams::try_from(ListQuery::decode(query))?;
    let page = super::call(state, caller, C::ID, params.into(), C::list).await?;
    let (tickets, total) = C::contents(page);
    let result = tickets.into_iter().map(C::Item::try_from).collect::<Result<_, _>>()?;
    Ok(Json((params.into(), result, total).into()))
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
