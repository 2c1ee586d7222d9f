//! The ES256 key a gateway signs tokens with, and the public JWK it publishes.

use std::path::Path;

use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash},
};
use p256::{
    SecretKey,
    pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _},
};

use crate::{claims::Claims, keys::VerifyingKey};

/// A signing key with everything derived from it.
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    verifying: VerifyingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey").field("kid", &self.kid()).finish_non_exhaustive()
    }
}

/// Why no key could be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read the key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no P-256 key in a supported PEM form.
    #[error("key file {path}: {expected}")]
    Format {
        /// The file.
        path: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// The key could not be turned into a signer (should not happen for a valid key).
    #[error("the key cannot be used: {0}")]
    Unusable(String),
}

/// The forms a private key file may take.
pub(crate) const PRIVATE_FORMS: &str = "expected a P-256 private key in PEM (PKCS#8 \"BEGIN PRIVATE KEY\" or SEC1 \"BEGIN EC PRIVATE KEY\")";

/// A P-256 private key from PEM (PKCS#8 or SEC1), when the text holds one.
pub(crate) fn secret_from_pem(pem: &str) -> Option<SecretKey> {
    SecretKey::from_pkcs8_pem(pem).ok().or_else(|| SecretKey::from_sec1_pem(pem).ok())
}

/// Reads a file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path)
        .map_err(|source| KeyError::Read { path: path.display().to_string(), source })
}

impl SigningKey {
    /// Loads the key from a PEM file (PKCS#8 or SEC1).
    ///
    /// # Errors
    /// When the file cannot be read or holds no P-256 private key.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Self::from_pem(&read(path)?).map_err(|error| match error {
            KeyError::Format { expected, .. } => {
                KeyError::Format { path: path.display().to_string(), expected }
            }
            other => other,
        })
    }

    /// The key in PEM text (PKCS#8 or SEC1).
    ///
    /// # Errors
    /// When the text holds no P-256 private key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let secret = secret_from_pem(pem)
            .ok_or(KeyError::Format { path: "(text)".into(), expected: PRIVATE_FORMS })?;
        Self::from_secret(&secret)
    }

    /// A fresh random key and its PKCS#8 PEM, for a signer that must also hand the key to
    /// others (tests write it to the file a gateway reads).
    ///
    /// # Errors
    /// When the system has no randomness to offer.
    pub fn generate_pem() -> Result<String, KeyError> {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| KeyError::Unusable(e.to_string()))?;
            if let Ok(secret) = SecretKey::from_slice(&bytes) {
                return secret
                    .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
                    .map(|pem| pem.to_string())
                    .map_err(|e| KeyError::Unusable(e.to_string()));
            }
        }
    }

    /// A fresh random key (tokens die with the process).
    ///
    /// # Errors
    /// When the system has no randomness to offer.
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_pem(&Self::generate_pem()?)
    }

    pub(crate) fn from_secret(secret: &SecretKey) -> Result<Self, KeyError> {
        let der = secret.to_pkcs8_der().map_err(|e| KeyError::Unusable(e.to_string()))?;
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .map_err(|e| KeyError::Unusable(e.to_string()))?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| KeyError::Unusable(e.to_string()))?;
        jwk.common.key_id = Some(kid);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
        let verifying = VerifyingKey::from_jwk(&jwk)?;
        Ok(Self { encoding, verifying, jwks: JwkSet { keys: vec![jwk] } })
    }

    /// The key id tokens carry: the JWK thumbprint (RFC 7638) of the public key.
    #[must_use]
    pub fn kid(&self) -> &str {
        self.verifying.kid()
    }

    /// The public half, to verify what this key signed.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The key set to publish (`/.well-known/jwks.json`).
    #[must_use]
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Signs `claims`.
    ///
    /// # Errors
    /// When signing fails (it does not for a valid key).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid().to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}
