//! RFC 9457 problem details: the only shape an error response of the gateway takes, and the one
//! place that decides how a failure looks to a partner.
//!
//! - [`presentation`] is the gateway's half of the failure table: for each kind of the shared
//!   [`ErrorKind`] table (which says what gRPC code a kind travels as), the HTTP status, problem
//!   type, title and fixed detail it is answered with. [`Problem::from_status`] reads it for every
//!   failed call, so a gRPC code and the HTTP problem it becomes are defined once.
//! - The few statuses only HTTP has (405, 408, 413, 415, 431) are listed in [`type_and_title`].
//! - [`REST_FIELDS`] renames the proto fields that violations from the service name to the REST
//!   names of the request (`operator_id` → `transition.operator_id`).

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Response, StatusCode, header},
    response::IntoResponse,
};
use serde::Serialize;
use tickets_contract::{
    errors::ErrorKind,
    violations::{Violation, Violations},
};
use tonic::Status;
use utoipa::ToSchema;

/// The media type of every error body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// The `detail` of every 400, as the partner reference words it.
const VIOLATIONS_DETAIL: &str =
    "The request violates one or more constraints. Please resolve all of them and try again.";

/// How a kind of failure is answered over HTTP: status, problem type, title, and the fixed
/// detail used when the failure comes from the ticket service (what the service, or anything
/// between, put in a status message never reaches a partner).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Presentation {
    pub(crate) status: StatusCode,
    pub(crate) problem_type: &'static str,
    pub(crate) title: &'static str,
    pub(crate) detail: &'static str,
}

/// The gateway's half of the failure table.
pub(crate) const fn presentation(kind: ErrorKind) -> Presentation {
    let (status, problem_type, title, detail) = match kind {
        ErrorKind::InvalidArgument => {
            (StatusCode::BAD_REQUEST, "/problems/violations", "Bad request", VIOLATIONS_DETAIL)
        }
        ErrorKind::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "/problems/unauthorized",
            "Unauthorized",
            "Valid credentials are required.",
        ),
        ErrorKind::PermissionDenied => (
            StatusCode::FORBIDDEN,
            "/problems/forbidden",
            "Forbidden",
            "You may not perform this operation.",
        ),
        ErrorKind::NotFound => (
            StatusCode::NOT_FOUND,
            "/problems/not-found",
            "Not found",
            "The ticket does not exist or is not in this collection.",
        ),
        ErrorKind::Conflict => (
            StatusCode::CONFLICT,
            "/problems/conflict",
            "Conflict",
            "The ticket is not pending: service was already started on it by another operator.",
        ),
        ErrorKind::ResourceExhausted => (
            StatusCode::TOO_MANY_REQUESTS,
            "/problems/too-many-requests",
            "Too many requests",
            "Too many requests; retry later.",
        ),
        ErrorKind::Gone => (
            StatusCode::GONE,
            "/problems/gone",
            "Gone",
            "The event position is older than the retained log; resume from after=0.",
        ),
        ErrorKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "/problems/service-unavailable",
            "Service unavailable",
            "The ticket service is temporarily unavailable; retry later.",
        ),
        ErrorKind::DeadlineExceeded => (
            StatusCode::GATEWAY_TIMEOUT,
            "/problems/gateway-timeout",
            "Gateway timeout",
            "The ticket service did not answer in time.",
        ),
        ErrorKind::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "/problems/internal",
            "Internal server error",
            "An internal error occurred.",
        ),
    };
    Presentation { status, problem_type, title, detail }
}

