//! Command line: flags whose defaults are the environment variables of docs/operations.md.

use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use tickets_runtime::{shutdown_signal, telemetry::LogFormat};
use tokio::net::TcpListener;

use crate::{
    AllowedOrigins, Gateway, HttpSettings, Listeners, StreamSettings, Timeouts,
    auth::{Auth, AuthSettings},
    upstream::{
        balance::BalanceSettings,
        channel::{ServiceChannel, UpstreamTls},
    },
};

/// The REST gateway: serves the partner `/v2` API by calling the ticket service over gRPC.
#[derive(Debug, Parser)]
#[command(name = "ticket-gateway", version, about)]
pub struct Cli {
    /// Address the HTTP server listens on.
    #[arg(long, env = "GATEWAY_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// The ticket service: `http://host:port`, or `dns:///name:port` to balance over every
    /// address the name resolves to (a headless Service on Kubernetes).
    #[arg(long, env = "GATEWAY_TICKET_SERVICE_URL", default_value = "http://127.0.0.1:50051")]
    pub ticket_service_url: String,

    /// With a `dns:///` URL: how often the name is resolved and each pod's health probed, in ms.
    #[arg(long, env = "GATEWAY_DNS_REFRESH_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub dns_refresh_ms: u64,

    /// Deadline of each call to the ticket service, in ms (sent on as `grpc-timeout`; 504 after it).
    #[arg(long, env = "GATEWAY_REQUEST_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub request_timeout_ms: u64,

    /// Deadline of a whole HTTP request including its body upload, in ms (408 after it).
    #[arg(long, env = "GATEWAY_SERVER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub server_timeout_ms: u64,

    /// The clients file (TOML; hashed secrets and API keys).
    #[arg(long, env = "GATEWAY_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,

    /// The ES256 signing key (P-256, PEM). Without it a fresh key is made at each start.
    #[arg(long, env = "GATEWAY_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,

    /// `iss` of issued tokens and the only issuer accepted.
    #[arg(long, env = "GATEWAY_TOKEN_ISSUER", default_value = "ticket-gateway")]
    pub token_issuer: String,

    /// `aud` of issued tokens and the only audience accepted.
    #[arg(long, env = "GATEWAY_TOKEN_AUDIENCE", default_value = "tickets-api")]
    pub token_audience: String,

    /// Lifetime of issued tokens, in seconds.
    #[arg(long, env = "GATEWAY_TOKEN_LIFETIME_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub token_lifetime_seconds: u64,

    /// An external issuer's JWKS URL, whose ES256 tokens are accepted too.
    #[arg(long, env = "GATEWAY_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// Requests per second per client; 0 disables the limit.
    #[arg(long, env = "GATEWAY_RATE_LIMIT_PER_SECOND", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub rate_limit_per_second: u32,

    /// Burst per client.
    #[arg(long, env = "GATEWAY_RATE_LIMIT_BURST", default_value_t = 10)]
    pub rate_limit_burst: u32,

    /// Requests per client per UTC day; 0: no quota.
    #[arg(long, env = "GATEWAY_DAILY_QUOTA", default_value_t = 50_000)]
    pub daily_quota: u32,

    /// Redis (`redis://` or `rediss://`, a password in the URL allowed) where every replica
    /// counts rate limits and quotas; without it each process counts alone.
    #[arg(long, env = "GATEWAY_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Address of the Prometheus `/metrics` endpoint (never the partner port).
    #[arg(long, env = "GATEWAY_METRICS_ADDR", default_value = "0.0.0.0:9465")]
    pub metrics_addr: SocketAddr,

    /// How long a connection may take to send a complete request head, in ms (counted from when
    /// it opens, or from the first byte of its next request); it is closed after that.
    #[arg(long, env = "GATEWAY_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub header_read_timeout_ms: u64,

    /// How long an idle keep-alive connection stays open, in ms.
    #[arg(long, env = "GATEWAY_IDLE_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub idle_timeout_ms: u64,

    /// Most event streams (`GET /v2/tickets/events` as `text/event-stream`) a client may have
    /// open at once; more are refused with 429.
    #[arg(long, env = "GATEWAY_MAX_STREAMS_PER_CLIENT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_streams_per_client: u64,

    /// How often an event stream sends a keep-alive comment, in ms.
    #[arg(long, env = "GATEWAY_STREAM_KEEP_ALIVE_MS", default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(100..=15_000), hide = true)]
    pub stream_keep_alive_ms: u64,

