//! What both gateway test binaries (`api` and `tracing`) need: partner clients and the
//! credentials file that configures them, an HTTP client, and the real `ticket-gateway` binary
//! as a child process.

use sha2::{Digest as _, Sha256};
use tickets_testing::{ChildProcess, process};
use uuid::Uuid;

/// A configured client: its secret, API key and provider, and its rights.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: String,
    /// Empty for a client without one (an internal service).
    pub(crate) api_key: String,
    pub(crate) provider: Uuid,
    /// `scopes` of its entry; the default (`tickets:read tickets:write`) when `None`.
    pub(crate) scopes: Option<String>,
    /// An internal client: no provider in its entry.
    pub(crate) internal: bool,
}

impl Client {
    /// Client `id` of a provider of its own, with a fresh secret and API key.
    pub(crate) fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            secret: format!("{id}-secret-{}", Uuid::new_v4().simple()),
            api_key: format!("{id}-key-{}", Uuid::new_v4().simple()),
            provider: Uuid::new_v4(),
            scopes: None,
            internal: false,
        }
    }

    /// The same client with these rights.
    #[allow(dead_code, reason = "the api tests use it; the tracing test shares this module")]
    pub(crate) fn with_scopes(self, scopes: &str) -> Self {
        Self { scopes: Some(scopes.to_owned()), ..self }
    }

    /// An internal client (`providers:any` and `scopes`), with an API key or none.
    #[allow(dead_code, reason = "the api tests use it; the tracing test shares this module")]
    pub(crate) fn internal(id: &str, scopes: &str, api_key: bool) -> Self {
        let client = Self::new(id);
        Self {
            api_key: if api_key { client.api_key } else { String::new() },
            scopes: Some(format!("providers:any {scopes}")),
            internal: true,
            ..client
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
            let mut entry = format!(
                "[[clients]]\nclient_id = \"{}\"\nclient_secret_sha256 = \"{}\"\n",
                c.id,
                hex_sha256(&c.secret)
            );
            if !c.api_key.is_empty() {
                entry += &format!("api_key_sha256 = \"{}\"\n", hex_sha256(&c.api_key));
            }
            if !c.internal {
                entry += &format!("provider_id = \"{}\"\n", c.provider);
            }
            if let Some(scopes) = &c.scopes {
                entry += &format!("scopes = \"{scopes}\"\n");
            }
            entry + "\n"
        })
        .collect()
}

/// An HTTP client that does not follow redirects (a 303 is what some tests check).
pub(crate) fn http_client() -> reqwest::Client {
    // reqwest is built without a bundled crypto provider (see the tokens crate's key sets).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No Accept-Encoding: tests see bodies as sent (the compression tests make their own).
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .no_brotli()
        .no_zstd();
    builder.build().expect("http client")
}

/// A token for `client` from the token endpoint of the gateway at `base`.
pub(crate) async fn token(http: &reqwest::Client, base: &str, client: &Client) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", &client.id),
        ("client_secret", &client.secret),
    ];
    let response = http.post(format!("{base}/oauth2/token")).form(&form).send().await;
    let response = response.expect("token request");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("token json");
    body["access_token"].as_str().expect("access_token").to_owned()
}

/// The real `ticket-gateway` binary, configured through its environment like in production.
#[derive(Debug)]
pub(crate) struct GatewayProcess {
    /// The process: its logs, SIGTERM, its exit.
    pub(crate) process: ChildProcess,
    /// `http://<its address>`.
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    _files: tempfile::TempDir,
}

impl GatewayProcess {
    /// Starts the gateway in front of `upstream` with `clients` configured and `env` added (see
    /// [`process::gateway_command`] for the rest), and waits until it listens.
    pub(crate) async fn spawn(upstream: &str, clients: &[&Client], env: &[(&str, &str)]) -> Self {
        let files = tempfile::tempdir().expect("temp dir");
        let credentials = files.path().join("clients.toml");
        std::fs::write(&credentials, credentials_toml(clients)).expect("write clients");
        let program = env!("CARGO_BIN_EXE_ticket-gateway");
        let mut command = process::gateway_command(program, upstream, &credentials);
        command.envs(env.iter().copied());
        let process = ChildProcess::spawn(command, &process::GATEWAY_LISTENING).await;
        let base = format!("http://{}", process.addr());
        Self { process, base, http: http_client(), _files: files }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token for `client`.
    pub(crate) async fn token(&self, client: &Client) -> String {
        token(&self.http, &self.base, client).await
    }
}
