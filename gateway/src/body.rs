//! The PATCH body: content type, size, and the shape of the transition, with every violation
//! named by its dotted path.

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, StatusCode, header},
};
use serde_json::Value;
use tickets_contract::rules;
use uuid::Uuid;

use crate::problem::{Problem, Violation, default_detail};

/// Largest PATCH body accepted.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// The transitions a pending ticket accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Assign this operator and move the ticket to in progress.
    StartService { operator_id: Uuid },
}

/// 415 unless the body is declared `application/json` (parameters such as `charset` allowed).
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), Problem> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        Err(Problem::new(status, default_detail(status)))
    }
}

/// Reads at most [`MAX_BODY_BYTES`]; 413 beyond that.
pub(crate) async fn read_limited(body: Body) -> Result<Bytes, Problem> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|error| {
        let too_large = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            let status = StatusCode::PAYLOAD_TOO_LARGE;
            Problem::new(status, default_detail(status))
        } else {
            Problem::violations(vec![Violation::new("body", "could not be read")])
        }
    })
}

/// Parses `{"transition": {"type": "start-service", "operator_id": "<uuid>"}}`, adding a
/// violation for each offending field. Unknown members are ignored.
pub(crate) fn transition(bytes: &[u8], violations: &mut Vec<Violation>) -> Option<Transition> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(bytes) else {
        violations.push(Violation::new("body", "must be a JSON object"));
        return None;
    };
    let transition = match body.get("transition") {
        Some(Value::Object(transition)) => transition,
        Some(_) => {
            violations.push(Violation::new("transition", "must be an object"));
            return None;
        }
        None => {
            violations.push(Violation::new("transition", "is required"));
            return None;
        }
    };
    let kind = match transition.get("type") {
        Some(Value::String(kind)) if kind == "start-service" => Some(kind),
        Some(Value::String(_)) => {
            violations.push(Violation::new("transition.type", "must be one of: start-service"));
            None
        }
        Some(_) => {
            violations.push(Violation::new("transition.type", "must be a string"));
            None
        }
        None => {
            violations.push(Violation::new("transition.type", "is required"));
            None
        }
    };
    let operator_id = match transition.get("operator_id") {
        Some(Value::String(id)) => {
            let parsed = rules::parse_uuid(id).ok();
            if parsed.is_none() {
                violations.push(Violation::new("transition.operator_id", rules::UUID_RULE));
            }
            parsed
        }
        Some(_) => {
            violations
                .push(Violation::new("transition.operator_id", "must be a string holding a UUID"));
            None
        }
        None => {
            violations.push(Violation::new("transition.operator_id", "is required"));
            None
        }
    };
    kind.and(operator_id).map(|operator_id| Transition::StartService { operator_id })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn fields(body: &str) -> Vec<String> {
        let mut violations = Vec::new();
        assert_eq!(transition(body.as_bytes(), &mut violations), None, "{body}");
        violations.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn a_start_service_transition_parses() {
        let id = "497F6ECA-6276-4993-BFEB-53CBBBBA6F08";
        let body = format!(
            r#"{{"transition":{{"type":"start-service","operator_id":"{id}"}},"extra":1}}"#
        );
        let mut violations = Vec::new();
        assert_eq!(
            transition(body.as_bytes(), &mut violations),
            Some(Transition::StartService { operator_id: Uuid::try_parse(id).unwrap() })
        );
        assert!(violations.is_empty());
    }

    #[test]
    fn each_offending_field_is_named_by_its_dotted_path() {
        for body in ["", "nope", "[]", "42", "null", "\"s\"", "{", "\u{0}"] {
            assert_eq!(fields(body), ["body"], "{body:?}");
        }
        assert_eq!(fields("{}"), ["transition"]);
        assert_eq!(fields(r#"{"transition":[]}"#), ["transition"]);
        assert_eq!(fields(r#"{"transition":{}}"#), ["transition.type", "transition.operator_id"]);
        assert_eq!(
            fields(r#"{"transition":{"type":"close","operator_id":"x"}}"#),
            ["transition.type", "transition.operator_id"]
        );
        assert_eq!(
            fields(r#"{"transition":{"type":1,"operator_id":7}}"#),
            ["transition.type", "transition.operator_id"]
        );
    }

    #[test]
    fn deeply_nested_json_is_one_body_violation_not_a_crash() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(fields(&deep), ["body"]);
        let deep_inside =
            format!(r#"{{"transition":{}}}"#, "[".repeat(10_000) + &"]".repeat(10_000));
        assert_eq!(fields(&deep_inside), ["body"]);
    }

    #[test]
    fn only_application_json_is_accepted() {
        let mut headers = HeaderMap::new();
        assert!(require_json(&headers).is_err(), "missing");
        for ok in ["application/json", "application/json; charset=utf-8", "Application/JSON"] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ok));
            assert!(require_json(&headers).is_ok(), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", "application/x-www-form-urlencoded", ""] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(bad));
            assert!(require_json(&headers).is_err(), "{bad}");
        }
    }
}
