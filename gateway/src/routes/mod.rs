//! The routes, one module per resource, plus the operational endpoints. Handlers are thin:
//! parse (every violation at once) → one call to the ticket service → convert.

mod collection;
pub(crate) mod docs;
pub(crate) mod events;
pub(crate) mod in_progress;
pub(crate) mod ops;
pub(crate) mod pending;

use crate::{auth::Caller, problem::Problem, state::AppState, upstream::Rpc};

/// The OpenAPI tag of the pending-ticket operations.
pub(crate) const PENDING_TAG: &str = "Pending tickets";
/// The OpenAPI tag of the event feed.
pub(crate) const EVENTS_TAG: &str = "Ticket events";
/// The OpenAPI tag of the in-progress-ticket operations.
pub(crate) const IN_PROGRESS_TAG: &str = "In-progress tickets";

/// One call to the ticket service for `caller`, its failure answered as the problem a partner
/// sees on a route whose path parameter is `path_id`.
async fn call<T: Clone, R>(
    state: &AppState,
    caller: &Caller,
    path_id: &str,
    message: T,
    rpc: impl Rpc<T, R>,
) -> Result<R, Problem> {
    state
        .upstream
        .call(caller, message, rpc)
        .await
        .map_err(|status| Problem::from_status(&status, path_id))
}
