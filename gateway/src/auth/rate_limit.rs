//! Per-client token buckets (governor's GCRA): `rate` requests per second, bursts of `burst`.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use axum::http::{HeaderValue, StatusCode, header};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock as _, DefaultClock},
};

use crate::problem::Problem;

/// The limiter, keyed by client id. The key space is bounded by the clients file.
#[derive(Debug)]
pub(crate) struct RateLimit {
    limiter: DefaultKeyedRateLimiter<Arc<str>>,
    clock: DefaultClock,
}

impl RateLimit {
    /// `None` when `per_second` is 0 (limit disabled).
    pub(crate) fn new(per_second: u32, burst: u32) -> Option<Self> {
        let per_second = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(per_second);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Some(Self { limiter: RateLimiter::keyed(quota), clock: DefaultClock::default() })
    }

    /// `Err(wait)` when the client has no request left right now.
    pub(crate) fn check(&self, client_id: &Arc<str>) -> Result<(), Duration> {
        self.limiter
            .check_key(client_id)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// 429 with `Retry-After` in whole seconds (at least 1).
pub(crate) fn too_many_requests(wait: Duration) -> Problem {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Too many requests for this client; retry after {seconds} s."),
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_client_waits_and_others_do_not() {
        let limit = RateLimit::new(5, 10).unwrap();
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        for _ in 0..10 {
            assert!(limit.check(&a).is_ok());
        }
        let wait = limit.check(&a).unwrap_err();
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
        assert!(limit.check(&b).is_ok(), "buckets are per client");
    }

    #[test]
    fn zero_disables_the_limit() {
        assert!(RateLimit::new(0, 10).is_none());
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        let problem = too_many_requests(Duration::from_millis(10));
        assert_eq!(problem.status, 429);
    }
}
