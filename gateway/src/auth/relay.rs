//! The token a call to the ticket service carries for a partner (docs/security.md): the
//! partner's own token when the gateway issued it with the rights it grants, otherwise one the
//! gateway derives with the same client, provider and rights — never broader — and no longer
//! life. Derived tokens are remembered until shortly before they expire, so that deriving is
//! not a signature per request.

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tickets_tokens::{Audience, Claims, Scope, Scopes, SigningKey, Verified};
use tonic::metadata::{Ascii, MetadataValue};
use uuid::Uuid;

/// How many derived tokens are remembered.
const CAPACITY: usize = 10_000;

/// A derived token is reused until this long before it expires.
const MARGIN_SECONDS: i64 = 30;

/// The subject of the gateway's own event-feed tokens.
const FEED_SUBJECT: &str = "ticket-gateway/events";

/// The `authorization` metadata value of a call: `Bearer <token>`.
pub(crate) type Authorization = MetadataValue<Ascii>;

#[derive(Clone, Debug)]
struct Derived {
    authorization: Authorization,
    expires_at: i64,
}

fn bearer(token: &str) -> Option<Authorization> {
    format!("Bearer {token}").parse().ok()
}

/// Why no token could be sent on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    #[error("signing a derived token failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    #[error("a token is not valid metadata")]
    Metadata,
}

/// Issues and remembers derived tokens.
pub(crate) struct Relay {
    key: SigningKey,
    audience: Audience,
    lifetime: Duration,
    derived: quick_cache::sync::Cache<[u8; 32], Derived>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("derived", &self.derived.len()).finish_non_exhaustive()
    }
}

impl Relay {
    pub(crate) fn new(key: SigningKey, audience: Audience, lifetime: Duration) -> Self {
        Self { key, audience, lifetime, derived: quick_cache::sync::Cache::new(CAPACITY) }
    }

    /// A token of the gateway itself (subject [`FEED_SUBJECT`]) that may read `provider`'s
    /// tickets and nothing else: what the shared upstream watch of that provider's event
    /// streams carries. No broader than any partner stream it serves, each of which needed
    /// `tickets:read` on that provider.
    pub(crate) fn feed_token(&self, provider: Uuid) -> Result<(Authorization, i64), RelayError> {
        let rights = Scopes::of(&[Scope::TicketsRead]);
        let claims =
            Claims::issue(&self.audience, FEED_SUBJECT, Some(provider), rights, self.lifetime);
        let authorization = bearer(&self.key.sign(&claims)?).ok_or(RelayError::Metadata)?;
        Ok((authorization, claims.exp))
    }

    /// The token to send on for a partner's verified `token`, acting for `provider` with
    /// `rights` (already narrowed to what the client may do).
    pub(crate) fn token_for(
        &self,
        token: &str,
        verified: &Verified,
        client_id: &str,
        provider: Uuid,
        rights: Scopes,
    ) -> Result<Authorization, RelayError> {
        let relayable = *verified.kid == *self.key.kid()
            && verified.provider == Some(provider)
            && verified.scopes == Some(rights);
        if relayable {
            return bearer(token).ok_or(RelayError::Metadata);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = chrono::Utc::now().timestamp();
        if let Some(derived) =
            self.derived.get(&digest).filter(|d| d.expires_at - MARGIN_SECONDS > now)
        {
            return Ok(derived.authorization);
        }
        let remaining = u64::try_from(verified.expires_at - now).unwrap_or(0);
        let lifetime = self.lifetime.min(Duration::from_secs(remaining));
        let claims = Claims::issue(&self.audience, client_id, Some(provider), rights, lifetime);
        let authorization = bearer(&self.key.sign(&claims)?).ok_or(RelayError::Metadata)?;
        self.derived.insert(
            digest,
            Derived { authorization: authorization.clone(), expires_at: claims.exp },
        );
        Ok(authorization)
    }
}
