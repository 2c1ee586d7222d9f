//! Mutual TLS on the gRPC port: only a client certificate of the configured CA gets a
//! connection — plaintext, no certificate and a foreign CA's certificate are refused before any
//! call reaches a handler — health answers over the same connection without a token, and
//! certificate files replaced on disk are taken up by new connections without a restart.

use std::time::Duration;

use ticket_service::grpc::ServerSettings;
use tickets_contract::{TICKET_SERVICE_NAME, v2, v2::ticket_service_client::TicketServiceClient};
use tickets_runtime::tls::ClientFiles;
use tickets_testing::{
    Backend, TestDb, TestPki, TestService, as_provider, eventually, grpc, metrics, pki,
};
use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

/// Replaced certificate files are looked for this often.
const TLS_RELOAD: Duration = Duration::from_millis(200);

/// A service on `127.0.0.1:0` requiring a client certificate of `pki`'s CA, with one pending
/// ticket of `provider` (created over its TLS channel) that a refused client must not see.
struct Secured {
    pki: TestPki,
    provider: Uuid,
    service: TestService,
    _database: TestDb,
}

impl Secured {
    async fn start() -> Self {
        let database = TestDb::create(Backend::Sqlite).await.unwrap();
        let pki = TestPki::new();
        let client = pki.client("ticket-gateway").files().config().unwrap();
        let settings = ServerSettings { tls_reload: TLS_RELOAD, ..ServerSettings::default() };
        let service =
            TestService::start_tls(&database.url, settings, pki.server_tls(), client).await;
        let provider = Uuid::new_v4();
        grpc::create_ticket(&service.channel, provider).await.unwrap();
        Self { pki, provider, service, _database: database }
    }

    /// `ListPendingTickets` of the provider with a valid token, on a new connection through
    /// `endpoint`: the tickets, or why the connection or the call failed.
    async fn list(&self, endpoint: Endpoint) -> Result<Vec<v2::PendingTicket>, String> {
        let channel = endpoint.connect().await.map_err(|error| format!("connect: {error:?}"))?;
        let request = as_provider(self.provider, v2::ListTicketsRequest::default());
        let response = TicketServiceClient::new(channel)
            .list_pending_tickets(request)
            .await
            .map_err(|status| format!("call: {status:?}"))?;
        Ok(response.into_inner().result)
    }

    /// [`Self::list`] over TLS with `files`.
    async fn list_over_tls(&self, files: &ClientFiles) -> Result<Vec<v2::PendingTicket>, String> {
        self.list(pki::endpoint(self.service.addr, files.config().unwrap())).await
    }

    /// How many `ListPendingTickets` calls reached the service's handlers.
    async fn lists_answered(&self) -> f64 {
        let text = metrics::scrape(self.service.metrics_addr).await;
        let method = [("method", "tickets.v2.TicketService/ListPendingTickets")];
        metrics::total(&text, "grpc_server_requests_total", &method)
    }

    /// Asserts that a client was refused by the TLS port — with the TLS alert `alert` when
    /// given — and got nothing: no call reached a handler.
    async fn assert_refused(
        &self,
        outcome: Result<Vec<v2::PendingTicket>, String>,
        who: &str,
        alert: Option<&str>,
    ) {
        let Err(error) = outcome else { panic!("{who} is refused, but got {outcome:?}") };
        if let Some(alert) = alert {
            assert!(error.contains(alert), "{who}: refused with the alert {alert}: {error}");
        }
        assert_eq!(self.lists_answered().await, 0.0, "{who}: no call reached the service");
    }

    /// Asserts that a TLS client with `files` is refused with the TLS alert `alert`.
    async fn assert_refused_over_tls(&self, files: &ClientFiles, who: &str, alert: &str) {
        let outcome = self.list_over_tls(files).await;
        self.assert_refused(outcome, who, Some(alert)).await;
    }
}

