//! CORS for browser callers on the origins of `GATEWAY_CORS_ALLOWED_ORIGINS`, through
//! tower-http's `CorsLayer`. Unset (or empty): no layer at all, so no CORS header is ever sent.
//!
//! - Preflight (`OPTIONS`): `204` with the methods and the request headers a partner needs
//!   (`Authorization`, `x-api-key`, `Content-Type`, `If-None-Match`, `Last-Event-ID`), cached by
//!   the browser for 10 minutes. tower-http answers every `OPTIONS` itself, with `200`; the layer
//!   below turns that into the `204` a preflight gets.
//! - Every answer to an allowed origin exposes `Location`, `ETag`, `Link`, `RateLimit`,
//!   `RateLimit-Policy`, `Retry-After` and `x-request-id` to the page's script.
//! - Another origin gets no `Access-Control-Allow-Origin`, so its browser withholds the answer.
//! - No credentials mode: partners authenticate with headers, never cookies.

use std::{str::FromStr, time::Duration};

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::Response,
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::API_KEY_HEADER;

/// How long a browser may reuse a preflight's answer.
const MAX_AGE: Duration = Duration::from_secs(600);

/// The origins browsers may call the API from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<HeaderValue>);

impl AllowedOrigins {
    /// Whether no origin is allowed (CORS off).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The layer, when any origin is allowed.
    pub(crate) fn layer(&self) -> Option<CorsLayer> {
        if self.is_empty() {
            return None;
        }
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(self.0.iter().cloned()))
                .allow_methods([Method::GET, Method::HEAD, Method::PATCH, Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    HeaderName::from_static(API_KEY_HEADER),
                    header::CONTENT_TYPE,
                    header::IF_NONE_MATCH,
                    HeaderName::from_static("last-event-id"),
                ])
                .expose_headers([
                    header::LOCATION,
                    header::ETAG,
                    header::LINK,
                    HeaderName::from_static("ratelimit"),
                    HeaderName::from_static("ratelimit-policy"),
                    header::RETRY_AFTER,
                    HeaderName::from_static("x-request-id"),
                ])
                .max_age(MAX_AGE),
        )
    }
}

/// Why a configured origin was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{0:?} is not an origin: write scheme://host or scheme://host:port (http or https, no path, no trailing slash)"
)]
pub struct BadOrigin(String);

/// One origin as a browser sends it in `Origin`: `http(s)://host[:port]`, lower case.
fn origin(input: &str) -> Result<HeaderValue, BadOrigin> {
    let bad = || BadOrigin(input.to_owned());
    let lower = input.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let authority = rest.ok_or_else(bad)?;
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal's colons are inside its brackets.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok_and(|port| port > 0));
    if !host_ok || !port_ok {
        return Err(bad());
    }
    HeaderValue::try_from(lower).map_err(|_| bad())
}

impl FromStr for AllowedOrigins {
    type Err = BadOrigin;

    /// Comma-separated origins; empty entries are ignored, so an empty value allows none.
    fn from_str(list: &str) -> Result<Self, BadOrigin> {
        let origins = list
            .split(',')
            .filter(|entry| !entry.trim().is_empty())
            .map(origin)
            .collect::<Result<_, _>>()?;
        Ok(Self(origins))
    }
}

/// A preflight answered by the CORS layer is a `204 No Content` (tower-http says `200`).
pub(crate) async fn preflight_no_content(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let mut response = next.run(request).await;
    if preflight && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_parsed_as_browsers_send_them() {
        let parsed: AllowedOrigins =
            " https://Partner.example , http://127.0.0.1:8081,,http://[::1]:3000".parse().unwrap();
        let expected = ["https://partner.example", "http://127.0.0.1:8081", "http://[::1]:3000"];
        assert_eq!(parsed.0, expected.map(HeaderValue::from_static));
        assert!("".parse::<AllowedOrigins>().unwrap().is_empty());
        assert!(" , ".parse::<AllowedOrigins>().unwrap().is_empty());
    }

    #[test]
    fn anything_but_an_origin_is_refused() {
        for bad in [
            "*",
            "partner.example",
            "https://partner.example/",
            "https://partner.example/path",
            "ftp://partner.example",
            "https://",
            "https://partner.example:0",
            "https://partner.example:99999",
            "https://partner.example:x",
            "https://part ner.example",
            "https://a.example,https://b.example/x",
        ] {
            assert!(bad.parse::<AllowedOrigins>().is_err(), "{bad:?}");
        }
    }
}
