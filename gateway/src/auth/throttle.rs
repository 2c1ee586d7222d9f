//! What repeated authentication failures cost the one who fails (docs/security.md, "Abuse
//! resistance"): a lockout at the token endpoint, and a slowed 401 on `/v2`.
//!
//! **Token endpoint.** Against credential guessing: more than
//! [`PER_CLIENT`] failed attempts for one `client_id`, or [`PER_ADDRESS`] from one source address,
//! within a minute lock that client id or address out until the minute has passed — the right
//! secret included, so that guessing cannot be confirmed during the lock.
//!
//! Every attempt is counted *before* its secret is checked and given back when the secret was
//! right, so a thousand guesses sent at once cannot all slip past the count while none has failed
//! yet.
//!
//! Memory stays bounded whatever the attacker sends: the keys are 64-bit keyed hashes (a random
//! key per process, so collisions cannot be aimed at), held in a fixed-capacity cache that evicts
//! the least recently useful entry when full. Random client ids push out one another, while the
//! per-address count keeps locking the sender out.
//!
//! **`/v2` 401s.** A source address that has been refused more than [`FREE_REFUSALS`] times
//! within a minute gets each further 401 after [`TARPIT_DELAY`]: a flood of forged or stolen
//! credentials then advances at the pace of its connections, not of our CPU, while every
//! client that authenticates is answered as fast as ever.

use std::{
    hash::BuildHasher,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use quick_cache::sync::Cache;

/// Failed attempts per `client_id` per window that are still answered.
pub(crate) const PER_CLIENT: u32 = 10;
/// Failed attempts per source address per window that are still answered.
pub(crate) const PER_ADDRESS: u32 = 30;
/// The window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Client ids and addresses tracked at once, each.
const CAPACITY: usize = 65_536;
/// `/v2` 401s per source address per window answered at once.
pub(crate) const FREE_REFUSALS: u32 = 20;
/// How long each further 401 waits.
pub(crate) const TARPIT_DELAY: Duration = Duration::from_secs(1);

/// Attempts (failed or under way) since `since`.
#[derive(Debug)]
struct Window {
    since: Instant,
    attempts: u32,
}

type Counter = Arc<Mutex<Window>>;

/// The counts.
#[derive(Debug)]
pub(crate) struct Throttle {
    hasher: std::hash::RandomState,
    clients: Cache<u64, Counter>,
    addresses: Cache<u64, Counter>,
    /// `/v2` 401s per source address.
    refusals: Cache<u64, Counter>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            hasher: std::hash::RandomState::new(),
            clients: Cache::new(CAPACITY),
            addresses: Cache::new(CAPACITY),
            refusals: Cache::new(CAPACITY),
        }
    }
}

/// The key for an address: IPv4 whole, IPv6 by its /64 (one subscriber's usual allocation, so
/// that cycling through a prefix's addresses does not reset the count).
fn address_key(address: IpAddr) -> [u8; 8] {
    match address {
        IpAddr::V4(v4) => {
            let mut key = [0xff; 8];
            key[..4].copy_from_slice(&v4.octets());
            key
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => address_key(IpAddr::V4(v4)),
            None => v6.octets()[..8].try_into().expect("8 of 16 bytes"),
        },
    }
}

/// An attempt under way; [`Attempt::succeeded`] gives its count back.
#[must_use = "an attempt counts as failed unless `succeeded` is called"]
#[derive(Debug)]
pub(crate) struct Attempt {
    counters: Vec<(Counter, Instant)>,
}

impl Attempt {
    /// The secret was right: the attempt does not count.
    pub(crate) fn succeeded(self) {
        for (counter, since) in self.counters {
            let mut window = counter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if window.since == since {
                window.attempts = window.attempts.saturating_sub(1);
            }
        }
    }
}

impl Throttle {
    fn counter(cache: &Cache<u64, Counter>, key: u64, now: Instant) -> Counter {
        cache
            .get_or_insert_with(&key, || {
                Ok::<_, std::convert::Infallible>(Arc::new(Mutex::new(Window {
                    since: now,
                    attempts: 0,
                })))
            })
            .unwrap_or_else(|never| match never {})
    }