    /// Origins browsers may call the API from (CORS), comma-separated, such as
    /// `https://partner.example,http://localhost:3000`; unset: no CORS headers at all.
    #[arg(long, env = "GATEWAY_CORS_ALLOWED_ORIGINS", default_value = "")]
    pub cors_allowed_origins: AllowedOrigins,

    /// Most connections open at once; further ones wait unaccepted in the listen backlog.
    #[arg(long, env = "GATEWAY_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// How long in-flight requests may finish after SIGTERM, in seconds.
    #[arg(long, env = "GATEWAY_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The CA the ticket service's certificate must chain to: `dns:///` and `https://` URLs then
    /// use TLS.
    #[arg(long, env = "GATEWAY_TICKET_SERVICE_CA_FILE")]
    pub ticket_service_ca_file: Option<PathBuf>,

    /// The gateway's client certificate towards the ticket service (mutual TLS).
    #[arg(
        long,
        env = "GATEWAY_TICKET_SERVICE_CLIENT_CERT_FILE",
        requires = "ticket_service_client_key_file",
        requires = "ticket_service_ca_file"
    )]
    pub ticket_service_client_cert_file: Option<PathBuf>,

    /// The key of that certificate.
    #[arg(
        long,
        env = "GATEWAY_TICKET_SERVICE_CLIENT_KEY_FILE",
        requires = "ticket_service_client_cert_file"
    )]
    pub ticket_service_client_key_file: Option<PathBuf>,

    /// Threads of the async runtime; default: one per CPU the process may use. A pod with
    /// less than a core of its own does best with 1 (fewer thread wake-ups per request); scale
    /// out with replicas.
    #[arg(long, env = "GATEWAY_WORKER_THREADS")]
    pub worker_threads: Option<NonZeroUsize>,
}

impl Cli {
    fn auth_settings(&self) -> AuthSettings {
        AuthSettings {
            credentials_file: self.credentials_file.clone(),
            signing_key_file: self.signing_key_file.clone(),
            issuer: self.token_issuer.clone(),
            audience: self.token_audience.clone(),
            token_lifetime: Duration::from_secs(self.token_lifetime_seconds),
            jwks_url: self.jwks_url.clone(),
            rate_per_second: self.rate_limit_per_second,
            rate_burst: self.rate_limit_burst,
            daily_quota: self.daily_quota,
            redis_url: self.redis_url.clone().filter(|url| !url.is_empty()),
        }
    }

    /// Runs the gateway until SIGTERM or Ctrl-C.
    ///
    /// # Errors
    /// When the configuration is unusable or the listener cannot be bound.
    pub async fn run(self) -> anyhow::Result<()> {
        let request_timeout = Duration::from_millis(self.request_timeout_ms);
        let auth = Auth::load(&self.auth_settings())?;
        let balance = BalanceSettings {
            refresh: Duration::from_millis(self.dns_refresh_ms),
            ..BalanceSettings::default()
        };
        let tls = self.ticket_service_ca_file.clone().map(|ca| UpstreamTls {
            ca,
            identity: self
                .ticket_service_client_cert_file
                .clone()
                .zip(self.ticket_service_client_key_file.clone()),
        });
        let service =
            ServiceChannel::connect(&self.ticket_service_url, request_timeout, balance, tls)?;
        let gateway = Gateway::new(
            service,
            auth,
            HttpSettings {
                request_timeout,
                server_timeout: Duration::from_millis(self.server_timeout_ms),
                shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
                timeouts: Timeouts {
                    header_read: Duration::from_millis(self.header_read_timeout_ms),
                    idle: Duration::from_millis(self.idle_timeout_ms),
                },
                max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
                streams: StreamSettings {
                    max_per_client: usize::try_from(self.max_streams_per_client)
                        .unwrap_or(usize::MAX),
                    keep_alive: Duration::from_millis(self.stream_keep_alive_ms),
                    ..StreamSettings::default()
                },
                cors: self.cors_allowed_origins.clone(),
            },
        )?;
        let listener = TcpListener::bind(self.http_addr)
            .await
            .with_context(|| format!("binding {}", self.http_addr))?;
        tracing::info!(addr = %listener.local_addr()?, upstream = %self.ticket_service_url, "ticket-gateway listening (HTTP)");
        let metrics = TcpListener::bind(self.metrics_addr)
            .await
            .with_context(|| format!("binding {}", self.metrics_addr))?;
        tracing::info!(addr = %metrics.local_addr()?, "metrics listening (HTTP /metrics)");
        gateway.serve(Listeners { http: listener, metrics }, shutdown_signal()).await?;
        tracing::info!("ticket-gateway stopped");
        Ok(())
    }
}
