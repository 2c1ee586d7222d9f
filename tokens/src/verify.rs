//! Verifying a token: the cheap checks first, the signature only when they pass, and a bounded
//! cache of what verified, so that a client's token is not an ECDSA check on every request.

use std::{sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, Validation};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::{
    claims::{Audience, Claims, LEEWAY_SECONDS, Verified},
    keys::KeySet,
    scope::Scopes,
};

/// Longest token looked at; anything longer is refused before it is decoded.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused. Callers answer every case the same way (a token's validity is not
/// something to tell an attacker); the cases are for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Not a JWT, too long, or a header that does not decode.
    #[error("malformed")]
    Malformed,
    /// Signed with an algorithm other than ES256 (`none` and HMAC included).
    #[error("algorithm other than ES256")]
    Algorithm,
    /// Names no key this verifier has (or could fetch).
    #[error("unknown key")]
    UnknownKey,
    /// The signature, issuer, audience or times do not hold, or a claim is malformed.
    #[error("invalid")]
    Invalid,
}

/// The key id a token's header names (`None`: it names none, and the verifier's first fixed
/// key is meant), after the checks that cost nothing: the size, the header's form, and the
/// algorithm.
///
/// # Errors
/// [`Rejected::Malformed`] or [`Rejected::Algorithm`].
pub fn header_kid(token: &str) -> Result<Option<String>, Rejected> {
    if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
        return Err(Rejected::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejected::Malformed)?;
    if header.alg != Algorithm::ES256 {
        return Err(Rejected::Algorithm);
    }
    Ok(header.kid)
}

/// The cache key of a token: its SHA-256.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Verifies tokens of one issuer and audience against a key set.
#[derive(Clone)]
pub struct Verifier {
    keys: KeySet,
    audience: Audience,
    validation: Validation,
    /// Verified tokens by digest. Bounded; it evicts the least useful entries one at a time.
    cache: Arc<quick_cache::sync::Cache<[u8; 32], Verified>>,
    /// How long a verification may wait for a remote key set.
    fetch_wait: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys)
            .field("issuer", &self.audience.issuer)
            .field("audience", &self.audience.audience)
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier of `audience`'s tokens signed by a key of `keys`, remembering up to
    /// `capacity` verified tokens.
    #[must_use]
    pub fn new(keys: KeySet, audience: Audience, capacity: usize) -> Self {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&audience.issuer]);
        validation.set_audience(&[&audience.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS.unsigned_abs();
        Self {
            keys,
            audience,
            validation,
            cache: Arc::new(quick_cache::sync::Cache::new(capacity.max(1))),
            fetch_wait: Duration::from_secs(2),
        }
    }

    /// The key set.
    #[must_use]
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The issuer and audience accepted.
    #[must_use]
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// What `token` says, if it verified before, is still usable, and its key is still
    /// published. No signature is checked.
    #[must_use]
    pub fn cached(&self, token: &str) -> Option<Verified> {
        let key = digest(token);
        let verified = self.cache.get(&key)?;
        let now = chrono::Utc::now().timestamp();
        if verified.usable_at(now) && self.keys.knows(Some(&verified.kid)) {
            Some(verified)
        } else {
            self.cache.remove(&key);
            None
        }
    }

    /// Checks `token` fully: header, key, signature, issuer, audience, times and the form of
    /// its claims. Does not remember it: call [`Self::remember`] once every other check of the
    /// caller has passed too.
    ///
    /// # Errors
    /// Why it was refused.
    pub async fn verify(&self, token: &str) -> Result<Verified, Rejected> {
        let (kid, key) = self
            .keys
            .find(header_kid(token)?.as_deref(), self.fetch_wait)
            .await
            .ok_or(Rejected::UnknownKey)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|_| Rejected::Invalid)?
            .claims;
        let provider = match claims.provider_id.as_deref() {
            None => None,
            Some(id) => Some(Uuid::try_parse(id).map_err(|_| Rejected::Invalid)?),
        };
        Ok(Verified {
            subject: claims.sub.into(),
            provider,
            scopes: claims.scope.as_deref().map(Scopes::from_claim),
            expires_at: claims.exp,
            not_before: claims.nbf,
            kid,
        })
    }

    /// The cached verification of `token`, or a full one (not remembered).
    ///
    /// # Errors
    /// Why it was refused.
    pub async fn check(&self, token: &str) -> Result<(Verified, bool), Rejected> {
        self.check_with(token, self.cached(token)).await
    }

    /// [`Self::check`] for a caller that already asked [`Self::cached`]: `cached` is what it
    /// answered.
    ///
    /// # Errors
    /// Why it was refused.
    pub async fn check_with(
        &self,
        token: &str,
        cached: Option<Verified>,
    ) -> Result<(Verified, bool), Rejected> {
        match cached {
            Some(verified) => Ok((verified, true)),
            None => self.verify(token).await.map(|verified| (verified, false)),
        }
    }

    /// Remembers a token that passed every check.
    pub fn remember(&self, token: &str, verified: Verified) {
        self.cache.insert(digest(token), verified);
    }

    /// How many verified tokens are remembered.
    #[must_use]
    pub fn remembered(&self) -> usize {
        self.cache.len()
    }
}
