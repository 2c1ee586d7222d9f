//! The `/v2` routes, one module per resource, plus the operational endpoints.

pub(crate) mod in_progress;
pub(crate) mod ops;
pub(crate) mod pending;

use utoipa::IntoParams;

/// The query parameters of both lists (documentation; parsing is `params::list_params`).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "describes the list parameters in the OpenAPI document")]
pub(crate) struct ListQueryDoc {
    /// Limits the amount of resources in result.
    #[param(minimum = 0, maximum = 1000, default = 25, format = Int32)]
    limit: Option<i32>,
    /// Offset of resources in result.
    #[param(minimum = 0, default = 0, format = Int64)]
    offset: Option<i64>,
    /// Filter tickets by ticket number.
    #[param(format = Int64, example = 7_179_072)]
    ticket_number: Option<i64>,
}

/// The OpenAPI tag of the pending-ticket operations.
pub(crate) const PENDING_TAG: &str = "Pending tickets";
/// The OpenAPI tag of the in-progress-ticket operations.
pub(crate) const IN_PROGRESS_TAG: &str = "In-progress tickets";
