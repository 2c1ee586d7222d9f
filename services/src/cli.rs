//! Command line: flags whose defaults are the environment variables of docs/operations.md.

use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use tickets_runtime::tls::{ServerFiles, ServerTls};
use tickets_tokens::{Audience, KeySet, RemoteKeys, Verifier, VerifyingKey};

use crate::{
    demo,
    grpc::{self, Callers, Security, ServerSettings},
    metrics::Metrics,
    store::{self, PoolSettings},
};
use tickets_runtime::{shutdown_signal, telemetry::LogFormat};

/// The ticket service: owns the ticket store and serves `tickets.v2` over gRPC.
#[derive(Debug, Parser)]
#[command(name = "ticket-service", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Database URL: `sqlite://path?mode=rwc` (embedded) or `postgres://user@host/db`.
    #[arg(
        long,
        env = "TICKETS_DATABASE_URL",
        default_value = "sqlite://tickets.db?mode=rwc",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Address the gRPC server listens on.
    #[arg(long, env = "TICKETS_GRPC_ADDR", default_value = "0.0.0.0:50051", global = true)]
    pub grpc_addr: SocketAddr,

    /// A plaintext address serving only `grpc.health.v1`, for probes that cannot use TLS
    /// (Kubernetes' gRPC probes) while the main port requires it; none when unset.
    #[arg(long, env = "TICKETS_HEALTH_ADDR", global = true)]
    pub health_addr: Option<SocketAddr>,

    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, env = "TICKETS_METRICS_ADDR", default_value = "0.0.0.0:9464", global = true)]
    pub metrics_addr: SocketAddr,

    /// Most database connections open at once.
    #[arg(long, env = "TICKETS_DB_MAX_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub db_max_connections: u32,

    /// How long a call waits for a database connection before failing UNAVAILABLE (ms).
    #[arg(long, env = "TICKETS_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..=600_000), global = true)]
    pub db_acquire_timeout_ms: u64,

    /// How often the database is pinged to keep the gRPC health status (and so readiness) true,
    /// in ms: about how long a database outage or recovery can go unreported.
    #[arg(long, env = "TICKETS_HEALTH_INTERVAL_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=60_000), global = true)]
    pub health_interval_ms: u64,

    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(long, env = "TICKETS_MAX_MESSAGE_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=64 * 1024 * 1024), global = true)]
    pub max_message_bytes: u64,

    /// How long in-flight calls may finish after SIGTERM before they are dropped (seconds).
    #[arg(long, env = "TICKETS_SHUTDOWN_GRACE_SECONDS", default_value_t = 20, global = true)]
    pub shutdown_grace_seconds: u64,

    /// How many days events are kept in the log (docs/events.md); older ones are deleted.
    #[arg(long, env = "TICKETS_EVENT_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650), global = true)]
    pub event_retention_days: u64,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Threads of the async runtime; default: one per CPU the process may use.
    #[arg(long, env = "TICKETS_WORKER_THREADS", global = true)]
    pub worker_threads: Option<NonZeroUsize>,

    /// The key callers' tokens are signed with, in PEM: a P-256 public key, or the gateway's
    /// private key file (its public half is used).
    #[arg(long, env = "TICKETS_TOKEN_PUBLIC_KEY_FILE", global = true)]
    pub token_public_key_file: Option<PathBuf>,

    /// Comma-separated JWKS URLs whose keys sign callers' tokens (the gateway's
    /// `/.well-known/jwks.json`, an external issuer's): `https://`, or `http://` for loopback
    /// hosts only.
    #[arg(long, env = "TICKETS_JWKS_URLS", value_delimiter = ',', global = true)]
    pub jwks_urls: Vec<String>,

    /// The only `iss` accepted in callers' tokens.
    #[arg(long, env = "TICKETS_TOKEN_ISSUER", default_value = "ticket-gateway", global = true)]
    pub token_issuer: String,

    /// The only `aud` accepted in callers' tokens.
    #[arg(long, env = "TICKETS_TOKEN_AUDIENCE", default_value = "tickets-api", global = true)]
    pub token_audience: String,

    /// The server's certificate chain (PEM): with its key, the gRPC port speaks TLS only.
    #[arg(long, env = "TICKETS_TLS_CERT_FILE", requires = "tls_key_file", global = true)]
    pub tls_cert_file: Option<PathBuf>,

    /// The private key of the server's certificate (PEM).
    #[arg(long, env = "TICKETS_TLS_KEY_FILE", requires = "tls_cert_file", global = true)]
    pub tls_key_file: Option<PathBuf>,

    /// The CA whose client certificates are required (mutual TLS).
    #[arg(long, env = "TICKETS_TLS_CLIENT_CA_FILE", requires = "tls_cert_file", global = true)]
    pub tls_client_ca_file: Option<PathBuf>,
}

