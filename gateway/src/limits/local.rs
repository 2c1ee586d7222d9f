//! The counts of one gateway process: the embedded default, and the fallback while Redis is
//! unreachable. The same arithmetic as the Redis script ([`super::shared`]), line for line, so
//! that both answer alike: a GCRA bucket (a theoretical arrival time, `tat`, moved on by one
//! interval per request; a request is refused while it would be more than `burst` intervals
//! ahead of now) and a count per UTC day.
//!
//! governor, used here before, answers "allowed" or "not until", but not the bucket's
//! theoretical arrival time that the `RateLimit` header's `t` is read from.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use tokio::time::Instant;

use super::policy::{Limit, Policy, Standing, utc_day};

#[derive(Debug, Default)]
struct Bucket {
    /// Theoretical arrival time, in µs since the counter's start.
    tat: u64,
    day: u64,
    used: u64,
}

/// Per-client counts, keyed by client id (bounded by the clients file).
#[derive(Debug)]
pub(crate) struct LocalCounter {
    started: Instant,
    buckets: Mutex<HashMap<Arc<str>, Bucket>>,
}

impl Default for LocalCounter {
    fn default() -> Self {
        Self { started: Instant::now(), buckets: Mutex::default() }
    }
}

impl LocalCounter {
    /// Counts one request of `client` under `policy`, unless a limit refuses it.
    pub(crate) fn check(&self, client: &Arc<str>, policy: Policy) -> Standing {
        let now = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let today = utc_day(SystemTime::now());
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(client.clone()).or_default();
        if bucket.day != today {
            bucket.day = today;
            bucket.used = 0;
        }
        let interval = policy.interval_micros();
        let ahead = |tat: u64| Duration::from_micros(tat.saturating_sub(now));
        if policy.daily > 0 && bucket.used >= u64::from(policy.daily) {
            let standing = Standing::from_bucket(policy, ahead(bucket.tat), bucket.used, None);
            let wait = standing.until_midnight;
            return Standing { refused: Some((Limit::Daily, wait)), ..standing };
        }
        if interval > 0 {
            let tat = bucket.tat.max(now);
            let next = tat + interval;
            let allowed_from = next.saturating_sub(interval * u64::from(policy.burst));
            if now < allowed_from {
                let wait = Duration::from_micros(allowed_from - now);
                return Standing::from_bucket(
                    policy,
                    ahead(tat),
                    bucket.used,
                    Some((Limit::Burst, wait)),
                );
            }
            bucket.tat = next;
        }
        if policy.daily > 0 {
            bucket.used += 1;
        }
        Standing::from_bucket(policy, ahead(bucket.tat), bucket.used, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_one_request_per_interval() {
        let counter = LocalCounter::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let policy = Policy::new(5, 10, 0);
        for left in (0..10).rev() {
            let standing = counter.check(&a, policy);
            assert_eq!((standing.refused, standing.burst_left), (None, left));
        }
        let refused = counter.check(&a, policy);
        let (limit, wait) = refused.refused.unwrap();
        assert_eq!(limit, Limit::Burst);
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
        assert!(counter.check(&b, policy).refused.is_none(), "buckets are per client");
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(counter.check(&a, policy).refused.is_none(), "one more after an interval");
        assert!(counter.check(&a, policy).refused.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_daily_quota_refuses_once_spent_and_a_refusal_costs_nothing() {
        let counter = LocalCounter::default();
        let a: Arc<str> = Arc::from("a");
        let policy = Policy::new(0, 0, 3);
        for left in (0..3).rev() {
            let standing = counter.check(&a, policy);
            assert_eq!((standing.refused, standing.daily_left), (None, left));
        }
        let refused = counter.check(&a, policy);
        assert_eq!(refused.refused.map(|(limit, _)| limit), Some(Limit::Daily));
        assert!(refused.refused.unwrap().1 <= Duration::from_secs(86_400));
        // A burst refusal does not spend the quota.
        let both = Policy::new(1, 1, 3);
        let b: Arc<str> = Arc::from("b");
        assert!(counter.check(&b, both).refused.is_none());
        assert_eq!(counter.check(&b, both).refused.map(|(limit, _)| limit), Some(Limit::Burst));
        assert_eq!(counter.check(&b, both).daily_left, 2);
    }
}
