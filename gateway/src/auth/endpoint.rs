//! `POST /oauth2/token` (client credentials, RFC 6749 §4.4) and `GET /.well-known/jwks.json`.
//! The token endpoint's errors follow RFC 6749 §5.2 (`application/json`), the one exception to
//! problem+json.

use std::{borrow::Cow, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Extension, Json,
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use tickets_tokens::{Claims, Scopes};

use super::{Auth, credentials, single};
use crate::urlencoded::{self, NotSingle, Values};

/// A token request (form-encoded). The client may authenticate with HTTP Basic instead of
/// `client_id` and `client_secret`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct TokenRequest {
    /// Always `client_credentials`.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^client_credentials$", example = "client_credentials")]
    grant_type: Values,
    /// The client id (unless sent with HTTP Basic).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    client_id: Values,
    /// The client secret (unless sent with HTTP Basic).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    client_secret: Values,
    /// The rights wanted, space-separated: a subset of the client's (all of them when absent).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "tickets:read")]
    scope: Values,
}

/// The one value of a form parameter (an empty one included); `None` when it is repeated.
fn form_value(values: &Values) -> Option<Option<&str>> {
    match values.single() {
        Ok(value) => Some(value),
        Err(NotSingle::Empty) => Some(Some("")),
        Err(NotSingle::Repeated) => None,
    }
}

/// A successful token response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    /// The access token (an ES256 JWT).
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
    /// The rights the token carries, space-separated.
    scope: String,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenError {
    /// `invalid_request`, `invalid_client`, `invalid_scope` or `unsupported_grant_type`.
    error: &'static str,
    /// Human-readable explanation.
    error_description: &'static str,
}

fn oauth_error(status: StatusCode, error: &'static str, description: &'static str) -> Response {
    let mut response =
        (status, Json(TokenError { error, error_description: description })).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        headers
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="tickets""#));
    }
    response
}

fn invalid_request(description: &'static str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_client() -> Response {
    oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed.")
}

/// 429 while the client id or the address is locked out after too many failures.
fn temporarily_unavailable(wait: Duration) -> Response {
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut response = oauth_error(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        "Too many failed attempts; try again later.",
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Client id and secret from `Authorization: Basic` (each form-urlencoded, RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = single(headers, &header::AUTHORIZATION)?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| ());
    Some(decoded.and_then(|bytes| {
        let text = String::from_utf8(bytes).map_err(|_| ())?;
        let (id, secret) = text.split_once(':').ok_or(())?;
        let unescape = |s: &str| -> String {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Ok((unescape(id), unescape(secret)))
    }))
}

/// Issue an access token (OAuth2 client credentials).
#[utoipa::path(
    post,
    path = "/oauth2/token",
    tag = "Authentication",
    operation_id = "issueToken",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded", description = "`grant_type=client_credentials&client_id=...&client_secret=...`; or the client in HTTP Basic authentication."),
    responses(
        (status = 200, description = "The access token.", body = TokenResponse),
        (status = 400, description = "Malformed request, unsupported grant type, or a scope the client may not have.", body = TokenError),
        (status = 401, description = "Unknown client or wrong secret.", body = TokenError),
        (status = 429, description = "More than 10 failed attempts for this client id, or 30 from this address, within the last minute: `temporarily_unavailable` until the minute has passed, the right secret included.", body = TokenError,
            headers(("Retry-After" = u64, description = "Seconds until the lock ends."))),
    )
)]
pub(crate) async fn token(
    State(auth): State<Arc<Auth>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form_declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_declared {
        return invalid_request("The body must be application/x-www-form-urlencoded.");
    }
    // `TokenRequest` has only `Values` fields, which decode from anything.
    let form: TokenRequest = urlencoded::decode(&body).unwrap_or_default();
    let (Some(grant_type), Some(client_id), Some(client_secret), Some(scope)) = (
        form_value(&form.grant_type),
        form_value(&form.client_id),
        form_value(&form.client_secret),
        form_value(&form.scope),
    ) else {
        return invalid_request("A parameter is given more than once.");
    };
    match grant_type {
        None | Some("") => return invalid_request("grant_type is required."),
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only the client_credentials grant is supported.",
            );
        }
    }
    let address = peer.map(|Extension(ConnectInfo(peer))| peer.ip());
    let (id, secret): (Cow<'_, str>, Cow<'_, str>) = match basic_credentials(&headers) {
        Some(Err(())) => return auth.refuse_client(None, address),
        Some(Ok(_)) if client_secret.is_some() => {
            return invalid_request("Use one client authentication method, not two.");
        }
        Some(Ok((id, secret))) => {
            if client_id.is_some_and(|form_id| form_id != id) {
                return invalid_request("client_id does not match the Basic credentials.");
            }
            (Cow::Owned(id), Cow::Owned(secret))
        }
        None => match (client_id, client_secret) {
            (Some(id), Some(secret)) => (Cow::Borrowed(id), Cow::Borrowed(secret)),
            (id, _) => return auth.refuse_client(id, address),
        },
    };
    let attempt = match auth.throttle.attempt(Some(&id), address) {
        Ok(attempt) => attempt,
        Err(wait) => {
            tracing::info!(client_id = %id, ?address, "token request refused: locked out after failed attempts");
            return temporarily_unavailable(wait);
        }
    };
    let client = auth.credentials.get(&id);
    // Hash and compare even for an unknown client, so timing does not tell which ids exist.
    let expected = client.map_or([0u8; 32], |c| c.secret_sha256);
    let secret_ok = credentials::matches(secret.as_bytes(), &expected);
    let Some(client) = client.filter(|_| secret_ok) else {
        tracing::info!(client_id = %id, ?address, "token request refused: invalid client");
        return invalid_client();
    };
    attempt.succeeded();
    let scopes = match scope.map(Scopes::parse).transpose() {
        Ok(None) => client.scopes,
        Ok(Some(wanted)) if wanted.is_subset_of(client.scopes) && !wanted.is_empty() => wanted,
        Ok(Some(_)) | Err(_) => {
            tracing::info!(client_id = %client.client_id, "token request refused: invalid scope");
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "The scope is unknown, empty, or more than the client may have.",
            );
        }
    };
    let claims =
        Claims::issue(&auth.audience, &client.client_id, client.provider_id, scopes, auth.lifetime);
    match auth.key.sign(&claims) {
        Ok(access_token) => {
            tracing::info!(client_id = %client.client_id, %scopes, "token issued");
            let mut response = Json(TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: auth.lifetime.as_secs(),
                scope: scopes.to_string(),
            })
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "signing a token failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The token could not be issued.",
            )
        }
    }
}

impl Auth {
    /// A failed client authentication without a secret to check: counted like a wrong one.
    fn refuse_client(
        &self,
        client_id: Option<&str>,
        address: Option<std::net::IpAddr>,
    ) -> Response {
        match self.throttle.attempt(client_id, address) {
            Ok(_failed) => invalid_client(),
            Err(wait) => temporarily_unavailable(wait),
        }
    }
}

/// The public key(s) that verify the gateway's tokens.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "Authentication",
    operation_id = "getJwks",
    responses((status = 200, description = "The JSON Web Key Set (RFC 7517).", content_type = "application/json", body = Object))
)]
pub(crate) async fn jwks(State(auth): State<Arc<Auth>>) -> Response {
    let mut response = Json(auth.key.jwks()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
