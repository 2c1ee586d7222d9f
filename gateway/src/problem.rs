//! RFC 9457 problem details: the only shape an error response of the gateway takes.
//!
//! Statuses that stand for a failure kind of the shared table ([`ErrorKind`]) take that kind's
//! type and title, so a gRPC code and the HTTP problem it becomes are defined in one place. The
//! few statuses only HTTP has (405, 413, 415, ...) are listed here.

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Response, StatusCode, header},
    response::IntoResponse,
};
use serde::Serialize;
use tickets_contract::errors::ErrorKind;
use utoipa::ToSchema;

/// The media type of every error body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// The `detail` of every 400, as the partner reference words it.
const VIOLATIONS_DETAIL: &str =
    "The request violates one or more constraints. Please resolve all of them and try again.";

/// One broken input rule, named by the request field's REST name (`limit`,
/// `pending-ticket-id`, `transition.operator_id`, `body`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Violation {
    /// The offending field: a query or path parameter name, or a dotted path into the body.
    pub(crate) field: String,
    /// What the field must be.
    pub(crate) message: String,
}

impl Violation {
    /// A violation on `field`.
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
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

    /// The problem of a failure kind.
    pub(crate) fn of_kind(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self::new(kind.http_status(), detail)
    }

    /// A 400 listing every violation (at least one).
    pub(crate) fn violations(violations: Vec<Violation>) -> Self {
        let mut problem = Self::new(StatusCode::BAD_REQUEST, VIOLATIONS_DETAIL);
        problem.violations = if violations.is_empty() {
            vec![Violation::new("request", "is invalid")]
        } else {
            violations
        };
        problem
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

/// Type and title for `status`: from the shared kind table when a kind has this status, else
/// from the HTTP-only list.
fn type_and_title(status: StatusCode) -> (&'static str, &'static str) {
    if let Some(kind) = ErrorKind::ALL.into_iter().find(|kind| kind.http_status() == status) {
        return (kind.problem_type(), kind.title());
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
        _ => (ErrorKind::Internal.problem_type(), ErrorKind::Internal.title()),
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
    use super::*;

    #[test]
    fn every_kind_status_takes_the_kinds_problem_type() {
        for kind in ErrorKind::ALL {
            let problem = Problem::of_kind(kind, "x");
            assert_eq!(problem.problem_type, kind.problem_type());
            assert_eq!(problem.status, kind.http_status().as_u16());
        }
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
        let problem = Problem::violations(Vec::new());
        assert_eq!((problem.status, problem.violations.len()), (400, 1));
        assert_eq!(problem.title, "Bad request");
    }
}
