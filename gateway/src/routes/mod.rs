//! The routes, one module per resource, plus the operational endpoints. Handlers are thin:
//! parse (every violation at once) → one call to the ticket service → convert.

pub(crate) mod in_progress;
pub(crate) mod ops;
pub(crate) mod pending;

use std::future::Future;

use tickets_contract::v2::ticket_service_client::TicketServiceClient;
use tonic::{Request, transport::Channel};

use crate::{auth::Caller, problem::Problem, state::AppState};

/// The OpenAPI tag of the pending-ticket operations.
pub(crate) const PENDING_TAG: &str = "Pending tickets";
/// The OpenAPI tag of the in-progress-ticket operations.
pub(crate) const IN_PROGRESS_TAG: &str = "In-progress tickets";

/// One call to the ticket service for `caller`, its failure answered as the problem a partner
/// sees on a route whose path parameter is `path_id`.
async fn call<T, R, F, Fut>(
    state: &AppState,
    caller: &Caller,
    path_id: &str,
    message: T,
    rpc: F,
) -> Result<R, Problem>
where
    T: Clone,
    F: Fn(TicketServiceClient<Channel>, Request<T>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    state
        .upstream
        .call(caller, message, rpc)
        .await
        .map_err(|status| Problem::from_status(&status, path_id))
}