#[tokio::test]
async fn a_plaintext_client_is_refused() {
    let secured = Secured::start().await;
    let plaintext = Endpoint::from_shared(format!("http://{}", secured.service.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    let outcome = secured.list(plaintext).await;
    secured.assert_refused(outcome, "an h2c client", None).await;
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let secured = Secured::start().await;
    let anonymous = secured.pki.anonymous();
    let who = "a TLS client without a certificate";
    secured.assert_refused_over_tls(&anonymous, who, "CertificateRequired").await;
}

#[tokio::test]
async fn a_client_certificate_of_a_foreign_ca_is_refused() {
    let secured = Secured::start().await;
    // It trusts the server's CA, so only the server's check of its certificate can refuse it.
    let foreign = secured.pki.foreign_client("intruder").trusting(secured.pki.ca_file());
    let who = "a client certificate of a foreign CA";
    secured.assert_refused_over_tls(&foreign, who, "UnknownCA").await;
}

#[tokio::test]
async fn a_client_certificate_of_the_ca_is_accepted() {
    let secured = Secured::start().await;
    let client = secured.pki.client("another-internal-client");
    let tickets = secured.list_over_tls(&client.files()).await.unwrap();
    assert_eq!(tickets.len(), 1, "the provider's ticket: {tickets:?}");
    assert_eq!(secured.lists_answered().await, 1.0);
}

#[tokio::test]
async fn replaced_certificates_and_ca_are_taken_up_without_a_restart() {
    let mut secured = Secured::start().await;
    let old = secured.pki.client("before-rotation");
    assert!(secured.list_over_tls(&old.files()).await.is_ok(), "the old CA works at first");

    // cert-manager moves to a new CA: the server's certificate, key and client CA files are
    // replaced in place, and clients get certificates of the new CA.
    secured.pki.rotate_ca();
    let new = secured.pki.client("after-rotation");
    let new_files = new.files();
    let taken_up = eventually(Duration::from_secs(5), || async {
        secured.list_over_tls(&new_files).await.is_ok()
    })
    .await;
    assert!(taken_up, "a client of the new CA is accepted within 5 s of the rotation");

    // It trusts the new CA, so only the server's check of the old certificate can refuse it.
    let outcome = secured.list_over_tls(&old.trusting(&new.ca)).await;
    let error = outcome.expect_err("the old CA's client certificate is refused");
    assert!(error.contains("UnknownCA"), "by the server's check of it: {error}");
    let outcome = secured.list_over_tls(&old.files()).await;
    assert!(outcome.is_err(), "a client trusting only the old CA is refused: {outcome:?}");

    // The connection made before the rotation is not cut.
    let request = as_provider(secured.provider, v2::ListTicketsRequest::default());
    let kept = TicketServiceClient::new(secured.service.channel.clone())
        .list_pending_tickets(request)
        .await;
    assert!(kept.is_ok(), "the connection opened before the rotation still works: {kept:?}");
}

#[tokio::test]
async fn health_answers_over_mutual_tls_without_a_token() {
    let secured = Secured::start().await;
    let client = secured.pki.client("prober");
    let channel =
        pki::endpoint(secured.service.addr, client.files().config().unwrap()).connect().await;
    let mut health = HealthClient::new(channel.unwrap());
    for service in ["", TICKET_SERVICE_NAME] {
        let response = health.check(HealthCheckRequest { service: service.into() }).await;
        let status = response.unwrap_or_else(|e| panic!("health of {service:?}: {e:?}"));
        assert_eq!(status.into_inner().status, ServingStatus::Serving as i32, "{service:?}");
    }

    // The TLS port asks health clients for a certificate too (plaintext probes have the
    // separate health port).
    let anonymous = pki::endpoint(secured.service.addr, secured.pki.anonymous().config().unwrap());
    let refused = match anonymous.connect().await {
        Ok(channel) => HealthClient::new(channel)
            .check(HealthCheckRequest { service: String::new() })
            .await
            .map(|_| ())
            .map_err(|status| format!("{status:?}")),
        Err(error) => Err(format!("{error:?}")),
    };
    assert!(refused.is_err(), "health without a client certificate is refused");
}
