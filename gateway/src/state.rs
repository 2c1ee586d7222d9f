//! What the handlers and middleware share. A leaf: it holds the parts, and nothing it imports
//! imports it back.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, Ordering},
};

use axum::extract::FromRef;

use crate::{auth::Auth, events::Feeds, metrics::GatewayMetrics, upstream::Upstream};

/// The shared state: one allocation, so that the clone axum makes for every request is a
/// reference count rather than a copy of two channel handles (each of which allocates).
#[derive(Clone, Debug)]
pub(crate) struct AppState(Arc<Shared>);

impl AppState {
    pub(crate) fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
#[derive(Debug)]
pub(crate) struct Shared {
    /// The ticket service.
    pub(crate) upstream: Upstream,
    /// Who may call, and their limits.
    pub(crate) auth: Arc<Auth>,
    /// Set once shutdown starts: readiness turns 503 from then on.
    pub(crate) shutting_down: Arc<AtomicBool>,
    /// The OpenAPI document, rendered once the router (which generates it) is built.
    pub(crate) openapi_json: Arc<OnceLock<String>>,
    /// Every metric of the gateway.
    pub(crate) metrics: Arc<GatewayMetrics>,
    /// The live event feeds and the open partner streams.
    pub(crate) feeds: Arc<Feeds>,
}

impl Shared {
    /// Whether shutdown has started.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Whether the gateway can serve: not shutting down, and at least one ticket-service pod
    /// the balancer found SERVING. Known without a network call.
    pub(crate) fn is_ready(&self) -> bool {
        !self.is_shutting_down() && self.upstream.has_endpoints()
    }
}

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Arc<GatewayMetrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
