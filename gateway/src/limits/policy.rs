//! What a client may send, where it stands, and how both are written in the `RateLimit-Policy`
//! and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers):
//!
//! ```text
//! RateLimit-Policy: "burst";q=10;w=1, "daily";q=50000;w=86400
//! RateLimit: "burst";r=9;t=1, "daily";r=49999;t=43200
//! ```
//!
//! A policy that is off is left out of both.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode, header};

use crate::problem::Problem;

/// Seconds in a UTC day.
pub(crate) const DAY_SECONDS: u64 = 86_400;

/// One client's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Requests per second, refilled continuously; 0: no burst policy.
    pub(crate) per_second: u32,
    /// Requests that may come at once.
    pub(crate) burst: u32,
    /// Requests per UTC day; 0: no quota.
    pub(crate) daily: u32,
}

impl Policy {
    /// A policy of `per_second` (0: off) with bursts of `burst` (0: as many as `per_second`)
    /// and `daily` requests a day (0: none).
    pub(crate) fn new(per_second: u32, burst: u32, daily: u32) -> Self {
        let burst = if burst == 0 { per_second } else { burst };
        Self { per_second, burst: if per_second == 0 { 0 } else { burst }, daily }
    }

    /// Whether nothing is limited.
    pub(crate) fn is_off(&self) -> bool {
        self.per_second == 0 && self.daily == 0
    }

    /// Microseconds between two requests at the sustained rate (0 when the burst policy is off).
    pub(crate) fn interval_micros(&self) -> u64 {
        if self.per_second == 0 { 0 } else { 1_000_000 / u64::from(self.per_second) }
    }

    /// `RateLimit-Policy`; `None` when nothing is limited.
    pub(crate) fn header(&self) -> Option<HeaderValue> {
        let mut parts = Vec::with_capacity(2);
        if self.per_second > 0 {
            parts.push(format!("\"burst\";q={};w=1", self.burst));
        }
        if self.daily > 0 {
            parts.push(format!("\"daily\";q={};w={DAY_SECONDS}", self.daily));
        }
        (!parts.is_empty()).then(|| HeaderValue::try_from(parts.join(", ")).ok()).flatten()
    }
}

/// A client's own limits from the clients file (`rate_limit_per_second`, `rate_limit_burst`,
/// `daily_quota`), each in place of the gateway's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Overrides {
    pub(crate) per_second: Option<u32>,
    pub(crate) burst: Option<u32>,
    pub(crate) daily: Option<u32>,
}

impl Overrides {
    /// The client's policy over the gateway's `default`. Without a burst of its own, a client
    /// with its own rate gets the gateway's burst, or its rate when that is higher.
    pub(crate) fn over(&self, default: Policy) -> Policy {
        let per_second = self.per_second.unwrap_or(default.per_second);
        let burst = self.burst.unwrap_or_else(|| match self.per_second {
            Some(rate) => default.burst.max(rate),
            None => default.burst,
        });
        Policy::new(per_second, burst, self.daily.unwrap_or(default.daily))
    }
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    Burst,
    Daily,
}

impl Limit {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Burst => "burst",
            Self::Daily => "daily",
        }
    }
}

/// Where a client stands after a counted request, as its counter (in-process or Redis) said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Standing {
    pub(crate) policy: Policy,
    /// Requests the burst policy allows right now.
    pub(crate) burst_left: u32,
    /// Until the burst is wholly available again.
    pub(crate) until_full: Duration,
    /// Requests left of today's quota.
    pub(crate) daily_left: u32,
    /// Until the next 00:00 UTC.
    pub(crate) until_midnight: Duration,
    /// `Some` when the request was refused: by which limit, and when to retry.
    pub(crate) refused: Option<(Limit, Duration)>,
}

impl Standing {
    /// Where a client stands from a GCRA bucket's state: `ahead` is how far its theoretical
    /// arrival time is ahead of now (zero for a full bucket).
    pub(crate) fn from_bucket(
        policy: Policy,
        ahead: Duration,
        daily_used: u64,
        refused: Option<(Limit, Duration)>,
    ) -> Self {
        let interval = policy.interval_micros();
        let burst_left = if interval == 0 {
            0
        } else {
            let room = (interval * u64::from(policy.burst)).saturating_sub(micros(ahead));
            u32::try_from(room / interval).unwrap_or(u32::MAX).min(policy.burst)
        };
        let daily_left =
            u32::try_from(u64::from(policy.daily).saturating_sub(daily_used)).unwrap_or(0);
        Self {
            policy,
            burst_left,
            until_full: ahead,
            daily_left,
            until_midnight: until_midnight(SystemTime::now()),
            refused,
        }
    }

