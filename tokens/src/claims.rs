//! What a token says, on the wire ([`Claims`]) and once verified ([`Verified`]).

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::scope::Scopes;

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Who issued it.
    pub iss: String,
    /// Who it is for.
    pub aud: String,
    /// The client it was issued to.
    pub sub: String,
    /// The provider the client acts for; absent for internal clients, which act for any
    /// provider (`providers:any`) and name it per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The rights, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not valid before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expires at.
    pub exp: i64,
    /// Unique id.
    #[serde(default)]
    pub jti: String,
}

/// Who issues tokens and who accepts them, and for how long issued ones are valid.
#[derive(Clone, Debug)]
pub struct Audience {
    /// `iss` of issued tokens, and the only issuer accepted.
    pub issuer: String,
    /// `aud` of issued tokens, and the only audience accepted.
    pub audience: String,
}

impl Claims {
    /// The claims of a token issued now to `subject`, valid for `lifetime`.
    #[must_use]
    pub fn issue(
        audience: &Audience,
        subject: &str,
        provider: Option<Uuid>,
        scopes: Scopes,
        lifetime: Duration,
    ) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            iss: audience.issuer.clone(),
            aud: audience.audience.clone(),
            sub: subject.to_owned(),
            provider_id: provider.map(|id| id.hyphenated().to_string()),
            scope: Some(scopes.to_string()),
            iat: now,
            nbf: Some(now),
            exp: now + i64::try_from(lifetime.as_secs()).unwrap_or(3600),
            jti: Uuid::new_v4().to_string(),
        }
    }
}

/// Clock-skew allowance for `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 5;

/// What a token whose signature, issuer, audience and times were checked says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The client (`sub`).
    pub subject: Arc<str>,
    /// The provider it is bound to, if any (`provider_id`).
    pub provider: Option<Uuid>,
    /// Its rights (`scope`); `None` when the token has no `scope` claim.
    pub scopes: Option<Scopes>,
    /// Expires at (seconds since the epoch).
    pub expires_at: i64,
    /// Not valid before.
    pub not_before: Option<i64>,
    /// The key it was signed with.
    pub kid: Arc<str>,
}

impl Verified {
    /// Whether the token may be used at `now` (seconds since the epoch).
    #[must_use]
    pub fn usable_at(&self, now: i64) -> bool {
        now < self.expires_at + LEEWAY_SECONDS
            && self.not_before.is_none_or(|nbf| nbf <= now + LEEWAY_SECONDS)
    }

    /// Its rights, none when it has no `scope` claim.
    #[must_use]
    pub fn rights(&self) -> Scopes {
        self.scopes.unwrap_or_default()
    }
}
