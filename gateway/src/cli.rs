//! Command line: flags whose defaults are the environment variables of CONTRACT §5.

use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use tickets_contract::runtime::{shutdown_signal, telemetry::LogFormat};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};

use crate::{
    Gateway, HttpSettings,
    auth::{Auth, AuthSettings},
    balance::{
        BalanceSettings, Balancer, Resolve, balanced_channel, dns_resolver, parse_dns_target,
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
    #[arg(long, env = "GATEWAY_RATE_LIMIT_PER_SECOND", default_value_t = 5)]
    pub rate_limit_per_second: u32,

    /// Burst per client.
    #[arg(long, env = "GATEWAY_RATE_LIMIT_BURST", default_value_t = 10)]
    pub rate_limit_burst: u32,

    /// How long in-flight requests may finish after SIGTERM, in seconds.
    #[arg(long, env = "GATEWAY_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Threads of the async runtime; default: one per CPU the process may use. A pod with
    /// less than a core of its own does best with 1 (fewer thread wake-ups per request); scale
    /// out with replicas.
    #[arg(long, env = "GATEWAY_WORKER_THREADS")]
    pub worker_threads: Option<NonZeroUsize>,
}

/// How calls reach the ticket service: one channel, balanced over every pod for `dns:///`.
#[derive(Clone, Debug)]
pub struct ServiceChannel {
    pub(crate) channel: Channel,
    pub(crate) balancer: Option<Balancer>,
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

impl ServiceChannel {
    /// `http://host:port`: one HTTP/2 connection, made lazily so that the gateway starts (and
    /// answers 503) while the service is down. `dns:///name:port`: balanced over every address
    /// the name resolves to (see `balance`).
    ///
    /// # Errors
    /// When the URL is malformed.
    pub fn connect(
        url: &str,
        request_timeout: Duration,
        balance: BalanceSettings,
    ) -> anyhow::Result<Self> {
        if url.starts_with("dns:") {
            let (host, port) = parse_dns_target(url).with_context(|| {
                format!("GATEWAY_TICKET_SERVICE_URL {url:?} must look like dns:///name:port")
            })?;
            return Self::balanced(dns_resolver(host, port), request_timeout, balance);
        }
        Ok(Self { channel: endpoint(url, request_timeout)?.connect_lazy(), balancer: None })
    }

    /// Balanced over whatever `resolve` returns (tests resolve to fixed loopback addresses).
    ///
    /// # Errors
    /// Never in practice (the per-address URLs are well formed).
    pub fn balanced(
        resolve: Resolve,
        request_timeout: Duration,
        balance: BalanceSettings,
    ) -> anyhow::Result<Self> {
        endpoint("http://127.0.0.1:1", request_timeout)?;
        let (channel, balancer) = balanced_channel(
            resolve,
            move |address| {
                endpoint(&format!("http://{address}"), request_timeout)
                    .unwrap_or_else(|_| Endpoint::from_static("http://127.0.0.1:1"))
            },
            balance,
        );
        Ok(Self { channel, balancer: Some(balancer) })
    }
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
        let service = ServiceChannel::connect(&self.ticket_service_url, request_timeout, balance)?;
        let gateway = Gateway::new(
            service,
            auth,
            HttpSettings {
                request_timeout,
                server_timeout: Duration::from_millis(self.server_timeout_ms),
                shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
            },
        )?;
        let listener = TcpListener::bind(self.http_addr)
            .await
            .with_context(|| format!("binding {}", self.http_addr))?;
        tracing::info!(addr = %listener.local_addr()?, upstream = %self.ticket_service_url, "ticket-gateway listening (HTTP)");
        gateway.serve(listener, shutdown_signal()).await?;
        tracing::info!("ticket-gateway stopped");
        Ok(())
    }
}
