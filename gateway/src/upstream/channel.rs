//! How the gateway connects to the ticket service: always through the balancer of
//! [`super::balance`], which resolves the URL's host, keeps a connection to every address that
//! reports SERVING, and is what readiness reads. `http://host:port` and `dns:///host:port` are
//! plaintext (HTTP/2) unless a CA is configured; `https://host:port` is TLS. With a CA
//! (`GATEWAY_TICKET_SERVICE_CA_FILE`) `dns:///` and `https://` connections use TLS, verifying the
//! service's certificate for `host`, and present the gateway's client certificate when one is
//! configured (mutual TLS). Replaced certificate files are taken up by new connections to every
//! pod.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use anyhow::Context as _;
use tickets_runtime::tls::ClientFiles;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::balance::{
    BalanceSettings, Balancer, Resolve, Rotated, balanced_channel, dns_resolver, parse_dns_target,
};

/// How calls reach the ticket service: one channel, balanced over every serving pod.
#[derive(Clone, Debug)]
pub struct ServiceChannel {
    pub(crate) channel: Channel,
    pub(crate) balancer: Balancer,
}

/// The files of TLS towards the ticket service.
#[derive(Clone, Debug)]
pub struct UpstreamTls {
    /// The CA the service's certificate must chain to.
    pub ca: PathBuf,
    /// The gateway's client certificate and key (mutual TLS).
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// The TLS configuration in use, and the files it came from.
struct TlsState {
    files: ClientFiles,
    current: RwLock<(Vec<u8>, ClientTlsConfig)>,
}

impl TlsState {
    fn load(files: ClientFiles) -> anyhow::Result<Self> {
        let loaded = (files.fingerprint()?, files.config()?);
        Ok(Self { files, current: RwLock::new(loaded) })
    }

    fn config(&self) -> Option<ClientTlsConfig> {
        self.current.read().ok().map(|current| current.1.clone())
    }

    /// Whether the files changed since the last call; the new ones are taken up.
    fn rotated(&self) -> bool {
        let Ok(fingerprint) = self.files.fingerprint() else { return false };
        if self.current.read().is_ok_and(|current| current.0 == fingerprint) {
            return false;
        }
        match self.files.config() {
            Ok(config) => {
                if let Ok(mut current) = self.current.write() {
                    *current = (fingerprint, config);
                }
                true
            }
            Err(error) => {
                tracing::warn!(%error, "replaced TLS files are unusable; keeping the current ones");
                false
            }
        }
    }
}

/// The connection settings of every connection to the ticket service.
fn endpoint(uri: &str, request_timeout: Duration) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(uri.to_owned())
        .with_context(|| format!("GATEWAY_TICKET_SERVICE_URL {uri:?} is not a valid URL"))?
        .connect_timeout(Duration::from_secs(1).min(request_timeout))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true))
}

/// `host` and `port` of an `http://` or `https://` URL.
fn http_target(url: &str) -> Option<(String, u16)> {
    let uri: http::Uri = url.parse().ok()?;
    let default_port = match uri.scheme_str()? {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']').to_owned();
    Some((host, uri.port_u16().unwrap_or(default_port)))
}

impl ServiceChannel {
    /// A channel to the service at `url`.
    ///
    /// # Errors
    /// When the URL is malformed, `https://` is asked for without a CA, or a TLS file is
    /// unusable.
    pub fn connect(
        url: &str,
        request_timeout: Duration,
        balance: BalanceSettings,
        tls: Option<UpstreamTls>,
    ) -> anyhow::Result<Self> {
        let plaintext = url.starts_with("http:");
        let target = if url.starts_with("dns:") {
            parse_dns_target(url).with_context(|| {
                format!("GATEWAY_TICKET_SERVICE_URL {url:?} must look like dns:///name:port")
            })?
        } else {
            anyhow::ensure!(
                plaintext || tls.is_some(),
                "GATEWAY_TICKET_SERVICE_URL {url:?} is https:// but GATEWAY_TICKET_SERVICE_CA_FILE is not set"
            );
            http_target(url).with_context(|| {
                format!("GATEWAY_TICKET_SERVICE_URL {url:?} must look like http://name:port, https://name:port or dns:///name:port")
            })?
        };
        let tls = if plaintext {
            if tls.is_some() {
                tracing::warn!(
                    "GATEWAY_TICKET_SERVICE_CA_FILE is set but GATEWAY_TICKET_SERVICE_URL is http://: connecting in plaintext"
                );
            }
            None
        } else {
            tls
        };
        let (host, port) = target;
        let files =
            tls.map(|tls| ClientFiles { ca: tls.ca, identity: tls.identity, domain: host.clone() });
        Self::balanced(dns_resolver(host, port), request_timeout, balance, files)
    }

    /// Balanced over whatever `resolve` returns (tests resolve to fixed loopback addresses),
    /// over TLS when `tls` is given.
    ///
    /// # Errors
    /// When a TLS file is unusable.
    pub fn balanced(
        resolve: Resolve,
        request_timeout: Duration,
        balance: BalanceSettings,
        tls: Option<ClientFiles>,
    ) -> anyhow::Result<Self> {
        endpoint("http://127.0.0.1:1", request_timeout)?;
        let tls = tls
            .map(TlsState::load)
            .transpose()
            .context("GATEWAY_TICKET_SERVICE_CA_FILE / GATEWAY_TICKET_SERVICE_CLIENT_CERT_FILE / GATEWAY_TICKET_SERVICE_CLIENT_KEY_FILE")?
            .map(Arc::new);
        let rotated: Option<Rotated> =
            tls.clone().map(|tls| Arc::new(move || tls.rotated()) as Rotated);
        let (channel, balancer) = balanced_channel(
            resolve,
            move |address: SocketAddr| {
                let scheme = if tls.is_some() { "https" } else { "http" };
                let plain = endpoint(&format!("{scheme}://{address}"), request_timeout)
                    .unwrap_or_else(|_| Endpoint::from_static("http://127.0.0.1:1"));
                match tls.as_ref().and_then(|tls| tls.config()) {
                    Some(config) => plain.tls_config(config).unwrap_or_else(|error| {
                        tracing::error!(%error, "the TLS configuration is unusable");
                        Endpoint::from_static("http://127.0.0.1:1")
                    }),
                    None => plain,
                }
            },
            balance,
            rotated,
        );
        Ok(Self { channel, balancer })
    }
}