    /// Counts an attempt against the client id (when one was given) and the address (when
    /// known); `Err(wait)` while either is locked out, in which case nothing is counted.
    pub(crate) fn attempt(
        &self,
        client_id: Option<&str>,
        address: Option<IpAddr>,
    ) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let mut counters = Vec::with_capacity(2);
        if let Some(address) = address {
            let key = self.hasher.hash_one(address_key(address));
            counters.push((Self::counter(&self.addresses, key, now), PER_ADDRESS));
        }
        if let Some(id) = client_id {
            let key = self.hasher.hash_one(id);
            counters.push((Self::counter(&self.clients, key, now), PER_CLIENT));
        }
        // Locked in a fixed order (address, then client), so two attempts cannot deadlock.
        let mut windows: Vec<_> = counters
            .iter()
            .map(|(counter, _)| counter.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
            .collect();
        let mut wait = Duration::ZERO;
        for (window, (_, limit)) in windows.iter_mut().zip(&counters) {
            if now.duration_since(window.since) >= WINDOW {
                **window = Window { since: now, attempts: 0 };
            }
            if window.attempts >= *limit {
                wait = wait.max((window.since + WINDOW).saturating_duration_since(now));
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        let sinces: Vec<Instant> = windows
            .iter_mut()
            .map(|window| {
                window.attempts += 1;
                window.since
            })
            .collect();
        drop(windows);
        Ok(Attempt { counters: counters.into_iter().map(|(c, _)| c).zip(sinces).collect() })
    }

    /// Counts a `/v2` 401 for the address; how long to hold it back (zero while the address
    /// is within its free refusals, or unknown).
    pub(crate) fn refused(&self, address: Option<IpAddr>) -> Duration {
        let Some(address) = address else { return Duration::ZERO };
        let now = Instant::now();
        let key = self.hasher.hash_one(address_key(address));
        let counter = Self::counter(&self.refusals, key, now);
        let mut window = counter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.duration_since(window.since) >= WINDOW {
            *window = Window { since: now, attempts: 0 };
        }
        window.attempts = window.attempts.saturating_add(1);
        if window.attempts > FREE_REFUSALS { TARPIT_DELAY } else { Duration::ZERO }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn a_client_id_is_locked_after_ten_failures_and_others_are_not() {
        let throttle = Throttle::default();
        for attempt in 1..=PER_CLIENT {
            let _failed = throttle
                .attempt(Some("alice"), None)
                .unwrap_or_else(|_| panic!("attempt {attempt}"));
        }
        let wait = throttle.attempt(Some("alice"), None).unwrap_err();
        assert!(wait > WINDOW - Duration::from_secs(5) && wait <= WINDOW, "{wait:?}");
        assert!(throttle.attempt(Some("bob"), None).is_ok());
        assert!(throttle.attempt(None, Some(HOME)).is_ok());
    }

    #[test]
    fn successful_attempts_do_not_count() {
        let throttle = Throttle::default();
        for _ in 0..(PER_CLIENT * 3) {
            throttle.attempt(Some("alice"), Some(HOME)).unwrap().succeeded();
        }
        assert!(throttle.attempt(Some("alice"), Some(HOME)).is_ok());
    }

    #[test]
    fn attempts_under_way_count_before_they_fail() {
        let throttle = Throttle::default();
        let pending: Vec<Attempt> =
            (0..PER_CLIENT).map(|_| throttle.attempt(Some("alice"), None).unwrap()).collect();
        assert!(throttle.attempt(Some("alice"), None).is_err());
        pending.into_iter().for_each(Attempt::succeeded);
        assert!(throttle.attempt(Some("alice"), None).is_ok());
    }

    #[test]
    fn an_address_is_locked_after_thirty_failures_over_any_client_ids() {
        let throttle = Throttle::default();
        for attempt in 0..PER_ADDRESS {
            let id = format!("guess-{attempt}");
            let _failed = throttle.attempt(Some(&id), Some(HOME)).unwrap();
        }
        assert!(throttle.attempt(Some("fresh"), Some(HOME)).is_err());
        assert!(throttle.attempt(Some("fresh"), None).is_ok(), "the lock is the address's");
        assert!(throttle.attempt(None, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)))).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a.into()), address_key(b.into()));
        assert_ne!(address_key(a.into()), address_key(other.into()));
        let mapped = Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped();
        assert_eq!(address_key(mapped.into()), address_key(HOME));
    }

    #[test]
    fn an_address_refused_too_often_is_held_back_and_others_are_not() {
        let throttle = Throttle::default();
        for refusal in 1..=FREE_REFUSALS {
            assert_eq!(throttle.refused(Some(HOME)), Duration::ZERO, "refusal {refusal}");
        }
        assert_eq!(throttle.refused(Some(HOME)), TARPIT_DELAY);
        assert_eq!(throttle.refused(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)))), Duration::ZERO);
        assert_eq!(throttle.refused(None), Duration::ZERO);
    }

    #[test]
    fn random_client_ids_keep_memory_bounded() {
        let throttle = Throttle::default();
        for attempt in 0..(CAPACITY * 3) {
            let _failed = throttle.attempt(Some(&attempt.to_string()), None).unwrap();
        }
        assert!(throttle.clients.len() <= CAPACITY, "{}", throttle.clients.len());
    }
}
