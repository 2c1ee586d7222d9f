//! The gateway's ES256 signing key and the public JWK it publishes.

use std::path::Path;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash},
};
use p256::{
    SecretKey,
    pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _},
};

/// The signing key with everything derived from it.
#[derive(Clone)]
pub(crate) struct SigningKey {
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    pub(crate) kid: String,
    pub(crate) jwks: JwkSet,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// Why no signing key could be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read the signing key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no P-256 private key in a supported PEM form.
    #[error(
        "signing key file {path}: expected a P-256 private key in PEM (PKCS#8 \"BEGIN PRIVATE KEY\" or SEC1 \"BEGIN EC PRIVATE KEY\")"
    )]
    Format {
        /// The file.
        path: String,
    },
    /// The key could not be turned into a signer (should not happen for a valid key).
    #[error("the signing key cannot be used: {0}")]
    Unusable(String),
}

impl SigningKey {
    /// Loads the key from a PEM file (PKCS#8 or SEC1).
    pub(crate) fn load(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let pem = std::fs::read_to_string(path)
            .map_err(|source| KeyError::Read { path: shown.clone(), source })?;
        let secret = SecretKey::from_pkcs8_pem(&pem)
            .ok()
            .or_else(|| SecretKey::from_sec1_pem(&pem).ok())
            .ok_or(KeyError::Format { path: shown })?;
        Self::from_secret(&secret)
    }

    /// A fresh random key (tokens die with the process).
    pub(crate) fn generate() -> Result<Self, KeyError> {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| KeyError::Unusable(e.to_string()))?;
            // Out of range for the curve with probability ~2^-32: draw again.
            if let Ok(secret) = SecretKey::from_slice(&bytes) {
                return Self::from_secret(&secret);
            }
        }
    }

    fn from_secret(secret: &SecretKey) -> Result<Self, KeyError> {
        let der = secret.to_pkcs8_der().map_err(|e| KeyError::Unusable(e.to_string()))?;
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .map_err(|e| KeyError::Unusable(e.to_string()))?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| KeyError::Unusable(e.to_string()))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
        let decoding =
            DecodingKey::from_jwk(&jwk).map_err(|e| KeyError::Unusable(e.to_string()))?;
        Ok(Self { encoding, decoding, kid, jwks: JwkSet { keys: vec![jwk] } })
    }
}