/// Where a proto field a violation names is in a REST request.
#[derive(Clone, Copy, Debug)]
enum RestField {
    /// The route's own parameter: its path parameter (`pending-ticket-id`,
    /// `in-progress-ticket-id`), or on the event feed the position the request gave (`after`, or
    /// `Last-Event-ID` for a stream that sent one).
    PathId,
    /// A member of the body, by its dotted path.
    Body(&'static str),
}

/// The proto fields whose REST name differs; every other field (`limit`, `offset`,
/// `ticket_number`) has the same name in both.
const REST_FIELDS: [(&str, RestField); 4] = [
    ("id", RestField::PathId),
    ("after", RestField::PathId),
    ("pending_ticket_id", RestField::PathId),
    ("operator_id", RestField::Body("transition.operator_id")),
];

/// The REST name of the proto field `field`, on a route whose path parameter is `path_id`.
fn rest_field(field: &str, path_id: &str) -> String {
    match REST_FIELDS.iter().find(|(proto, _)| *proto == field) {
        Some((_, RestField::PathId)) => path_id.to_owned(),
        Some((_, RestField::Body(path))) => (*path).to_owned(),
        None => field.to_owned(),
    }
}

/// A problem response (RFC 9457).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// A URI reference naming the kind of problem, such as `/problems/violations`.
    #[serde(rename = "type")]
    pub(crate) problem_type: &'static str,
    /// A short summary of the kind of problem.
    pub(crate) title: &'static str,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub(crate) status: u16,
    /// What went wrong with this request.
    pub(crate) detail: String,
    /// Every broken input rule of the request (400 only; at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(min_items = 1)]
    pub(crate) violations: Vec<Violation>,
    #[serde(skip)]
    #[schema(ignore)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// The problem for `status`, with `detail`.
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let (problem_type, title) = type_and_title(status);
        Self {
            problem_type,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            violations: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The problem of a failure kind, with its fixed detail.
    pub(crate) fn of_kind(kind: ErrorKind) -> Self {
        let shown = presentation(kind);
        Self::new(shown.status, shown.detail)
    }

    /// A 400 listing every violation (at least one).
    pub(crate) fn violations(violations: Violations) -> Self {
        let mut problem = Self::of_kind(ErrorKind::InvalidArgument);
        problem.violations = violations.into_iter().collect();
        if problem.violations.is_empty() {
            problem.violations.push(Violation::new("request", "is invalid"));
        }
        problem
    }

    /// The problem for a failed call to the ticket service, on a route whose path parameter is
    /// `path_id` (violations are renamed to the REST fields of the request).
    pub(crate) fn from_status(status: &Status, path_id: &str) -> Self {
        let kind = ErrorKind::from_grpc_code(status.code());
        match kind {
            ErrorKind::InvalidArgument => Self::violations(
                Violations::from_status(status).renamed(|field| rest_field(field, path_id)),
            ),
            ErrorKind::Internal => {
                tracing::error!(code = ?status.code(), message = status.message(), "ticket service failed");
                Self::of_kind(kind)
            }
            ErrorKind::Unavailable | ErrorKind::DeadlineExceeded => {
                tracing::warn!(code = ?status.code(), message = status.message(), "ticket service not answering");
                Self::of_kind(kind).with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            }
            _ => Self::of_kind(kind),
        }
    }

    /// Adds a response header (`Allow`, `Retry-After`, `WWW-Authenticate`, ...).
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The status code.
    pub(crate) fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<Violations> for Problem {
    fn from(violations: Violations) -> Self {
        Self::violations(violations)
    }
}

/// Type and title for `status`: from the failure table when a kind has this status, else from
/// the HTTP-only list.
fn type_and_title(status: StatusCode) -> (&'static str, &'static str) {
    if let Some(shown) =
        ErrorKind::ALL.into_iter().map(presentation).find(|shown| shown.status == status)
    {
        return (shown.problem_type, shown.title);
    }
    match status {
        StatusCode::METHOD_NOT_ALLOWED => ("/problems/method-not-allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("/problems/payload-too-large", "Payload too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("/problems/unsupported-media-type", "Unsupported media type")
        }
        StatusCode::REQUEST_TIMEOUT => ("/problems/request-timeout", "Request timeout"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("/problems/request-header-fields-too-large", "Request header fields too large")
        }
        status if status.is_client_error() => ("/problems/client-error", "Client error"),
        _ => {
            let internal = presentation(ErrorKind::Internal);
            (internal.problem_type, internal.title)
        }
    }
}

/// A generic detail for a bare error status, for responses produced below the handlers (the
/// router's 404/405, the body limit's 413, the timeout's 408).
pub(crate) fn default_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "No resource exists at this path.",
        StatusCode::METHOD_NOT_ALLOWED => {
            "The resource does not support this method; see the Allow header."
        }
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is larger than 64 KiB.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "The request body must be application/json.",
        StatusCode::REQUEST_TIMEOUT => "The request was not received in time.",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "The request headers are too large.",
        StatusCode::UNAUTHORIZED => "Valid credentials are required.",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests; retry after the delay given.",
        StatusCode::SERVICE_UNAVAILABLE => "The service is temporarily unavailable; retry later.",
        StatusCode::GATEWAY_TIMEOUT => "The ticket service did not answer in time.",
        status if status.is_client_error() => "The request could not be processed.",
        _ => "An internal error occurred.",
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> axum::response::Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::{ErrorDetails, FieldViolation, StatusExt as _};

    use super::*;

    #[test]
    fn every_kind_is_an_error_status_with_its_own_problem_type() {
        let mut types = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            let shown = presentation(kind);
            assert!(shown.status.is_client_error() || shown.status.is_server_error(), "{kind:?}");
            assert!(types.insert(shown.problem_type), "{kind:?} shares its problem type");
            let problem = Problem::of_kind(kind);
            assert_eq!(
                (problem.problem_type, problem.status),
                (shown.problem_type, shown.status.as_u16())
            );
        }
    }

