//! Access tokens: ES256 JWTs issued by the gateway, validated with the algorithm pinned.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::SigningKey;

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) iss: String,
    pub(crate) aud: String,
    /// The client id.
    pub(crate) sub: String,
    /// The provider the client acts for (informational: the clients file is authoritative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) provider_id: Option<String>,
    pub(crate) iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: i64,
    #[serde(default)]
    pub(crate) jti: String,
}

/// Who issues and who accepts tokens.
#[derive(Clone, Debug)]
pub(crate) struct TokenSettings {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) lifetime: Duration,
}

/// Signs a token for `client_id` acting for `provider_id`.
pub(crate) fn issue(
    key: &SigningKey,
    settings: &TokenSettings,
    client_id: &str,
    provider_id: Uuid,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = chrono::Utc::now().timestamp();
    let lifetime = i64::try_from(settings.lifetime.as_secs()).unwrap_or(3600);
    let claims = Claims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: client_id.to_owned(),
        provider_id: Some(provider_id.hyphenated().to_string()),
        iat: now,
        nbf: Some(now),
        exp: now + lifetime,
        jti: Uuid::new_v4().to_string(),
    };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.encoding)
}

/// Checks signature (ES256 only: `none`, HMAC and every other algorithm are refused before any
/// key is used), `iss`, `aud`, `exp` and `nbf` (5 s leeway for clock skew).
pub(crate) fn validate(
    token: &str,
    key: &DecodingKey,
    settings: &TokenSettings,
) -> Result<Claims, jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = 5;
    jsonwebtoken::decode::<Claims>(token, key, &validation).map(|data| data.claims)
}

/// The `kid` of a token's header, without trusting anything else in it.
pub(crate) fn key_id(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok().and_then(|header| header.kid)
}
