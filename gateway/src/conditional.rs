//! Conditional GETs (RFC 9110 §8.8.3, §13.1.2): every `200` to a `GET` or `HEAD` carries an
//! `ETag` computed from the body the handler produced — no second database query, and the tag
//! of a list changes whenever its page or its total would, since both are in the body — and a
//! request whose `If-None-Match` names that tag is answered `304 Not Modified` without a body.
//!
//! The tag is weak (`W/"…"`): the gateway compresses per request (`zstd`, `br`, `gzip` or
//! none), so one tag stands for several byte-different but equivalent representations, which is
//! what a weak tag means; `If-None-Match` uses the weak comparison anyway. It is the 128-bit XXH3
//! of the body in hex: a non-cryptographic hash (nobody gains by making two of their own pages
//! collide) that is cheap enough to run on every answer. Event streams are never buffered or
//! tagged.
//!
//! The 304 still counts against the client's rate limit (it passes authentication like any
//! request) and keeps the headers a 200 would have had except the body's own.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use xxhash_rust::xxh3::xxh3_128;

/// The `ETag` of `body`.
pub(crate) fn etag(body: &[u8]) -> HeaderValue {
    let tag = format!("W/\"{:032x}\"", xxh3_128(body));
    // Hex digits, quotes, `W` and `/`: always a valid header value.
    HeaderValue::try_from(tag).unwrap_or_else(|_| HeaderValue::from_static("W/\"\""))
}

/// Whether the `If-None-Match` values (each a comma-separated list, or `*`) name `tag` under
/// the weak comparison: the opaque tags equal, `W/` ignored on both sides.
pub(crate) fn none_match(if_none_match: &[HeaderValue], tag: &HeaderValue) -> bool {
    let opaque = |value: &str| value.trim().trim_start_matches("W/").to_owned();
    let Ok(ours) = tag.to_str().map(opaque) else { return false };
    if_none_match
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == ours)
}

/// The middleware: tags a `200` of a `GET`/`HEAD` whose body is not a stream, and turns it into
/// a `304` when the client already has it.
pub(crate) async fn etags(request: Request, next: Next) -> Response {
    let conditional = matches!(*request.method(), Method::GET | Method::HEAD);
    // Only the validators are kept (usually none), not the whole header map.
    let if_none_match: Vec<HeaderValue> =
        request.headers().get_all(header::IF_NONE_MATCH).iter().cloned().collect();
    let response = next.run(request).await;
    if !conditional || response.status() != StatusCode::OK || is_stream(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A handler's body is already in memory (JSON, the OpenAPI document, a docs asset).
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            return crate::problem::Problem::new(status, crate::problem::default_detail(status))
                .into_response();
        }
    };
    let tag = etag(&bytes);
    if none_match(&if_none_match, &tag) {
        let mut not_modified = Response::new(Body::empty());
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        let headers = not_modified.headers_mut();
        for name in [header::CACHE_CONTROL, header::VARY, header::LINK, header::CONTENT_LOCATION] {
            if let Some(value) = parts.headers.get(&name) {
                headers.insert(name, value.clone());
            }
        }
        headers.insert(header::ETAG, tag);
        return not_modified;
    }
    parts.headers.insert(header::ETAG, tag);
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether a response is an event stream (sent as it is made: never buffered).
fn is_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> Vec<HeaderValue> {
        values.iter().map(|value| HeaderValue::from_str(value).unwrap()).collect()
    }

    #[test]
    fn the_tag_is_weak_and_follows_the_body() {
        let tag = etag(b"{\"total\":1}");
        let text = tag.to_str().unwrap();
        assert!(text.starts_with("W/\"") && text.ends_with('"') && text.len() == 36, "{text}");
        assert_eq!(etag(b"{\"total\":1}"), tag);
        assert_ne!(etag(b"{\"total\":2}"), tag);
    }

    #[test]
    fn if_none_match_uses_the_weak_comparison_over_every_list() {
        let tag = etag(b"body");
        let strong = tag.to_str().unwrap().trim_start_matches("W/").to_owned();
        assert!(none_match(&with(&[tag.to_str().unwrap()]), &tag));
        assert!(none_match(&with(&[&strong]), &tag));
        assert!(none_match(&with(&["\"x\", ", &format!("\"y\" , {strong}")]), &tag));
        assert!(none_match(&with(&["*"]), &tag));
        assert!(!none_match(&with(&["\"x\""]), &tag));
        assert!(!none_match(&with(&[]), &tag));
        assert!(!none_match(&with(&[""]), &tag));
    }
}