    #[test]
    fn every_grpc_code_has_a_problem_of_its_kinds_status_and_no_leaked_message() {
        for code in (0..=16).map(Code::from) {
            let problem = Problem::from_status(&Status::new(code, "secret internal text"), "id");
            let kind = ErrorKind::from_grpc_code(code);
            assert_eq!(problem.status(), presentation(kind).status, "{code:?}");
            assert!(!problem.detail.contains("secret"), "{code:?} leaked the status message");
        }
    }

    #[test]
    fn the_service_and_gateway_tables_agree_on_the_contract_statuses() {
        // What the service sends for each kind comes back as the contract's HTTP status.
        for (kind, status) in [
            (ErrorKind::InvalidArgument, StatusCode::BAD_REQUEST),
            (ErrorKind::NotFound, StatusCode::NOT_FOUND),
            (ErrorKind::Conflict, StatusCode::CONFLICT),
            (ErrorKind::Unauthenticated, StatusCode::UNAUTHORIZED),
            (ErrorKind::PermissionDenied, StatusCode::FORBIDDEN),
            (ErrorKind::Gone, StatusCode::GONE),
            (ErrorKind::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            (ErrorKind::DeadlineExceeded, StatusCode::GATEWAY_TIMEOUT),
            (ErrorKind::Internal, StatusCode::INTERNAL_SERVER_ERROR),
        ] {
            let sent = Status::new(kind.grpc_code(), "");
            assert_eq!(Problem::from_status(&sent, "id").status(), status, "{kind:?}");
        }
    }

    #[test]
    fn violations_are_renamed_to_rest_fields_from_the_one_table() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "bad",
            ErrorDetails::with_bad_request(vec![
                FieldViolation::new("pending_ticket_id", "must be a UUID"),
                FieldViolation::new("operator_id", "must be an operator"),
                FieldViolation::new("limit", "too big"),
            ]),
        );
        let problem = Problem::from_status(&status, "pending-ticket-id");
        let fields: Vec<_> = problem.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["pending-ticket-id", "transition.operator_id", "limit"]);
        assert_eq!(problem.problem_type, "/problems/violations");
    }

    #[test]
    fn http_only_statuses_have_their_contract_types() {
        for (status, problem_type) in [
            (StatusCode::METHOD_NOT_ALLOWED, "/problems/method-not-allowed"),
            (StatusCode::PAYLOAD_TOO_LARGE, "/problems/payload-too-large"),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "/problems/unsupported-media-type"),
            (StatusCode::NOT_FOUND, "/problems/not-found"),
            (StatusCode::CONFLICT, "/problems/conflict"),
            (StatusCode::TOO_MANY_REQUESTS, "/problems/too-many-requests"),
            (StatusCode::FORBIDDEN, "/problems/forbidden"),
            (StatusCode::UNAUTHORIZED, "/problems/unauthorized"),
            (StatusCode::BAD_GATEWAY, "/problems/internal"),
        ] {
            assert_eq!(Problem::new(status, "x").problem_type, problem_type, "{status}");
        }
    }

    #[test]
    fn a_violations_problem_always_names_at_least_one_field() {
        let problem = Problem::violations(Violations::new());
        assert_eq!((problem.status, problem.violations.len()), (400, 1));
        assert_eq!(problem.title, "Bad request");
    }
}
