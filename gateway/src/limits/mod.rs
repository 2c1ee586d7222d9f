//! Rate limit and daily quota per client (docs/security.md, "Rate limit and quota"): counted
//! in-process by default, or in Redis — shared by every replica — with `GATEWAY_REDIS_URL`.
//!
//! While Redis does not answer within [`BACKEND_TIMEOUT`], requests are counted in-process:
//! the gateway stays ready, warns at most once a minute, counts the failures
//! (`rate_limit_backend_errors_total`) and, after [`RETRY_AFTER`], tries Redis again.

mod local;
pub(crate) mod policy;
mod shared;

use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

pub(crate) use self::policy::{Overrides, Policy, Standing};
use self::{local::LocalCounter, shared::SharedCounter};
use crate::metrics::GatewayMetrics;

/// The longest a request waits for Redis before it is counted in-process.
pub(crate) const BACKEND_TIMEOUT: Duration = Duration::from_millis(100);

/// After a Redis failure, requests are counted in-process this long before Redis is tried again
/// (so that a Redis that is down costs one timeout a second, not one per request).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Warnings about Redis come at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Where counts are kept.
#[derive(Debug)]
pub(crate) struct Limits {
    local: LocalCounter,
    shared: Option<SharedCounter>,
    started: Instant,
    /// Milliseconds since `started` before which Redis is not tried (0: try it).
    skip_until: AtomicU64,
    /// Milliseconds since `started` of the last warning, plus one (0: none yet).
    warned_at: AtomicU64,
}

impl Limits {
    /// In-process counts, or Redis at `redis_url` (in-process while it does not answer).
    ///
    /// # Errors
    /// When `redis_url` is not a Redis URL.
    pub(crate) fn new(redis_url: Option<&str>) -> anyhow::Result<Self> {
        let shared = redis_url.map(|url| SharedCounter::new(url, BACKEND_TIMEOUT)).transpose()?;
        if shared.is_some() {
            tracing::info!("rate limits and quotas are shared through Redis");
        }
        Ok(Self {
            local: LocalCounter::default(),
            shared,
            started: Instant::now(),
            skip_until: AtomicU64::new(0),
            warned_at: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts one request of `client` under `policy`, unless a limit refuses it.
    pub(crate) async fn check(
        &self,
        client: &Arc<str>,
        policy: Policy,
        metrics: &GatewayMetrics,
    ) -> Standing {
        let standing = match &self.shared {
            Some(shared) if self.now_ms() >= self.skip_until.load(Ordering::Relaxed) => {
                let started = Instant::now();
                let outcome = tokio::time::timeout(BACKEND_TIMEOUT, shared.check(client, policy))
                    .await
                    .map_err(|_| "no answer within the timeout".to_owned())
                    .and_then(|result| result.map_err(|error| error.to_string()));
                metrics.rate_limit_backend_latency(started.elapsed());
                match outcome {
                    Ok(standing) => standing,
                    Err(error) => {
                        self.backend_failed(&error, metrics);
                        self.local.check(client, policy)
                    }
                }
            }
            _ => self.local.check(client, policy),
        };
        metrics.rate_limit_decision(standing.refused.map(|(limit, _)| limit.label()));
        standing
    }

    fn backend_failed(&self, error: &str, metrics: &GatewayMetrics) {
        metrics.rate_limit_backend_error();
        let now = self.now_ms();
        let retry = u64::try_from(RETRY_AFTER.as_millis()).unwrap_or(u64::MAX);
        self.skip_until.store(now.saturating_add(retry), Ordering::Relaxed);
        let last = self.warned_at.load(Ordering::Relaxed);
        let every = u64::try_from(WARN_EVERY.as_millis()).unwrap_or(u64::MAX);
        if (last == 0 || now + 1 >= last + every)
            && self
                .warned_at
                .compare_exchange(last, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%error, "Redis does not answer: counting rate limits in this process until it does");
        }
    }
}

/// A request extension where authentication leaves the client's standing, for the middleware
/// to write into the response's `RateLimit` header.
#[derive(Clone, Debug, Default)]
pub(crate) struct RateLimitSlot(Arc<OnceLock<Standing>>);

impl RateLimitSlot {
    pub(crate) fn fill(&self, standing: Standing) {
        let _ = self.0.set(standing);
    }

    pub(crate) fn get(&self) -> Option<Standing> {
        self.0.get().copied()
    }
}

/// Whether requests to `path` are counted (and their answers carry the limits): `/v2`, but
/// not its OpenAPI document and docs page.
pub(crate) fn counted(path: &str) -> bool {
    path.starts_with("/v2/")
        && path != "/v2/openapi.json"
        && path != "/v2/docs"
        && !path.starts_with("/v2/docs/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_that_is_not_redis_is_refused_without_repeating_it() {
        let error = Limits::new(Some("http://user:hunter2@cache:6379")).unwrap_err().to_string();
        assert!(error.contains("GATEWAY_REDIS_URL"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn only_v2_apart_from_its_document_is_counted() {
        assert!(counted("/v2/tickets/pending-tickets"));
        assert!(!counted("/v2/openapi.json"));
        assert!(!counted("/v2/docs"));
        assert!(!counted("/oauth2/token"));
        assert!(!counted("/healthz"));
    }
}