    /// `RateLimit`; `None` when nothing is limited.
    pub(crate) fn header(&self) -> Option<HeaderValue> {
        let mut parts = Vec::with_capacity(2);
        if self.policy.per_second > 0 {
            parts.push(format!(
                "\"burst\";r={};t={}",
                self.burst_left,
                whole_seconds(self.until_full, 0)
            ));
        }
        if self.policy.daily > 0 {
            parts.push(format!(
                "\"daily\";r={};t={}",
                self.daily_left,
                whole_seconds(self.until_midnight, 1)
            ));
        }
        (!parts.is_empty()).then(|| HeaderValue::try_from(parts.join(", ")).ok()).flatten()
    }

    /// The 429 for a refused request: `Retry-After` and a `detail` naming the limit.
    pub(crate) fn too_many_requests(&self) -> Option<Problem> {
        let (limit, wait) = self.refused?;
        let seconds = whole_seconds(wait, 1);
        let detail = match limit {
            Limit::Burst => format!(
                "Rate limit of {} requests per second (bursts of {}) reached; retry after {seconds} s.",
                self.policy.per_second, self.policy.burst
            ),
            Limit::Daily => format!(
                "Daily quota of {} requests reached; it resets at 00:00 UTC, in {seconds} s.",
                self.policy.daily
            ),
        };
        Some(
            Problem::new(StatusCode::TOO_MANY_REQUESTS, detail)
                .with_header(header::RETRY_AFTER, HeaderValue::from(seconds)),
        )
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// `duration` in whole seconds, rounded up, at least `min`.
fn whole_seconds(duration: Duration, min: u64) -> u64 {
    (duration.as_secs() + u64::from(duration.subsec_nanos() > 0)).max(min)
}

/// The UTC day of `now`, counted from 1970-01-01.
pub(crate) fn utc_day(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / DAY_SECONDS
}

/// From `now` to the next 00:00 UTC.
pub(crate) fn until_midnight(now: SystemTime) -> Duration {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Duration::from_secs((utc_day(now) + 1) * DAY_SECONDS).saturating_sub(since_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_each_policy_that_is_on() {
        let both = Policy::new(5, 10, 50_000);
        assert_eq!(both.header().unwrap(), "\"burst\";q=10;w=1, \"daily\";q=50000;w=86400");
        assert_eq!(Policy::new(5, 0, 0).header().unwrap(), "\"burst\";q=5;w=1");
        assert_eq!(Policy::new(0, 10, 20).header().unwrap(), "\"daily\";q=20;w=86400");
        assert!(Policy::new(0, 10, 0).header().is_none());
        assert!(Policy::new(0, 10, 0).is_off());
    }

    #[test]
    fn a_full_bucket_has_its_whole_burst_left() {
        let policy = Policy::new(5, 10, 50_000);
        let full = Standing::from_bucket(policy, Duration::ZERO, 0, None);
        assert_eq!((full.burst_left, full.daily_left), (10, 50_000));
        let header = full.header().unwrap();
        assert!(header.to_str().unwrap().starts_with("\"burst\";r=10;t=0, \"daily\";r=50000;t="));
        // One request taken: 200 ms ahead at 5/s.
        let one = Standing::from_bucket(policy, Duration::from_millis(200), 1, None);
        assert_eq!((one.burst_left, one.daily_left), (9, 49_999));
        assert!(one.header().unwrap().to_str().unwrap().starts_with("\"burst\";r=9;t=1,"));
    }

    #[test]
    fn a_refusal_names_its_limit_and_when_to_retry() {
        let policy = Policy::new(5, 10, 20);
        let burst = Standing::from_bucket(
            policy,
            Duration::from_secs(2),
            3,
            Some((Limit::Burst, Duration::from_millis(10))),
        );
        let problem = burst.too_many_requests().unwrap();
        assert_eq!(problem.status, 429);
        assert!(problem.detail.contains("5 requests per second"), "{}", problem.detail);
        let daily =
            Standing::from_bucket(policy, Duration::ZERO, 20, Some((Limit::Daily, DAY_SECONDS_D)));
        assert!(daily.too_many_requests().unwrap().detail.contains("Daily quota of 20"));
        assert_eq!(daily.daily_left, 0);
    }

    const DAY_SECONDS_D: Duration = Duration::from_secs(DAY_SECONDS);

    #[test]
    fn a_clients_own_limits_replace_the_gateways() {
        let default = Policy::new(5, 10, 50_000);
        assert_eq!(Overrides::default().over(default), default);
        let plan = Overrides { per_second: Some(50), burst: None, daily: Some(0) };
        assert_eq!(plan.over(default), Policy::new(50, 50, 0));
        let burst = Overrides { burst: Some(3), ..Overrides::default() };
        assert_eq!(burst.over(default), Policy::new(5, 3, 50_000));
    }

    #[test]
    fn midnight_is_at_most_a_day_away() {
        let at = UNIX_EPOCH + Duration::from_secs(20_000 * DAY_SECONDS + 86_399);
        assert_eq!(until_midnight(at), Duration::from_secs(1));
        assert_eq!(utc_day(at), 20_000);
        let midnight = UNIX_EPOCH + Duration::from_secs(20_001 * DAY_SECONDS);
        assert_eq!(until_midnight(midnight), DAY_SECONDS_D);
    }
}
