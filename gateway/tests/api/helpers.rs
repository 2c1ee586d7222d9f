//! Test harness: a real ticket service on its own database, and a real gateway in front of it,
//! both on ephemeral ports, called over HTTP as a partner would.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use ticket_gateway::{
    AllowedOrigins, Gateway, HttpSettings, Listeners, StreamSettings, Timeouts,
    auth::{Auth, AuthSettings},
    upstream::{
        balance::{BalanceSettings, Resolve},
        channel::ServiceChannel,
    },
};
use ticket_service::grpc::ServerSettings;
use tickets_contract::v2;
use tickets_runtime::tls::ClientFiles;
use tickets_testing::{Backend, TestDb, TestService, eventually, grpc, metrics};
use tokio::{net::TcpListener, sync::oneshot};
use uuid::Uuid;

pub(crate) use crate::common::Client;
use crate::common::{credentials_toml, http_client};

/// A fresh P-256 key in PKCS#8 PEM.
pub(crate) fn p256_pem() -> String {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("random");
        if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
            return key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
        }
    }
}

/// Where the gateway sends its calls.
#[derive(Clone)]
pub(crate) enum Upstream {
    /// The test's own ticket service.
    TestService,
    /// This URL (`http://…`, or `dns:///…` to balance over what the name resolves to).
    Url(String),
    /// Balanced over whatever this resolves to.
    Balanced(Resolve),
}

/// How to start the gateway.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) rate_per_second: u32,
    pub(crate) rate_burst: u32,
    pub(crate) daily_quota: u32,
    /// Redis for the counts (in-process without).
    pub(crate) redis_url: Option<String>,
    pub(crate) request_timeout: Duration,
    pub(crate) server_timeout: Duration,
    pub(crate) jwks_url: Option<String>,
    pub(crate) upstream: Upstream,
    pub(crate) balance: BalanceSettings,
    /// TLS towards a balanced upstream (`Upstream::Balanced` only).
    pub(crate) upstream_tls: Option<ClientFiles>,
    /// Clients configured besides `a` and `b`.
    pub(crate) clients: Vec<Client>,
    /// The partner connections' timeouts.
    pub(crate) timeouts: Timeouts,
    /// Most partner connections open at once.
    pub(crate) max_connections: usize,
    /// The event streams' cap and keep-alive.
    pub(crate) streams: StreamSettings,
    /// The origins allowed to call from a browser.
    pub(crate) cors: AllowedOrigins,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rate_per_second: 0,
            rate_burst: 0,
            daily_quota: 0,
            redis_url: None,
            request_timeout: Duration::from_secs(5),
            server_timeout: Duration::from_secs(10),
            jwks_url: None,
            upstream: Upstream::TestService,
            balance: BalanceSettings::default(),
            upstream_tls: None,
            clients: Vec::new(),
            timeouts: Timeouts {
                header_read: Duration::from_secs(10),
                idle: Duration::from_secs(60),
            },
            max_connections: 10_000,
            streams: StreamSettings::default(),
            cors: AllowedOrigins::default(),
        }
    }
}

impl Options {
    /// Balanced over exactly `addresses` (a resolver that always answers them), re-resolved and
    /// probed every 200 ms so that tests see instances leave and return quickly.
    pub(crate) fn balanced_over(addresses: Vec<SocketAddr>) -> Self {
        let resolve: Resolve = std::sync::Arc::new(move || {
            let addresses = addresses.clone();
            Box::pin(async move { Ok(addresses) })
        });
        Self {
            upstream: Upstream::Balanced(resolve),
            balance: BalanceSettings {
                refresh: Duration::from_millis(200),
                probe_timeout: Duration::from_millis(500),
                ..BalanceSettings::default()
            },
            ..Self::default()
        }
    }
}

