//! Who is calling: OAuth2 client-credentials tokens plus API keys (docs/security.md), and the
//! per-client rate limit. A `/v2` request gets through only with a valid bearer token *and* the
//! API key of the same client; the provider it acts for comes from the clients file and nothing
//! the request carries can change it.

mod credentials;
pub(crate) mod endpoint;
mod external;
mod keys;
mod rate_limit;
mod tokens;
mod verified;

use std::{path::PathBuf, sync::Arc, time::Duration};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use tower_http::request_id::RequestId;
use uuid::Uuid;

pub use self::{credentials::CredentialsError, keys::KeyError};
use self::{
    credentials::{Credentials, matches},
    external::ExternalKeys,
    keys::SigningKey,
    rate_limit::RateLimit,
    tokens::TokenSettings,
    verified::{Verified, VerifiedTokens},
};
use crate::{metrics::GatewayMetrics, problem::Problem};

/// The header carrying the API key.
pub(crate) const API_KEY_HEADER: &str = "x-api-key";

/// The authenticated caller, attached to the request for the handlers.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The client (`sub` of the token).
    pub client_id: Arc<str>,
    /// The provider the client acts for, from the clients file.
    pub provider_id: Uuid,
    /// The request's id (set by the middleware), sent on with every call it makes.
    pub request_id: Option<HeaderValue>,
}

/// Security configuration.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// The clients file; without one no client can authenticate.
    pub credentials_file: Option<PathBuf>,
    /// The signing key (PEM); without one a fresh key is made at each start.
    pub signing_key_file: Option<PathBuf>,
    /// `iss` of issued tokens, and the only issuer accepted.
    pub issuer: String,
    /// `aud` of issued tokens, and the only audience accepted.
    pub audience: String,
    /// Lifetime of issued tokens.
    pub token_lifetime: Duration,
    /// An external issuer's key set, whose tokens are accepted too.
    pub jwks_url: Option<String>,
    /// Requests per second per client; 0 disables the limit.
    pub rate_per_second: u32,
    /// Burst per client.
    pub rate_burst: u32,
}

/// Everything needed to authenticate a request or issue a token.
#[derive(Debug)]
pub struct Auth {
    credentials: Credentials,
    key: SigningKey,
    settings: TokenSettings,
    external: Option<ExternalKeys>,
    rate_limit: Option<RateLimit>,
    verified: VerifiedTokens,
}

impl Auth {
    /// Loads the clients file and the signing key.
    ///
    /// # Errors
    /// A message naming the file (and line) when either file is unusable, or when the JWKS URL
    /// is not a URL.
    pub fn load(settings: &AuthSettings) -> anyhow::Result<Self> {
        let credentials = match &settings.credentials_file {
            Some(path) => Credentials::load(path)?,
            None => {
                tracing::warn!("GATEWAY_CREDENTIALS_FILE is not set: no client can authenticate");
                Credentials::default()
            }
        };
        let key = match &settings.signing_key_file {
            Some(path) => SigningKey::load(path)?,
            None => {
                tracing::warn!(
                    "GATEWAY_SIGNING_KEY_FILE is not set: using a fresh signing key; tokens will not survive a restart or work across replicas"
                );
                SigningKey::generate()?
            }
        };
        let external = settings.jwks_url.as_deref().map(ExternalKeys::new).transpose()?;
        tracing::info!(clients = credentials.len(), kid = %key.kid, external_issuer = external.is_some(), "authentication configured");
        Ok(Self {
            credentials,
            key,
            settings: TokenSettings {
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                lifetime: settings.token_lifetime,
            },
            external,
            rate_limit: RateLimit::new(settings.rate_per_second, settings.rate_burst),
            verified: VerifiedTokens::default(),
        })
    }

    /// Authenticates a `/v2` request from its headers.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Rejection> {
        let token = single(headers, &header::AUTHORIZATION)
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(Rejection::MissingToken)?;
        let api_key = single(headers, &HeaderName::from_static(API_KEY_HEADER))
            .ok_or(Rejection::MissingApiKey)?;

        let claims = match self.verified.get(token, chrono::Utc::now().timestamp()) {
            Some(claims) => claims,
            None => {
                let key = match tokens::key_id(token) {
                    Some(kid) if kid != self.key.kid => match &self.external {
                        Some(external) => {
                            external.key(&kid).await.ok_or(Rejection::InvalidToken)?
                        }
                        None => return Err(Rejection::InvalidToken),
                    },
                    _ => self.key.decoding.clone(),
                };
                let claims: Verified = tokens::validate(token, &key, &self.settings)
                    .map_err(|_| Rejection::InvalidToken)?
                    .into();
                self.verified.insert(token, claims.clone());
                claims
            }
        };
        let client = self.credentials.get(&claims.client_id).ok_or(Rejection::InvalidToken)?;
        if claims.provider_id.as_deref().is_some_and(|p| {
            tickets_contract::rules::parse_uuid(p).ok() != Some(client.provider_id)
        }) {
            return Err(Rejection::InvalidToken);
        }
        if !matches(api_key.as_bytes(), &client.api_key_sha256) {
            return Err(Rejection::WrongApiKey);
        }
        Ok(Caller {
            client_id: client.client_id.clone(),
            provider_id: client.provider_id,
            request_id: None,
        })
    }
}

/// The value of a header given exactly once, as text.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok(),
        _ => None,
    }
}

/// Why a request was not authenticated; each is a 401 with its own `detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejection {
    MissingToken,
    MissingApiKey,
    InvalidToken,
    WrongApiKey,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (detail, challenge) = match self {
            Self::MissingToken => (
                "An `Authorization: Bearer <access token>` header is required; get a token from POST /oauth2/token.",
                r#"Bearer realm="tickets""#,
            ),
            Self::MissingApiKey => {
                ("An `x-api-key` header is required.", r#"Bearer realm="tickets""#)
            }
            Self::InvalidToken => (
                "The access token is invalid or expired.",
                r#"Bearer realm="tickets", error="invalid_token""#,
            ),
            Self::WrongApiKey => (
                "The API key does not belong to the client of the access token.",
                r#"Bearer realm="tickets", error="invalid_token""#,
            ),
        };
        Problem::new(StatusCode::UNAUTHORIZED, detail)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge))
            .into_response()
    }
}

/// Authentication as an extractor on the `/v2` ticket handlers: it runs only for a route and
/// method that exist (so a wrong method is a 405 and an unknown path a 404, with or without
/// credentials), and before any other parameter is looked at (so a 401 comes before a 400).
/// It also applies the per-client rate limit.
impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Auth>: FromRef<S>,
    Arc<GatewayMetrics>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let auth = Arc::<Auth>::from_ref(state);
        let mut caller = auth.authenticate(&parts.headers).await.map_err(|rejection| {
            tracing::info!(reason = ?rejection, "request not authenticated");
            rejection.into_response()
        })?;
        caller.request_id = parts.extensions.get::<RequestId>().map(|id| id.header_value().clone());
        if let Some(Err(retry_after)) = auth.rate_limit.as_ref().map(|l| l.check(&caller.client_id))
        {
            tracing::info!(client_id = %caller.client_id, "rate limited");
            Arc::<GatewayMetrics>::from_ref(state).rate_limited();
            return Err(rate_limit::too_many_requests(retry_after).into_response());
        }
        Ok(caller)
    }
}
