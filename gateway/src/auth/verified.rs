//! Tokens whose signature was already checked.
//!
//! Verifying an ES256 signature is by far the most expensive step of a request (about two
//! thirds of the gateway's CPU per request before this cache), and a client sends the same
//! token for up to an hour. A token that verified once is remembered by its SHA-256 with the
//! claims that matter; every later use still checks `exp` and `nbf` against the clock, and the
//! API key, the client and its provider are checked on every request as before. Only tokens that
//! passed full validation get in, so garbage cannot fill the cache; it is bounded all the same.

use std::{collections::HashMap, sync::Mutex};

use super::{
    credentials::{Digest32, sha256},
    tokens::Claims,
};

/// Most tokens remembered; reaching it starts over (they verify again on their next use).
const CAPACITY: usize = 10_000;

/// Clock-skew allowance, the same as full validation's.
const LEEWAY_SECONDS: i64 = 5;

/// What a verified token says, for as long as it is valid.
#[derive(Clone, Debug)]
pub(crate) struct Verified {
    pub(crate) client_id: String,
    pub(crate) provider_id: Option<String>,
    exp: i64,
    nbf: Option<i64>,
}

impl Verified {
    fn usable_at(&self, now: i64) -> bool {
        now < self.exp + LEEWAY_SECONDS && self.nbf.is_none_or(|nbf| nbf <= now + LEEWAY_SECONDS)
    }
}

impl From<Claims> for Verified {
    fn from(claims: Claims) -> Self {
        Self {
            client_id: claims.sub,
            provider_id: claims.provider_id,
            exp: claims.exp,
            nbf: claims.nbf,
        }
    }
}

/// The cache.
#[derive(Debug, Default)]
pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<Digest32, Verified>>,
}

impl VerifiedTokens {
    /// The claims of `token` if it verified before and is valid now.
    pub(crate) fn get(&self, token: &str, now: i64) -> Option<Verified> {
        let key = sha256(token.as_bytes());
        let mut entries = self.entries.lock().ok()?;
        match entries.get(&key) {
            Some(verified) if verified.usable_at(now) => Some(verified.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers a token that passed full validation.
    pub(crate) fn insert(&self, token: &str, verified: Verified) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(sha256(token.as_bytes()), verified);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(exp: i64, nbf: Option<i64>) -> Verified {
        Verified { client_id: "a".into(), provider_id: None, exp, nbf }
    }

    #[test]
    fn an_expired_or_not_yet_valid_token_is_not_served_from_the_cache() {
        let cache = VerifiedTokens::default();
        cache.insert("t", verified(1_000, Some(900)));
        assert!(cache.get("t", 950).is_some());
        assert!(cache.get("t", 1_010).is_none(), "expired");
        assert!(cache.get("t", 950).is_none(), "and forgotten");
        cache.insert("u", verified(2_000, Some(1_500)));
        assert!(cache.get("u", 1_000).is_none(), "not yet valid");
        assert!(cache.get("other", 1_600).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = VerifiedTokens::default();
        for n in 0..=CAPACITY {
            cache.insert(&n.to_string(), verified(i64::MAX - LEEWAY_SECONDS, None));
        }
        assert!(cache.entries.lock().unwrap().len() <= CAPACITY);
    }
}
