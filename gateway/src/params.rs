//! Query and path parameters: decoded into the types the OpenAPI document describes, then
//! parsed strictly into the values a handler uses, with every violation collected.

use axum::extract::{Path, rejection::PathRejection};
use serde::Deserialize;
use tickets_contract::{
    cursor::{Cursor, CursorList, OFFSET_WITH_CURSOR_RULE},
    rules::{self, EventLimit, EventPosition, Limit, Offset},
    violations::Violations,
};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::urlencoded::{self, Values};

/// The query string of both lists, as received.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Limits the amount of resources in result.
    #[serde(default)]
    #[param(value_type = Option<i32>, minimum = 0, maximum = 1000, default = 25, format = Int32)]
    limit: Values,
    /// Offset of resources in result.
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 0, default = 0, format = Int64)]
    offset: Values,
    /// Filter tickets by ticket number.
    #[serde(default)]
    #[param(value_type = Option<i64>, format = Int64, example = 7_179_072)]
    ticket_number: Values,
    /// A cursor from the `Link: rel="next"` of a previous page of this list (also echoed as
    /// `query.after`): the page starts right after that page's last ticket, however many
    /// tickets ahead of it have left the list since. Opaque; not together with `offset`.
    #[serde(default)]
    #[param(value_type = Option<String>, min_length = 30, max_length = 30, pattern = "^[A-Za-z0-9_-]{30}$", example = "AQEABkTnYS_MQAAAAAAAcYNfs3dHTw")]
    after: Values,
}

impl ListQuery {
    /// Decodes a raw query string (absent: every parameter absent).
    pub(crate) fn decode(raw: Option<&str>) -> Self {
        // `ListQuery` has only `Values` fields, which decode from anything.
        urlencoded::decode(raw.unwrap_or_default().as_bytes()).unwrap_or_default()
    }
}

/// The effective paging of a list request; also what the response echoes as `query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListParams {
    pub(crate) limit: Limit,
    /// 0 when `after` is given.
    pub(crate) offset: Offset,
    pub(crate) ticket_number: Option<i64>,
    pub(crate) after: Option<Cursor>,
}

/// A base-10 integer: an optional `-` and ASCII digits, nothing else (no `+`, no spaces, no
/// exponent), within `i64`.
fn integer(value: &str) -> Option<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The one value of a parameter, parsed as a strict integer and then by `rule`; a violation on
/// `name` when it is empty, repeated, not an integer, or refused by the rule.
/// The one value of a parameter, parsed by `parse`; a violation on `name` when it is empty,
/// repeated, or refused by `parse`. `Some(None)`: absent; `None`: refused.
fn parsed<T>(
    violations: &mut Violations,
    name: &str,
    values: &Values,
    parse: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Option<Option<T>> {
    let value = match values.single() {
        Ok(value) => value,
        Err(why) => {
            violations.add(name, why.message());
            return None;
        }
    };
    violations.check(name, value.map(parse).transpose())
}

/// [`parsed`] as a strict integer, then by `rule`.
fn parameter<T>(
    violations: &mut Violations,
    name: &str,
    values: &Values,
    not_integer: &'static str,
    rule: impl FnOnce(i64) -> Result<T, &'static str>,
) -> Option<Option<T>> {
    parsed(violations, name, values, |value| integer(value).ok_or(not_integer).and_then(rule))
}

impl ListParams {
    /// The checked query of a list whose cursors are `list`'s, every violation at once.
    pub(crate) fn parse(query: ListQuery, list: CursorList) -> Result<Self, Violations> {
        let ListQuery { limit, offset, ticket_number, after } = query;
        let mut violations = Violations::new();
        let limit = parameter(&mut violations, "limit", &limit, rules::LIMIT_RULE, Limit::try_from);
        let offset = if offset.is_given() && after.is_given() {
            violations.add("offset", OFFSET_WITH_CURSOR_RULE);
            None
        } else {
            parameter(&mut violations, "offset", &offset, rules::OFFSET_RULE, Offset::try_from)
        };
        let ticket_number = parameter(
            &mut violations,
            "ticket_number",
            &ticket_number,
            "must be a base-10 64-bit integer",
            Ok,
        );
        let after = parsed(&mut violations, "after", &after, |value| Cursor::decode(list, value));
        violations.finish(|| {
            Some(Self {
                limit: limit?.unwrap_or_default(),
                offset: offset?.unwrap_or_default(),
                ticket_number: ticket_number?,
                after: after?,
            })
        })
    }
}

/// A ticket id from the path, or a violation on the path parameter's `name` when it is not a
/// UUID (upper case accepted).
/// The query of `GET /v2/tickets/events`, as decoded (every value checked by
/// [`EventParams::try_from`]).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventQuery {
    /// The id of the last event you have: the page (or stream) starts after it. 0 starts at the
    /// oldest retained event. For a stream, a `Last-Event-ID` header wins over it.
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 0, default = 0, format = Int64)]
    after: Values,
    /// Page size (JSON pages only).
    #[serde(default)]
    #[param(value_type = Option<i32>, minimum = 1, maximum = 1000, default = 100, format = Int32)]
    limit: Values,
}