/// A gateway, a ticket service, a database, and two clients of different providers.
#[derive(Debug)]
pub(crate) struct TestGateway {
    /// Where its Prometheus `/metrics` endpoint listens.
    pub(crate) metrics_addr: SocketAddr,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) a: Client,
    pub(crate) b: Client,
    pub(crate) signing_key_pem: String,
    stop: Option<oneshot::Sender<()>>,
    pub(crate) service: TestService,
    _files: tempfile::TempDir,
    pub(crate) database: TestDb,
}

impl TestGateway {
    pub(crate) async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, Options::default()).await
    }

    pub(crate) async fn start_with(backend: Backend, options: Options) -> Option<Self> {
        let database = TestDb::create(backend).await?;
        let service = TestService::start(&database.url, ServerSettings::default()).await;
        let files = tempfile::tempdir().expect("temp dir");
        let (a, b) = (Client::new("alpha"), Client::new("beta"));
        let credentials_file = files.path().join("clients.toml");
        let clients: Vec<&Client> = [&a, &b].into_iter().chain(&options.clients).collect();
        std::fs::write(&credentials_file, credentials_toml(&clients)).expect("write clients");
        let signing_key_pem = tickets_testing::tokens::KEY_PEM.clone();
        let signing_key_file: PathBuf = files.path().join("signing-key.pem");
        std::fs::write(&signing_key_file, &signing_key_pem).expect("write key");
        let settings = AuthSettings {
            credentials_file: Some(credentials_file),
            signing_key_file: Some(signing_key_file),
            issuer: "ticket-gateway".into(),
            audience: "tickets-api".into(),
            token_lifetime: Duration::from_secs(3600),
            jwks_url: options.jwks_url.clone(),
            rate_per_second: options.rate_per_second,
            rate_burst: options.rate_burst,
            daily_quota: options.daily_quota,
            redis_url: options.redis_url.clone(),
        };
        let (timeout, balance) = (options.request_timeout, options.balance);
        let service_channel = match options.upstream.clone() {
            Upstream::TestService => {
                ServiceChannel::connect(&format!("http://{}", service.addr), timeout, balance, None)
            }
            Upstream::Url(url) => ServiceChannel::connect(&url, timeout, balance, None),
            Upstream::Balanced(resolve) => {
                ServiceChannel::balanced(resolve, timeout, balance, options.upstream_tls.clone())
            }
        };
        let gateway = Gateway::new(
            service_channel.expect("channel"),
            Auth::load(&settings).expect("auth"),
            HttpSettings {
                request_timeout: options.request_timeout,
                server_timeout: options.server_timeout,
                shutdown_grace: Duration::from_secs(5),
                timeouts: options.timeouts,
                max_connections: options.max_connections,
                streams: options.streams,
                cors: options.cors.clone(),
            },
        )
        .expect("gateway");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind metrics");
        let metrics_addr = metrics.local_addr().expect("metrics addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(gateway.serve(Listeners { http: listener, metrics }, async move {
            let _ = stopped.await;
        }));
        Some(Self {
            metrics_addr,
            base: format!("http://{addr}"),
            http: http_client(),
            a,
            b,
            signing_key_pem,
            stop: Some(stop),
            service,
            _files: files,
            database,
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signals the gateway to shut down.
    pub(crate) fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// A token for `client` from the token endpoint.
    pub(crate) async fn token(&self, client: &Client) -> String {
        crate::common::token(&self.http, &self.base, client).await
    }

    /// A request with `client`'s token and API key.
    pub(crate) async fn as_client(
        &self,
        client: &Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let token = self.token(client).await;
        self.http
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("x-api-key", &client.api_key)
    }

    /// GET `path` with `token` as the bearer token and `client`'s API key.
    pub(crate) async fn get_with(
        &self,
        client: &Client,
        token: &str,
        path: &str,
    ) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .header("x-api-key", &client.api_key)
            .send()
            .await
            .expect("send")
    }

    /// GET `path` as client A.
    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.as_client(&self.a, reqwest::Method::GET, path).await.send().await.expect("send")
    }

    /// PATCH `path` as client A with a JSON body.
    pub(crate) async fn patch_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.as_client(&self.a, reqwest::Method::PATCH, path)
            .await
            .json(body)
            .send()
            .await
            .expect("send")
    }

    /// PATCH `path` as client A with `body`, of `content_type` when given.
    pub(crate) async fn patch_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self.as_client(&self.a, reqwest::Method::PATCH, path).await.body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.expect("send")
    }

    /// `GET /readyz` until it answers `status`, for at most `timeout`.
    pub(crate) async fn wait_ready(&self, status: u16, timeout: Duration) -> bool {
        eventually(timeout, || async move {
            let response = self.http.get(self.url("/readyz")).send().await.expect("send");
            response.status() == status
        })
        .await
    }

    /// Waits (at most 10 s) until the gateway balances over exactly `pods` ticket services:
    /// its `upstream_endpoints` gauge.
    pub(crate) async fn balances_over(&self, pods: u32) -> bool {
        eventually(Duration::from_secs(10), || async move {
            let text = metrics::scrape(self.metrics_addr).await;
            metrics::sample(&text, "upstream_endpoints", &[]) == Some(f64::from(pods))
        })
        .await
    }

    /// Opens a pending ticket for `provider` (through gRPC: REST has no create).
    pub(crate) async fn ticket(&self, provider: Uuid) -> v2::PendingTicket {
        grpc::create_ticket(&self.service.channel, provider).await.expect("create ticket")
    }

    /// Creates an employee of `provider` (enabled operator unless told otherwise).
    pub(crate) async fn employee(&self, provider: Uuid, is_operator: bool, enabled: bool) -> Uuid {
        grpc::create_employee(&self.service.channel, provider, is_operator, enabled).await
    }

    pub(crate) async fn operator(&self, provider: Uuid) -> Uuid {
        self.employee(provider, true, true).await
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A start-service body.
pub(crate) fn start_service(operator: Uuid) -> serde_json::Value {
    serde_json::json!({"transition": {"type": "start-service", "operator_id": operator}})
}

/// Asserts `response` is a problem with `status` and returns its body.
pub(crate) async fn problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status);
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "problem has {member}: {body}");
    }
    body
}

