//! Keys of an external token issuer (`GATEWAY_JWKS_URL`): fetched at start, cached, refetched
//! when a token names an unknown `kid` — at most once per [`MIN_REFRESH`], so garbage tokens
//! cannot make the gateway hammer the issuer.

use std::{collections::HashMap, time::Duration};

use jsonwebtoken::{
    DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, JwkSet},
};
use tokio::{sync::Mutex, time::Instant};

/// Least time between two fetches.
const MIN_REFRESH: Duration = Duration::from_secs(30);
/// Largest JWKS document accepted.
const MAX_BYTES: usize = 1024 * 1024;
/// Most keys kept.
const MAX_KEYS: usize = 64;

#[derive(Debug, Default)]
struct Cache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// The external issuer's published keys.
#[derive(Debug)]
pub(crate) struct ExternalKeys {
    url: reqwest::Url,
    client: reqwest::Client,
    cache: Mutex<Cache>,
}

impl ExternalKeys {
    /// Keys published at `url`; nothing is fetched yet.
    pub(crate) fn new(url: &str) -> anyhow::Result<Self> {
        // reqwest is built without a bundled crypto provider; use the ring provider that the
        // rest of the dependency tree already carries. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(Self { url: reqwest::Url::parse(url)?, client, cache: Mutex::new(Cache::default()) })
    }

    /// The key with this `kid`, fetching the key set when it is unknown and the last fetch is
    /// old enough.
    pub(crate) async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let mut cache = self.cache.lock().await;
        if let Some(key) = cache.keys.get(kid) {
            return Some(key.clone());
        }
        if cache.fetched_at.is_some_and(|at| at.elapsed() < MIN_REFRESH) {
            return None;
        }
        cache.fetched_at = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "external issuer keys refreshed");
                cache.keys = keys;
            }
            Err(error) => tracing::warn!(%error, "could not fetch the external issuer's keys"),
        }
        cache.keys.get(kid).cloned()
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, DecodingKey>> {
        let mut response = self.client.get(self.url.clone()).send().await?.error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            anyhow::ensure!(
                body.len() <= MAX_BYTES,
                "the key set is larger than {MAX_BYTES} bytes"
            );
        }
        let set: JwkSet = serde_json::from_slice(&body)?;
        Ok(set
            .keys
            .iter()
            .filter(|jwk| {
                matches!(&jwk.algorithm, AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256)
            })
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .take(MAX_KEYS)
            .collect())
    }
}