impl EventQuery {
    /// Decodes a raw query string; unknown parameters are ignored.
    pub(crate) fn decode(raw: Option<&str>) -> Self {
        urlencoded::decode(raw.unwrap_or_default().as_bytes()).unwrap_or_default()
    }
}

/// A checked events query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventParams {
    /// Where the page or stream starts.
    pub(crate) after: EventPosition,
    /// The page size.
    pub(crate) limit: EventLimit,
}

impl EventParams {
    /// The query with `last_event_id` (the `Last-Event-ID` header a reconnecting event
    /// stream sends, which wins over `after`), every violation reported at once.
    pub(crate) fn parse(
        query: EventQuery,
        last_event_id: Option<&str>,
    ) -> Result<Self, Violations> {
        let EventQuery { after, limit } = query;
        let mut violations = Violations::new();
        let position = |value: i64| EventPosition::try_from(value);
        // Both are checked (a bad value is a bad request whichever wins); the header wins.
        let query_after = parameter(&mut violations, "after", &after, rules::AFTER_RULE, position);
        let after = match last_event_id {
            Some(header) => {
                let parsed = integer(header.trim()).ok_or(rules::AFTER_RULE).and_then(position);
                violations.check("Last-Event-ID", parsed).map(Some)
            }
            None => query_after,
        };
        let limit = parameter(
            &mut violations,
            "limit",
            &limit,
            rules::EVENT_LIMIT_RULE,
            EventLimit::try_from,
        );
        violations.finish(|| {
            Some(Self { after: after?.unwrap_or_default(), limit: limit?.unwrap_or_default() })
        })
    }
}

