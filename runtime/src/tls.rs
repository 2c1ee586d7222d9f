//! TLS on the gRPC hop, with rustls: the server's certificate and key and, for mutual TLS, the
//! CA whose client certificates it requires; the client's trusted CA and its own certificate.
//! Files replaced on disk (cert-manager rotates them) are picked up without a restart: the
//! server checks them every [`RELOAD_EVERY`] and new connections use the new configuration; the
//! client side offers [`ClientFiles::fingerprint`] for the same check.

use std::{
    io,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::Duration,
};

use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::WebPkiClientVerifier,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;

/// How often certificate files are checked for a replacement.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a TLS configuration could not be built; it names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no PEM of the expected kind.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The pieces do not form a configuration (a key that does not match its certificate, ...).
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError::File { path: path.display().to_string(), message: message.to_string() }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(path, e))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| file_error(path, e))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's files.
#[derive(Clone, Debug)]
pub struct ServerFiles {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA client certificates must chain to; `None`: no client certificate is asked for.
    pub client_ca: Option<PathBuf>,
}

impl ServerFiles {
    /// Every file's content, to notice a replacement.
    fn fingerprint(&self) -> Result<Vec<u8>, TlsError> {
        let mut all = read(&self.cert)?;
        all.extend(read(&self.key)?);
        if let Some(ca) = &self.client_ca {
            all.extend(read(ca)?);
        }
        Ok(all)
    }

    fn config(&self) -> Result<ServerConfig, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &self.client_ca {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates(path)? {
                    roots.add(cert).map_err(|e| file_error(path, e))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| file_error(path, e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certificates(&self.cert)?, private_key(&self.key)?)
            .map_err(|e| {
                TlsError::Config(format!("{} and {}: {e}", self.cert.display(), self.key.display()))
            })?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

struct Current {
    fingerprint: Vec<u8>,
    acceptor: TlsAcceptor,
}

/// The server side: the configuration in use, replaced when its files change.
#[derive(Clone)]
pub struct ServerTls {
    files: Arc<ServerFiles>,
    current: Arc<RwLock<Current>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("files", &self.files).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads the files.
    ///
    /// # Errors
    /// When a file is missing or malformed, or the key does not match the certificate.
    pub fn load(files: ServerFiles) -> Result<Self, TlsError> {
        let fingerprint = files.fingerprint()?;
        let acceptor = TlsAcceptor::from(Arc::new(files.config()?));
        Ok(Self {
            files: Arc::new(files),
            current: Arc::new(RwLock::new(Current { fingerprint, acceptor })),
        })
    }

    /// Reloads the configuration if its files changed. A broken replacement keeps the current
    /// configuration (and says so); the next check tries again.
    pub fn reload(&self) {
        let fingerprint = match self.files.fingerprint() {
            Ok(fingerprint) => fingerprint,
            Err(error) => {
                tracing::warn!(%error, "TLS files unreadable; keeping the current certificate");
                return;
            }
        };
        if self.current.read().is_ok_and(|current| current.fingerprint == fingerprint) {
            return;
        }
        match self.files.config() {
            Ok(config) => {
                if let Ok(mut current) = self.current.write() {
                    *current =
                        Current { fingerprint, acceptor: TlsAcceptor::from(Arc::new(config)) };
                    tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "replaced TLS files are unusable; keeping the current certificate");
            }
        }
    }

    fn acceptor(&self) -> Option<TlsAcceptor> {
        self.current.read().ok().map(|current| current.acceptor.clone())
    }

    /// The TLS connections accepted on `listener`, checking the files every `reload_every`.
    /// Handshakes run side by side, each bounded in time; one that fails is dropped (and
    /// logged), never handed on.
    pub fn incoming(
        self,
        listener: TcpListener,
        reload_every: Duration,
    ) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
        let (accepted, incoming) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut reload = tokio::time::interval(reload_every);
            reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let (stream, peer) = tokio::select! {
                    _ = reload.tick() => {
                        self.reload();
                        continue;
                    }
                    () = accepted.closed() => return,
                    connection = listener.accept() => match connection {
                        Ok(connection) => connection,
                        Err(error) => {
                            tracing::warn!(%error, "accepting a connection failed");
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let (Some(acceptor), accepted) = (self.acceptor(), accepted.clone()) else {
                    continue;
                };
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = accepted.send(Ok(tls)).await;
                        }
                        Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake refused"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        ReceiverStream::new(incoming)
    }
}

/// The client side's files.
#[derive(Clone, Debug)]
pub struct ClientFiles {
    /// The CA the server's certificate must chain to.
    pub ca: PathBuf,
    /// The client's own certificate and key, for mutual TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// The name the server's certificate must carry.
    pub domain: String,
}

impl ClientFiles {
    /// Every file's content, to notice a replacement.
    ///
    /// # Errors
    /// When a file cannot be read.
    pub fn fingerprint(&self) -> Result<Vec<u8>, TlsError> {
        let mut all = read(&self.ca)?;
        if let Some((cert, key)) = &self.identity {
            all.extend(read(cert)?);
            all.extend(read(key)?);
        }
        Ok(all)
    }

    /// tonic's client configuration of these files.
    ///
    /// # Errors
    /// When a file cannot be read or holds no PEM certificate (or key).
    pub fn config(&self) -> Result<tonic::transport::ClientTlsConfig, TlsError> {
        certificates(&self.ca)?;
        let mut config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(read(&self.ca)?))
            .domain_name(self.domain.clone());
        if let Some((cert, key)) = &self.identity {
            certificates(cert)?;
            private_key(key)?;
            config = config.identity(tonic::transport::Identity::from_pem(read(cert)?, read(key)?));
        }
        Ok(config)
    }
}
