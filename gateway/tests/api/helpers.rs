//! Test harness: a real ticket service on its own database, and a real gateway in front of it,
//! both on ephemeral ports, called over HTTP as a partner would.

use std::{path::PathBuf, time::Duration};

use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use sha2::{Digest as _, Sha256};
use ticket_gateway::{
    Gateway, HttpSettings,
    auth::{Auth, AuthSettings},
    upstream::{balance::BalanceSettings, channel::ServiceChannel},
};
use ticket_service::grpc::ServerSettings;
use tickets_contract::v2::{
    self, employee_service_client::EmployeeServiceClient,
    ticket_service_client::TicketServiceClient,
};
use tickets_testing::{Backend, TestDb, TestService, as_provider};
use tokio::{net::TcpListener, sync::oneshot};
use uuid::Uuid;

/// A configured client: its secret, API key and provider.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) api_key: String,
    pub(crate) provider: Uuid,
}

impl Client {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            secret: format!("{id}-secret-{}", Uuid::new_v4().simple()),
            api_key: format!("{id}-key-{}", Uuid::new_v4().simple()),
            provider: Uuid::new_v4(),
        }
    }
}

fn hex_sha256(value: &str) -> String {
    Sha256::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The clients file for `clients`.
pub(crate) fn credentials_toml(clients: &[&Client]) -> String {
    clients
        .iter()
        .map(|c| {
            format!(
                "[[clients]]\nclient_id = \"{}\"\nclient_secret_sha256 = \"{}\"\napi_key_sha256 = \"{}\"\nprovider_id = \"{}\"\n\n",
                c.id,
                hex_sha256(&c.secret),
                hex_sha256(&c.api_key),
                c.provider
            )
        })
        .collect()
}

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

/// How to start the gateway.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) rate_per_second: u32,
    pub(crate) rate_burst: u32,
    pub(crate) request_timeout: Duration,
    pub(crate) server_timeout: Duration,
    pub(crate) jwks_url: Option<String>,
    /// Point the gateway at this address instead of the test service.
    pub(crate) upstream: Option<String>,
    /// Balance over whatever this resolves to instead.
    pub(crate) balanced: Option<ticket_gateway::upstream::balance::Resolve>,
    pub(crate) balance: BalanceSettings,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rate_per_second: 0,
            rate_burst: 0,
            request_timeout: Duration::from_secs(5),
            server_timeout: Duration::from_secs(10),
            jwks_url: None,
            upstream: None,
            balanced: None,
            balance: BalanceSettings::default(),
        }
    }
}

impl Options {
    /// Balanced over exactly `addresses` (a resolver that always answers them), re-resolved and
    /// probed every 200 ms so that tests see instances leave and return quickly.
    pub(crate) fn balanced_over(addresses: Vec<std::net::SocketAddr>) -> Self {
        let resolve: ticket_gateway::upstream::balance::Resolve = std::sync::Arc::new(move || {
            let addresses = addresses.clone();
            Box::pin(async move { Ok(addresses) })
        });
        Self {
            balanced: Some(resolve),
            balance: BalanceSettings {
                refresh: Duration::from_millis(200),
                probe_timeout: Duration::from_millis(500),
            },
            ..Self::default()
        }
    }
}

/// A gateway, a ticket service, a database, and two clients of different providers.
#[derive(Debug)]
pub(crate) struct TestGateway {
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
        std::fs::write(&credentials_file, credentials_toml(&[&a, &b])).expect("write clients");
        let signing_key_pem = p256_pem();
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
        };
        let upstream =
            options.upstream.clone().unwrap_or_else(|| format!("http://{}", service.addr));
        let service_channel = match options.balanced.clone() {
            Some(resolve) => {
                ServiceChannel::balanced(resolve, options.request_timeout, options.balance)
            }
            None => ServiceChannel::connect(&upstream, options.request_timeout, options.balance),
        };
        let gateway = Gateway::new(
            service_channel.expect("channel"),
            Auth::load(&settings).expect("auth"),
            HttpSettings {
                request_timeout: options.request_timeout,
                server_timeout: options.server_timeout,
                shutdown_grace: Duration::from_secs(5),
            },
        )
        .expect("gateway");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(gateway.serve(listener, async move {
            let _ = stopped.await;
        }));
        // reqwest is built without a bundled crypto provider (see `auth::external`).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Some(Self {
            base,
            http,
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
        let response = self
            .http
            .post(self.url("/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &client.id),
                ("client_secret", &client.secret),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("token json");
        body["access_token"].as_str().expect("access_token").to_owned()
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

    /// Opens a pending ticket for `provider` (through gRPC: REST has no create).
    pub(crate) async fn ticket(&self, provider: Uuid) -> v2::PendingTicket {
        let request = v2::CreatePendingTicketRequest {
            customer_id: Uuid::new_v4().to_string(),
            vehicle_model_id: 7,
            vin: "JH4KA7630PC007649".into(),
            connection_id: None,
        };
        TicketServiceClient::new(self.service.channel.clone())
            .create_pending_ticket(as_provider(provider, request))
            .await
            .expect("create ticket")
            .into_inner()
    }

    /// Creates an employee of `provider` (enabled operator unless told otherwise).
    pub(crate) async fn employee(&self, provider: Uuid, is_operator: bool, enabled: bool) -> Uuid {
        let id = Uuid::new_v4();
        let request = v2::UpsertEmployeeRequest {
            id: id.to_string(),
            given_name: "Grace".into(),
            family_name: "Hopper".into(),
            username: format!("{}@example.com", id.simple()),
            role: v2::EmployeeRole::Operator.into(),
            is_operator,
            enabled,
        };
        EmployeeServiceClient::new(self.service.channel.clone())
            .upsert_employee(as_provider(provider, request))
            .await
            .expect("upsert employee");
        id
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

/// Declares one test per backend: `mod $name { sqlite, postgres }`, each with a fresh system.
macro_rules! e2e_test {
    ($name:ident, |$gw:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($gw: $crate::helpers::TestGateway) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                if let Some(gw) = $crate::helpers::TestGateway::start(tickets_testing::Backend::Sqlite).await {
                    run(gw).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(gw) = $crate::helpers::TestGateway::start(tickets_testing::Backend::Postgres).await {
                    run(gw).await;
                }
            }
        }
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
