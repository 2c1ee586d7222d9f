//! Who is calling (docs/security.md): OAuth2 client-credentials tokens plus API keys, the
//! client's rights, and its rate limit. A `/v2` request gets through only with a valid bearer
//! token *and* the API key of the same client; the provider it acts for comes from the clients
//! file and nothing the request carries can change it.
//!
//! The checks run cheapest first, so that a request without a known client's API key costs no
//! signature check: headers → API key → the token's header (algorithm, a known key) → the
//! client's rate limit (so failed verifications count against it) → the signature (or the cache
//! of tokens that passed) → the token's subject and provider → the client's rights. Every 401
//! reads the same, whichever credential was wrong.

mod credentials;
pub(crate) mod endpoint;
mod relay;
mod throttle;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use tickets_tokens::{Audience, KeySet, RemoteKeys, Scope, SigningKey, Verifier, header_kid};
use tower_http::request_id::RequestId;
use uuid::Uuid;

pub use self::credentials::CredentialsError;
pub(crate) use self::relay::Authorization;
use self::{credentials::Credentials, relay::Relay, throttle::Throttle};
use crate::{
    limits::{Limits, Policy, RateLimitSlot},
    metrics::GatewayMetrics,
    problem::Problem,
    server::connection::HoldBack,
};

/// The header carrying the API key.
pub(crate) const API_KEY_HEADER: &str = "x-api-key";

/// How many verified tokens are remembered.
const VERIFIED_CAPACITY: usize = 10_000;

/// The authenticated caller, attached to the request for the handlers.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The client (`sub` of the token).
    pub client_id: Arc<str>,
    /// The provider the client acts for, from the clients file.
    pub provider_id: Uuid,
    /// The `authorization` the calls to the ticket service carry: the partner's own token, or
    /// one derived from it with the same provider and rights.
    pub(crate) authorization: relay::Authorization,
    /// When the partner's access token expires (Unix seconds): an event stream ends then.
    pub expires_at: i64,
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
    /// Requests per client per UTC day; 0: no quota.
    pub daily_quota: u32,
    /// Redis shared by every replica for the counts (`redis://` or `rediss://`); in-process
    /// counts without it.
    pub redis_url: Option<String>,
}

/// Everything needed to authenticate a request or issue a token.
#[derive(Debug)]
pub struct Auth {
    credentials: Credentials,
    key: SigningKey,
    audience: Audience,
    lifetime: Duration,
    verifier: Verifier,
    relay: Relay,
    /// The limits of a client without its own.
    policy: Policy,
    limits: Limits,
    throttle: Throttle,
}

impl Auth {
    /// The limits of a client without limits of its own.
    pub(crate) fn default_policy(&self) -> Policy {
        self.policy
    }

    /// The gateway's own token for reading `provider`'s events — what the one upstream watch
    /// of that provider carries for all its partners' streams — and when it expires.
    pub(crate) fn feed_authorization(
        &self,
        provider: Uuid,
    ) -> Result<(Authorization, i64), relay::RelayError> {
        self.relay.feed_token(provider)
    }

