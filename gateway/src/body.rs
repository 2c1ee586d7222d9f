//! The PATCH body: content type, size, and the transition, decoded into the types the OpenAPI
//! document describes and then parsed with every violation named by its dotted path.

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, StatusCode, header},
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::Value;
use tickets_contract::{
    rules,
    violations::{Violation, Violations},
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::{Problem, default_detail};

/// Largest PATCH body accepted.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// A member of a JSON body as received: absent, present with the expected type, or present
/// with another, so that each case can be its own violation.
#[derive(Debug, Default)]
enum Member<T> {
    #[default]
    Missing,
    WrongType,
    Present(T),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Member<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        // No member of these bodies is a list; serde would fill a struct from one.
        if value.is_array() {
            return Ok(Self::WrongType);
        }
        Ok(T::deserialize(value).map_or(Self::WrongType, Self::Present))
    }
}

impl<T> Member<T> {
    /// The value, or a violation on `field` (`what` says what it must be).
    fn require(self, violations: &mut Violations, field: &str, what: &str) -> Option<T> {
        match self {
            Self::Present(value) => Some(value),
            Self::Missing => {
                violations.add(field, "is required");
                None
            }
            Self::WrongType => {
                violations.add(field, what);
                None
            }
        }
    }
}

/// The body of a transition request. Members it does not know are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TransitionRequest {
    /// Transition this ticket to a different state.
    #[serde(default)]
    #[schema(value_type = StartServiceTransition, required = true)]
    transition: Member<StartServiceTransition>,
}

/// Start service: assign the operator and move the ticket to in progress.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct StartServiceTransition {
    /// The type of transition to apply on this ticket.
    #[serde(default, rename = "type")]
    #[schema(value_type = String, required = true, pattern = "^start-service$", example = "start-service")]
    kind: Member<String>,
    /// An enabled provider employee who is able to service a ticket (`is_operator`).
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Uuid)]
    operator_id: Member<String>,
}

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
            Problem::violations(Violation::new("body", "could not be read").into())
        }
    })
}

/// Parses `{"transition": {"type": "start-service", "operator_id": "<uuid>"}}`, recording a
/// violation for each offending member.
pub(crate) fn transition(bytes: &[u8], violations: &mut Violations) -> Option<Transition> {
    // Through a `Value` first: a body that is not a JSON object (or not JSON, or nested beyond
    // serde_json's limit) is one violation on `body`, and a member given twice keeps its last
    // value as JSON parsers commonly do.
    let request = match serde_json::from_slice::<Value>(bytes) {
        Ok(value @ Value::Object(_)) => TransitionRequest::deserialize(value).ok(),
        _ => None,
    };
    let Some(TransitionRequest { transition }) = request else {
        violations.add("body", "must be a JSON object");
        return None;
    };
    let StartServiceTransition { kind, operator_id } =
        transition.require(violations, "transition", "must be an object")?;
    let start_service = match kind.require(violations, "transition.type", "must be a string") {
        Some(kind) if kind == "start-service" => Some(()),
        Some(_) => {
            violations.add("transition.type", "must be one of: start-service");
            None
        }
        None => None,
    };
    let operator_id = operator_id
        .require(violations, "transition.operator_id", "must be a string holding a UUID")
        .and_then(|id| violations.check("transition.operator_id", rules::parse_uuid(&id)));
    start_service.and(operator_id).map(|operator_id| Transition::StartService { operator_id })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn fields(body: &str) -> Vec<String> {
        let mut violations = Violations::new();
        assert_eq!(transition(body.as_bytes(), &mut violations), None, "{body}");
        violations.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn a_start_service_transition_parses() {
        let id = "497F6ECA-6276-4993-BFEB-53CBBBBA6F08";
        let body = format!(
            r#"{{"transition":{{"type":"start-service","operator_id":"{id}"}},"extra":1}}"#
        );
        let mut violations = Violations::new();
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

    mod properties {
        use proptest::prelude::*;
        use serde_json::json;

        use super::super::*;

        /// Any JSON value, nested a few levels.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                any::<String>().prop_map(Value::String),
                Just(Value::String("start-service".into())),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                let keys = prop_oneof![
                    Just("transition".to_owned()),
                    Just("type".to_owned()),
                    Just("operator_id".to_owned()),
                    any::<String>(),
                ];
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map(keys, inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// The outcome is consistent: a transition and no violation, or violations and none.
        fn consistent(bytes: &[u8]) -> Result<(Option<Transition>, Vec<String>), TestCaseError> {
            let mut violations = Violations::new();
            let parsed = transition(bytes, &mut violations);
            prop_assert_eq!(parsed.is_some(), violations.is_empty(), "{:?}", violations);
            Ok((parsed, violations.into_iter().map(|v| v.field).collect()))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_bytes_are_answered_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
                consistent(&bytes)?;
            }

            #[test]
            fn any_json_is_answered_and_only_a_start_service_is_accepted(value in json_value()) {
                let (parsed, fields) = consistent(&serde_json::to_vec(&value).unwrap())?;
                let transition = value.get("transition");
                let valid = value.is_object()
                    && transition.and_then(|t| t.get("type")) == Some(&json!("start-service"))
                    && transition
                        .and_then(|t| t.get("operator_id"))
                        .and_then(Value::as_str)
                        .is_some_and(|id| rules::parse_uuid(id).is_ok());
                prop_assert_eq!(parsed.is_some(), valid);
                for field in fields {
                    prop_assert!(
                        ["body", "transition", "transition.type", "transition.operator_id"].contains(&field.as_str()),
                        "unexpected field {}", field
                    );
                }
            }

            #[test]
            fn every_uuid_round_trips_in_either_case(
                bytes in any::<[u8; 16]>(),
                upper in any::<bool>(),
                extra in any::<String>(),
            ) {
                let id = Uuid::from_bytes(bytes);
                let text = if upper { id.hyphenated().to_string().to_uppercase() } else { id.hyphenated().to_string() };
                let body = json!({"transition": {"type": "start-service", "operator_id": text, "note": extra}, "extra": 1});
                let (parsed, _) = consistent(&serde_json::to_vec(&body).unwrap())?;
                prop_assert_eq!(parsed, Some(Transition::StartService { operator_id: id }));
            }

            #[test]
            fn an_operator_id_with_a_foreign_character_is_a_violation_on_it(
                bytes in any::<[u8; 16]>(),
                position in 0..36usize,
                foreign in any::<char>().prop_filter("not a hex digit", |c| !c.is_ascii_hexdigit()),
            ) {
                let mut text: Vec<char> = Uuid::from_bytes(bytes).hyphenated().to_string().chars().collect();
                text[position] = foreign;
                let text: String = text.into_iter().collect();
                let body = json!({"transition": {"type": "start-service", "operator_id": text}});
                let (parsed, fields) = consistent(&serde_json::to_vec(&body).unwrap())?;
                // A `-` put where a `-` already was leaves a valid id.
                if parsed.is_none() {
                    prop_assert_eq!(fields, ["transition.operator_id"]);
                } else {
                    prop_assert!(foreign == '-' && [8, 13, 18, 23].contains(&position));
                }
            }
        }
    }
}