pub(crate) fn path_id(
    violations: &mut Violations,
    name: &str,
    path: Result<Path<String>, PathRejection>,
) -> Option<Uuid> {
    let parsed = path.map_err(|_| rules::UUID_RULE).and_then(|Path(id)| rules::parse_uuid(&id));
    violations.check(name, parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_params(raw: Option<&str>) -> Result<ListParams, Violations> {
        ListParams::parse(ListQuery::decode(raw), CursorList::Pending)
    }

    fn params(limit: u16, offset: i64, ticket_number: Option<i64>) -> ListParams {
        ListParams {
            limit: Limit::try_from(i64::from(limit)).unwrap(),
            offset: Offset::try_from(offset).unwrap(),
            ticket_number,
            after: None,
        }
    }

    #[test]
    fn a_cursor_is_applied_alone_and_checked() {
        let cursor = Cursor { list: CursorList::Pending, created_at_micros: 1, ticket_number: 9 };
        let encoded = cursor.encode();
        let parsed = list_params(Some(&format!("after={encoded}&limit=3"))).unwrap();
        assert_eq!(
            (parsed.after, parsed.limit.get(), parsed.offset.as_i64()),
            (Some(cursor), 3, 0)
        );
        assert_eq!(fields(&format!("after={encoded}&offset=0")), ["offset"]);
        assert_eq!(fields("after="), ["after"]);
        assert_eq!(fields("after=nope&limit=x"), ["limit", "after"]);
        assert_eq!(fields(&format!("after={encoded}&after={encoded}")), ["after"]);
        let other = Cursor { list: CursorList::InProgress, ..cursor }.encode();
        assert_eq!(fields(&format!("after={other}")), ["after"]);
    }

    fn fields(raw: &str) -> Vec<String> {
        list_params(Some(raw)).expect_err("violations").into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn defaults_apply_and_unknown_parameters_are_ignored() {
        assert_eq!(list_params(None), Ok(params(25, 0, None)));
        assert_eq!(list_params(Some("foo=bar&sort=desc")), Ok(params(25, 0, None)));
    }

    #[test]
    fn every_given_parameter_is_applied() {
        assert_eq!(
            list_params(Some("limit=0&offset=9223372036854775807&ticket_number=-7")),
            Ok(params(0, i64::MAX, Some(-7)))
        );
        assert_eq!(list_params(Some("limit=1000")).map(|p| p.limit.get()), Ok(1000));
        assert_eq!(list_params(Some("limit=007")).map(|p| p.limit.get()), Ok(7));
    }

    #[test]
    fn bad_values_are_violations() {
        for raw in [
            "limit=",
            "limit=1001",
            "limit=-1",
            "limit=abc",
            "limit=1.5",
            "limit=+5",
            "limit=%201",
            "limit=1e3",
            "limit=99999999999999999999",
            "limit=1&limit=2",
            "limit=%FF",
        ] {
            assert_eq!(fields(raw), ["limit"], "{raw}");
        }
        assert_eq!(fields("offset=-1"), ["offset"]);
        assert_eq!(fields("offset=9223372036854775808"), ["offset"]);
        assert_eq!(fields("ticket_number=x"), ["ticket_number"]);
        assert_eq!(fields("ticket_number=1&ticket_number=1"), ["ticket_number"]);
    }

    #[test]
    fn all_violations_are_reported_together() {
        assert_eq!(
            fields("limit=x&offset=-2&ticket_number="),
            ["limit", "offset", "ticket_number"]
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::{super::*, list_params};

        /// What a strict base-10 reading of `value` accepts: Rust's parser, minus its `+`.
        fn oracle(value: &str, valid: impl Fn(i64) -> bool) -> Option<i64> {
            (!value.starts_with('+'))
                .then(|| value.parse::<i64>().ok())
                .flatten()
                .filter(|v| valid(*v))
        }

        fn encoded(value: &str) -> String {
            form_urlencoded::byte_serialize(value.as_bytes()).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_query_string_is_answered_without_panicking(raw in any::<String>()) {
                match list_params(Some(&raw)) {
                    Ok(params) => prop_assert!(params.limit.get() <= Limit::MAX && params.offset.as_i64() >= 0),
                    Err(violations) => prop_assert!(!violations.is_empty()),
                }
            }

            #[test]
            fn query_like_strings_are_answered_without_panicking(
                raw in "[a-z_=&%0-9A-F+.-]{0,80}"
            ) {
                let _ = list_params(Some(&raw));
            }

            #[test]
            fn integers_are_accepted_exactly_in_range_and_echoed(
                limit in prop_oneof![0..=1000i64, any::<i64>()],
                offset in prop_oneof![0..=i64::MAX, any::<i64>()],
                ticket_number in any::<i64>(),
                noise in "[a-z]{1,8}=[a-z0-9]{0,8}",
            ) {
                let raw = format!("{noise}&limit={limit}&offset={offset}&ticket_number={ticket_number}");
                let in_range = (0..=1000).contains(&limit) && offset >= 0;
                match list_params(Some(&raw)) {
                    Ok(params) => {
                        prop_assert!(in_range);
                        prop_assert_eq!(params.limit.get(), u16::try_from(limit).unwrap());
                        prop_assert_eq!(params.offset.as_i64(), offset);
                        prop_assert_eq!(params.ticket_number, Some(ticket_number));
                    }
                    Err(violations) => {
                        prop_assert!(!in_range);
                        let fields: Vec<_> = violations.into_iter().map(|v| v.field).collect();
                        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
                        prop_assert_eq!(fields.contains(&"limit"), !(0..=1000).contains(&limit));
                        prop_assert_eq!(fields.contains(&"offset"), offset < 0);
                        prop_assert!(!fields.contains(&"ticket_number"));
                    }
                }
            }

            #[test]
            fn a_value_is_accepted_only_when_it_is_a_base_10_integer_in_range(
                value in prop_oneof![any::<String>(), "[-+ 0-9a-z.]{0,24}"],
            ) {
                let parsed = list_params(Some(&format!("limit={}", encoded(&value))));
                let expected = oracle(&value, |v| (0..=1000).contains(&v));
                prop_assert_eq!(parsed.clone().ok().map(|p| i64::from(p.limit.get())), expected);
                if let Err(violations) = parsed {
                    let fields: Vec<_> = violations.into_iter().map(|v| v.field).collect();
                    prop_assert_eq!(fields, ["limit"]);
                }
                let number = list_params(Some(&format!("ticket_number={}", encoded(&value))));
                prop_assert_eq!(number.ok().and_then(|p| p.ticket_number), oracle(&value, |_| true));
            }

            #[test]
            fn a_parameter_given_twice_is_one_violation(a in any::<i64>(), b in any::<i64>()) {
                let violations = list_params(Some(&format!("offset={a}&offset={b}"))).unwrap_err();
                let fields: Vec<_> = violations.into_iter().map(|v| v.field).collect();
                prop_assert_eq!(fields, ["offset"]);
            }
        }
    }
}