/// The violated fields of a 400 problem.
pub(crate) async fn violations(response: reqwest::Response) -> Vec<String> {
    let body = problem(response, 400).await;
    assert_eq!(body["type"], "/problems/violations");
    assert_eq!(body["title"], "Bad request");
    body["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| v["field"].as_str().expect("field").to_owned())
        .collect()
}

/// How many calls of `method` (e.g. `ListPendingTickets`) the ticket service whose `/metrics`
/// listens on `metrics_addr` has answered, whatever their status.
pub(crate) async fn calls_answered(metrics_addr: SocketAddr, method: &str) -> f64 {
    let method = format!("tickets.v2.TicketService/{method}");
    let text = metrics::scrape(metrics_addr).await;
    metrics::total(&text, "grpc_server_requests_total", &[("method", &method)])
}

/// Declares one test per backend: `mod $name { sqlite, postgres }`, each with a fresh system.
macro_rules! e2e_test {
    ($name:ident, |$gw:ident| $body:block) => {
        tickets_testing::test_each_backend!($name, $crate::helpers::TestGateway, |$gw| $body);
    };
}
pub(crate) use e2e_test;

/// A TCP proxy the test can cut (every connection dropped, the port closed — what a crashed
/// pod or a network partition looks like) and restore on the same address.
#[derive(Debug)]
pub(crate) struct TcpProxy {
    pub(crate) addr: std::net::SocketAddr,
    target: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TcpProxy {
    /// Listens on `bind` (port 0 for any) and forwards to `target`.
    pub(crate) async fn start(bind: &str, target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind(bind).await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        Self { addr, target, task: Some(Self::run(listener, target)) }
    }

    fn run(listener: TcpListener, target: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        })
    }

    /// Drops every connection and stops listening.
    pub(crate) async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    pub(crate) async fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind proxy");
        self.task = Some(Self::run(listener, self.target));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
