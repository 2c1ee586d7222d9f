//! The gateway balanced over a ticket service that requires mutual TLS: with a client
//! certificate of the service's CA it gets ready and serves partners; without one it never gets
//! ready and answers 503; a renewed client certificate is taken up without a restart.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use ticket_service::grpc::ServerSettings;
use tickets_runtime::tls::ClientFiles;
use tickets_testing::{Backend, TestDb, TestPki, TestService, eventually};
use tokio::net::TcpListener;

use crate::helpers::{Options, TestGateway, problem};

/// Replaced certificate files are looked for this often, by the service and by the gateway.
const TLS_RELOAD: Duration = Duration::from_millis(200);

/// A ticket service requiring a client certificate of `pki`'s CA.
async fn secured_service(pki: &TestPki, database: &TestDb) -> TestService {
    let client = pki.client("seeder").files().config().unwrap();
    let settings = ServerSettings { tls_reload: TLS_RELOAD, ..ServerSettings::default() };
    TestService::start_tls(&database.url, settings, pki.server_tls(), client).await
}

/// A gateway balanced over `addresses` over TLS with `files`, checking them every
/// [`TLS_RELOAD`].
async fn gateway(addresses: Vec<SocketAddr>, files: ClientFiles) -> TestGateway {
    let mut options = Options::balanced_over(addresses);
    options.balance.tls_reload = TLS_RELOAD;
    options.upstream_tls = Some(files);
    TestGateway::start_with(Backend::Sqlite, options).await.unwrap()
}

/// `GET /v2/tickets/pending-tickets` as partner A: the response.
async fn list(gw: &TestGateway, token: &str) -> reqwest::Response {
    gw.get_with(&gw.a, token, "/v2/tickets/pending-tickets").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_with_a_client_certificate_serves_over_mutual_tls() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let pki = TestPki::new();
    let service = secured_service(&pki, &database).await;
    let identity = pki.client("ticket-gateway");
    let gw = gateway(vec![service.addr], identity.files()).await;
    assert!(gw.wait_ready(200, Duration::from_secs(10)).await, "ready over mutual TLS");

    let ticket =
        tickets_testing::grpc::create_ticket(&service.channel, gw.a.provider).await.unwrap();
    let token = gw.token(&gw.a).await;
    let response = list(&gw, &token).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["result"][0]["id"], ticket.id, "the ticket came over TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_without_a_client_certificate_never_gets_ready() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let pki = TestPki::new();
    let service = secured_service(&pki, &database).await;
    // It trusts the service's CA: only the service's demand for a client certificate fails it.
    let gw = gateway(vec![service.addr], pki.anonymous()).await;

    // Ten balancer rounds (every 200 ms) or so: /readyz stays 503 throughout.
    let readyz = || async {
        let response = gw.http.get(gw.url("/readyz")).send().await.unwrap();
        response.status() != 503
    };
    assert!(!eventually(Duration::from_secs(2), readyz).await, "/readyz stays 503");
    let text = tickets_testing::metrics::scrape(gw.metrics_addr).await;
    let endpoints = tickets_testing::metrics::sample(&text, "upstream_endpoints", &[]);
    assert_eq!(endpoints, Some(0.0), "no pod joins the balancer");

    let token = gw.token(&gw.a).await;
    problem(list(&gw, &token).await, 503).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renewed_client_certificate_is_taken_up_without_a_restart() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let pki = TestPki::new();
    let service = secured_service(&pki, &database).await;
    // Counts the gateway's connections to the service (TLS passes through untouched: the
    // service's name is verified as `localhost`, whatever address is dialled).
    let proxy = CountingProxy::start(service.addr).await;
    let identity = pki.client("ticket-gateway");
    let gw = gateway(vec![proxy.addr], identity.files()).await;
    assert!(gw.wait_ready(200, Duration::from_secs(10)).await, "ready over mutual TLS");
    assert!(gw.balances_over(1).await);
    let token = gw.token(&gw.a).await;
    assert_eq!(list(&gw, &token).await.status(), 200);

    // The control: while the files stay as they are, the gateway keeps its connections.
    let before = proxy.connections();
    let churn = eventually(Duration::from_secs(1), || async { proxy.connections() != before });
    assert!(!churn.await, "no new connection without a rotation");

    // cert-manager renews the gateway's certificate (same CA) in place. Partners' requests go
    // on succeeding while the gateway reconnects to the pod with the new files.
    pki.renew(&identity);
    let statuses = std::cell::RefCell::new(Vec::new());
    let reconnected = eventually(Duration::from_secs(5), || async {
        let status = list(&gw, &token).await.status().as_u16();
        statuses.borrow_mut().push(status);
        proxy.connections() > before
    })
    .await;
    assert!(reconnected, "the gateway reconnects within 5 s of the renewal");
    let mut statuses = statuses.into_inner();
    for _ in 0..20 {
        statuses.push(list(&gw, &token).await.status().as_u16());
    }
    assert!(statuses.iter().all(|status| *status == 200), "every request succeeds: {statuses:?}");
    assert!(gw.balances_over(1).await, "the pod stays in the balancer");
}

/// A TCP forwarder to `target` that counts the connections it accepted.
struct CountingProxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, accepted, task }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
