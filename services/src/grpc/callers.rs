//! Who may call the service (docs/grpc-api.md): every `TicketService` and `EmployeeService`
//! call carries `authorization: Bearer <JWT>`, which the service verifies itself — one tower
//! layer in front of every RPC, so a new RPC cannot forget it. Health and reflection stay open.
//!
//! - Missing, malformed, forged or expired token → UNAUTHENTICATED.
//! - The rights are the token's `scope`: each RPC needs the one [`required`] names (an RPC that
//!   is not listed there needs a right nobody has) → else PERMISSION_DENIED.
//! - The provider: a token with a `provider_id` acts for that provider only (`x-provider-id`
//!   may be omitted, and must equal it when sent — else PERMISSION_DENIED). A token with
//!   `providers:any` and no provider names it in `x-provider-id` (absent or not a UUID →
//!   UNAUTHENTICATED).
//!
//! The provider a call acts for reaches the handlers as a request extension ([`provider_of`]).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tickets_contract::{
    EMPLOYEE_SERVICE_NAME, TICKET_SERVICE_NAME,
    metadata::{AUTHORIZATION, PROVIDER_ID},
};
use tickets_tokens::{Scope, Verifier};
use tonic::{Request, Status};

use crate::domain::ProviderId;

/// How callers are checked.
#[derive(Clone, Debug)]
pub struct Callers {
    verifier: Option<Arc<Verifier>>,
}

impl Callers {
    /// Every call's token is verified by `verifier`.
    #[must_use]
    pub fn verified(verifier: Verifier) -> Self {
        Self { verifier: Some(Arc::new(verifier)) }
    }

    /// No token is checked and every caller has every right; the provider is whatever
    /// `x-provider-id` says. Only for a service listening on a loopback address (the CLI
    /// refuses it otherwise): a local experiment without keys.
    #[must_use]
    pub fn unverified() -> Self {
        Self { verifier: None }
    }
}

/// The right an RPC needs, by its path (`/package.Service/Method`); `None` for an RPC of ours
/// that no right grants (a new RPC missing from this table is refused, not opened).
fn required(path: &str) -> Option<Scope> {
    let (service, method) = path.trim_start_matches('/').split_once('/')?;
    match (service, method) {
        (
            TICKET_SERVICE_NAME,
            "ListPendingTickets"
            | "GetPendingTicket"
            | "ListInProgressTickets"
            | "GetInProgressTicket"
            | "ListTicketEvents"
            | "WatchTicketEvents",
        ) => Some(Scope::TicketsRead),
        (TICKET_SERVICE_NAME, "StartService") => Some(Scope::TicketsWrite),
        (TICKET_SERVICE_NAME, "CreatePendingTicket") => Some(Scope::TicketsCreate),
        (EMPLOYEE_SERVICE_NAME, "UpsertEmployee") => Some(Scope::EmployeesWrite),
        _ => None,
    }
}

/// Whether a path belongs to a service that needs no credentials (health, reflection).
fn is_open(path: &str) -> bool {
    !(path.starts_with(&format!("/{TICKET_SERVICE_NAME}/"))
        || path.starts_with(&format!("/{EMPLOYEE_SERVICE_NAME}/")))
}

/// The value of a metadata key given exactly once, as text.
fn single<'a>(headers: &'a http::HeaderMap, name: &str) -> Result<Option<&'a str>, ()> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => value.to_str().map(Some).map_err(|_| ()),
        (Some(_), Some(_)) => Err(()),
    }
}

/// The provider named by `x-provider-id`, if given (malformed or repeated: `Err`).
fn named_provider(headers: &http::HeaderMap) -> Result<Option<ProviderId>, ()> {
    single(headers, PROVIDER_ID)?.map(|text| ProviderId::try_from(text).map_err(|_| ())).transpose()
}

/// When the token a call was verified with expires (Unix seconds): a watch ends then, and the
/// caller resumes with a fresh token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenExpiry(pub(crate) i64);

/// The provider a call with these headers may act for, and when its token expires (none when
/// tokens are not verified); or why it may not be made.
async fn authorize(
    verifier: Option<&Verifier>,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<(ProviderId, Option<TokenExpiry>), Status> {
    let unauthenticated = |why: &str| Status::unauthenticated(why.to_owned());
    let Some(verifier) = verifier else {
        return named_provider(headers)
            .ok()
            .flatten()
            .map(|provider| (provider, None))
            .ok_or_else(|| unauthenticated("x-provider-id metadata with a UUID is required"));
    };
    let token = single(headers, AUTHORIZATION)
        .ok()
        .flatten()
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or_else(|| unauthenticated("an `authorization: Bearer <token>` is required"))?;
    let (verified, cached) = verifier.check(token).await.map_err(|why| {
        tracing::info!(reason = %why, "call not authenticated");
        unauthenticated("the access token is not valid")
    })?;
    if !cached {
        verifier.remember(token, verified.clone());
    }
    let denied = || Status::permission_denied("the access token does not grant this call");
    let rights = verified.rights();
    if !required(path).is_some_and(|scope| rights.contains(scope)) {
        return Err(denied());
    }
    let provider = match (verified.provider, named_provider(headers)) {
        (Some(bound), Ok(None)) => ProviderId::new(bound),
        (Some(bound), Ok(Some(named))) if named.get() == bound => named,
        (Some(_), _) => return Err(denied()),
        (None, _) if !rights.contains(Scope::ProvidersAny) => return Err(denied()),
        (None, Ok(Some(named))) => named,
        (None, _) => {
            return Err(unauthenticated("x-provider-id metadata with a UUID is required"));
        }
    };
    Ok((provider, Some(TokenExpiry(verified.expires_at))))
}

/// The layer, for `tonic::transport::Server::layer`.
#[derive(Clone, Debug)]
pub(crate) struct CallersLayer(pub(crate) Callers);

impl<S> tower::Layer<S> for CallersLayer {
    type Service = Checked<S>;

    fn layer(&self, inner: S) -> Checked<S> {
        Checked { inner, callers: self.0.clone() }
    }
}

/// The server behind the check.
#[derive(Clone, Debug)]
pub(crate) struct Checked<S> {
    inner: S,
    callers: Callers,
}

impl<S, B> tower::Service<http::Request<B>> for Checked<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if is_open(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        // The service that was made ready is the one to call; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.callers.verifier.clone();
        Box::pin(async move {
            match authorize(verifier.as_deref(), request.uri().path(), request.headers()).await {
                Ok((provider, expiry)) => {
                    request.extensions_mut().insert(provider);
                    if let Some(expiry) = expiry {
                        request.extensions_mut().insert(expiry);
                    }
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

/// The provider the layer found for this call.
///
/// # Errors
/// UNAUTHENTICATED when the service was mounted without the layer (a wiring bug; refusing is
/// the safe answer).
pub(crate) fn provider_of<T>(request: &Request<T>) -> Result<ProviderId, Status> {
    request
        .extensions()
        .get::<ProviderId>()
        .copied()
        .ok_or_else(|| Status::unauthenticated("the caller was not verified"))
}

#[cfg(test)]
mod tests {
    use tickets_contract::{FILE_DESCRIPTOR_SET, rpc_methods};

    use super::*;

    #[test]
    fn every_rpc_of_the_contract_needs_a_right() {
        for method in rpc_methods(FILE_DESCRIPTOR_SET) {
            let path = format!("/{method}");
            assert!(!is_open(&path), "{method} is open");
            assert!(required(&path).is_some(), "{method} has no right in the table");
        }
        assert!(is_open("/grpc.health.v1.Health/Check"));
        assert!(is_open("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
    }
}