    /// Loads the clients file and the signing key.
    ///
    /// # Errors
    /// A message naming the file (and line) when either file is unusable, or when the JWKS URL
    /// is not an acceptable URL.
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
        let mut keys = KeySet::default().with_key(key.verifying_key().clone());
        if let Some(url) = &settings.jwks_url {
            keys = keys.with_remote(
                RemoteKeys::new(url).map_err(|e| anyhow::anyhow!("GATEWAY_JWKS_URL: {e}"))?,
            );
        }
        let audience =
            Audience { issuer: settings.issuer.clone(), audience: settings.audience.clone() };
        tracing::info!(clients = credentials.len(), kid = %key.kid(), external_issuer = settings.jwks_url.is_some(), "authentication configured");
        Ok(Self {
            relay: Relay::new(key.clone(), audience.clone(), settings.token_lifetime),
            verifier: Verifier::new(keys, audience.clone(), VERIFIED_CAPACITY),
            credentials,
            key,
            audience,
            lifetime: settings.token_lifetime,
            policy: Policy::new(
                settings.rate_per_second,
                settings.rate_burst,
                settings.daily_quota,
            ),
            limits: Limits::new(settings.redis_url.as_deref())?,
            throttle: Throttle::default(),
        })
    }

    /// Authenticates a `/v2` request from its headers; `needed` is the right the request
    /// needs.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        needed: Scope,
        metrics: &GatewayMetrics,
        slot: Option<&RateLimitSlot>,
    ) -> Result<Caller, Response> {
        let token = single(headers, &header::AUTHORIZATION)
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty());
        let refused = || unauthorized(token.is_some());
        let token = token.ok_or_else(refused)?;
        let api_key =
            single(headers, &HeaderName::from_static(API_KEY_HEADER)).ok_or_else(refused)?;
        let client = self.credentials.by_api_key(api_key).ok_or_else(refused)?;
        // A token that passed before (and whose key is still known) needs no second look at its
        // header: parsing it cost more than the rest of the checks of a cached token together.
        let cached = self.verifier.cached(token);
        if cached.is_none() {
            let kid = header_kid(token).map_err(|_| refused())?;
            if !self.verifier.keys().knows(kid.as_deref()) && !self.verifier.keys().has_remote() {
                return Err(refused());
            }
        }
        let policy = client.limits.over(self.policy);
        if !policy.is_off() {
            let standing = self.limits.check(&client.client_id, policy, metrics).await;
            if let Some(slot) = slot {
                slot.fill(standing);
            }
            if let Some(problem) = standing.too_many_requests() {
                tracing::info!(client_id = %client.client_id, detail = %problem.detail, "rate limited");
                return Err(problem.into_response());
            }
        }
        let (verified, cached) = self.verifier.check_with(token, cached).await.map_err(|why| {
            tracing::info!(client_id = %client.client_id, reason = %why, "token refused");
            refused()
        })?;
        if *verified.subject != *client.client_id
            || verified.provider.is_some_and(|claimed| Some(claimed) != client.provider_id)
        {
            tracing::info!(client_id = %client.client_id, "a token of another client or provider");
            return Err(refused());
        }
        let Some(provider) = client.provider_id.filter(|_| !client.is_internal()) else {
            return Err(forbidden("Internal clients call the ticket service over gRPC, not /v2."));
        };
        if !cached {
            self.verifier.remember(token, verified.clone());
        }
        let rights = verified.scopes.map_or(client.scopes, |s| s.intersection(client.scopes));
        if !rights.contains(needed) {
            return Err(forbidden("The access token does not grant the right this request needs."));
        }
        let upstream = self
            .relay
            .token_for(token, &verified, &client.client_id, provider, rights)
            .map_err(|error| {
                tracing::error!(%error, "deriving a token for the ticket service failed");
                Problem::of_kind(tickets_contract::errors::ErrorKind::Internal).into_response()
            })?;
        Ok(Caller {
            client_id: client.client_id.clone(),
            provider_id: provider,
            authorization: upstream,
            expires_at: verified.expires_at,
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

/// The one detail of every 401: it never tells which credential was wrong.
const UNAUTHORIZED: &str = "Valid credentials are required: an `Authorization: Bearer <access token>` header with a token from POST /oauth2/token, and the `x-api-key` of the same client.";

/// A 401; the challenge names `invalid_token` whenever a token was presented (RFC 6750), which
/// says nothing about which credential failed.
fn unauthorized(token_presented: bool) -> Response {
    let challenge = if token_presented {
        r#"Bearer realm="tickets", error="invalid_token""#
    } else {
        r#"Bearer realm="tickets""#
    };
    Problem::new(StatusCode::UNAUTHORIZED, UNAUTHORIZED)
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge))
        .into_response()
}

/// A 403: a known client without the right.
fn forbidden(detail: &'static str) -> Response {
    Problem::new(StatusCode::FORBIDDEN, detail).into_response()
}

/// The right a request needs: reading for `GET` and `HEAD`, writing for the rest.
fn needed(method: &Method) -> Scope {
    if matches!(*method, Method::GET | Method::HEAD) {
        Scope::TicketsRead
    } else {
        Scope::TicketsWrite
    }
}

/// Authentication as an extractor on the `/v2` ticket handlers: it runs only for a route and
/// method that exist (so a wrong method is a 405 and an unknown path a 404, with or without
/// credentials), and before any other parameter is looked at (so a 401 comes before a 400).
impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Auth>: FromRef<S>,
    Arc<GatewayMetrics>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let auth = Arc::<Auth>::from_ref(state);
        let metrics = Arc::<GatewayMetrics>::from_ref(state);
        let slot = parts.extensions.get::<RateLimitSlot>();
        let refused =
            auth.authenticate(&parts.headers, needed(&parts.method), &metrics, slot).await;
        let mut caller = match refused {
            Ok(caller) => caller,
            Err(mut response) if response.status() == StatusCode::UNAUTHORIZED => {
                let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
                let delay = auth.throttle.refused(peer);
                if !delay.is_zero() {
                    tracing::debug!(?peer, "401 held back: too many from this address");
                    // Waited out by the connection, once the request's own state is dropped.
                    response.extensions_mut().insert(HoldBack(delay));
                }
                return Err(response);
            }
            Err(response) => return Err(response),
        };
        caller.request_id = parts.extensions.get::<RequestId>().map(|id| id.header_value().clone());
        Ok(caller)
    }
}