/// How many verified tokens the service remembers.
const VERIFIED_CAPACITY: usize = 10_000;

/// The subcommands.
#[derive(Debug, Subcommand, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Apply migrations, then serve gRPC until SIGTERM or Ctrl-C (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Apply migrations and create the demo provider, its employees and 50 pending tickets
    /// (idempotent: running it again changes nothing).
    SeedDemo,
}

impl Cli {
    fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_millis(self.db_acquire_timeout_ms),
            ..PoolSettings::default()
        }
    }

    /// How callers are verified: against the configured key sources. Without one the service
    /// only starts on a loopback address, and then checks no token at all.
    fn callers(&self) -> anyhow::Result<Callers> {
        let mut keys = KeySet::default();
        if let Some(path) = &self.token_public_key_file {
            keys =
                keys.with_key(VerifyingKey::load(path).context("TICKETS_TOKEN_PUBLIC_KEY_FILE")?);
        }
        for url in self.jwks_urls.iter().map(|url| url.trim()).filter(|url| !url.is_empty()) {
            keys = keys.with_remote(RemoteKeys::new(url).context("TICKETS_JWKS_URLS")?);
        }
        if keys.is_empty() {
            anyhow::ensure!(
                self.grpc_addr.ip().is_loopback(),
                "no key to verify callers' tokens with: set TICKETS_TOKEN_PUBLIC_KEY_FILE or TICKETS_JWKS_URLS (verification cannot be off on {}, which is not a loopback address)",
                self.grpc_addr
            );
            tracing::warn!(
                addr = %self.grpc_addr,
                "TICKETS_TOKEN_PUBLIC_KEY_FILE and TICKETS_JWKS_URLS are unset: callers' tokens are NOT verified (allowed on a loopback address only)"
            );
            return Ok(Callers::unverified());
        }
        let audience =
            Audience { issuer: self.token_issuer.clone(), audience: self.token_audience.clone() };
        Ok(Callers::verified(Verifier::new(keys, audience, VERIFIED_CAPACITY)))
    }

    /// TLS on the gRPC port, when a certificate is configured.
    fn tls(&self) -> anyhow::Result<Option<ServerTls>> {
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return Ok(None);
        };
        let files = ServerFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: self.tls_client_ca_file.clone(),
        };
        Ok(Some(ServerTls::load(files).context(
            "TICKETS_TLS_CERT_FILE / TICKETS_TLS_KEY_FILE / TICKETS_TLS_CLIENT_CA_FILE",
        )?))
    }

    /// Runs the chosen command.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the server cannot start.
    pub async fn run(self) -> anyhow::Result<()> {
        let db = store::connect(&self.database_url, self.pool_settings())?;
        store::migrate(&db).await.context("applying migrations")?;
        match self.command.unwrap_or(Command::Serve) {
            Command::Migrate => {
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::SeedDemo => {
                let summary = demo::seed(&db).await?;
                tracing::info!(
                    provider_id = %demo::PROVIDER_ID,
                    tickets_created = summary.tickets_created,
                    "demo data ready"
                );
                Ok(())
            }
            Command::Serve => {
                let health_listener = match self.health_addr {
                    Some(addr) => Some(
                        TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?,
                    ),
                    None => None,
                };
                let security =
                    Security { callers: self.callers()?, tls: self.tls()?, health_listener };
                let listener = TcpListener::bind(self.grpc_addr)
                    .await
                    .with_context(|| format!("binding {}", self.grpc_addr))?;
                let metrics_listener = TcpListener::bind(self.metrics_addr)
                    .await
                    .with_context(|| format!("binding {}", self.metrics_addr))?;
                tracing::info!(addr = %listener.local_addr()?, "ticket-service listening (gRPC)");
                tracing::info!(addr = %metrics_listener.local_addr()?, "metrics listening (HTTP /metrics)");
                let metrics = Metrics::new(db.clone());
                let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
                let metrics_server = tokio::spawn(tickets_runtime::metrics::serve(
                    metrics_listener,
                    metrics.clone(),
                    async move {
                        let _ = metrics_stopped.await;
                    },
                ));
                let settings = ServerSettings {
                    max_message_bytes: usize::try_from(self.max_message_bytes)
                        .unwrap_or(usize::MAX),
                    shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
                    health_interval: Duration::from_millis(self.health_interval_ms),
                    tls_reload: tickets_runtime::tls::RELOAD_EVERY,
                    event_retention: Duration::from_secs(self.event_retention_days * 24 * 3600),
                };
                let served =
                    grpc::serve(listener, db, metrics, settings, security, shutdown_signal()).await;
                let _ = metrics_stop.send(());
                let _ = metrics_server.await;
                served?;
                tracing::info!("ticket-service stopped");
                Ok(())
            }
        }
    }
}
