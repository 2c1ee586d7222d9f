//! One trace across gateway → service → database, exported over OTLP to a collector this test
//! runs, continuing the caller's `traceparent`; and the JSON log lines that carry its ids.
//!
//! A test binary of its own: it installs the process-wide tracing subscriber (for the
//! in-process ticket service), which the other tests must not share.
#![expect(clippy::unwrap_used, reason = "a test fails by panicking on an unexpected result")]

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{Client, GatewayProcess};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value as AnyValue,
    trace::v1::Span,
};
use serde_json::Value;
use ticket_service::grpc::ServerSettings;
use tickets_runtime::telemetry::{self, LogFormat, TelemetryConfig};
use tickets_testing::{Backend, TestDb, TestService, grpc, until_some};

/// Spans received, with the `service.name` of their resource.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(name) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_gateway_service_and_database() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_url = format!("http://{}", listener.local_addr().unwrap());
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(collector.clone()))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);

    let telemetry = telemetry::init(&TelemetryConfig {
        service_name: "ticket-service".into(),
        otlp_endpoint: Some(collector_url.clone()),
        log_format: LogFormat::Text,
    })
    .unwrap();
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let service = TestService::start(&database.url, ServerSettings::default()).await;
    let client = Client::new("tracer");
    let ticket = grpc::create_ticket(&service.channel, client.provider).await.unwrap();

    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector_url.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        // Empty is unset: the binary names itself.
        ("OTEL_SERVICE_NAME", ""),
    ];
    let upstream = format!("http://{}", service.addr);
    let mut gateway = GatewayProcess::spawn(&upstream, &[&client], &env).await;
    let token = gateway.token(&client).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = gateway
        .http
        .get(gateway.url(&format!("/v2/tickets/pending-tickets/{}", ticket.id)))
        .bearer_auth(&token)
        .header("x-api-key", &client.api_key)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("x-request-id", "trace-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "trace-test-1");

    // This trace's spans, once both processes have exported theirs (or what came in time).
    let ours = || -> Vec<(String, Span)> {
        let spans = collector.spans.lock().unwrap();
        spans.iter().filter(|(_, s)| hex(&s.trace_id) == trace_id).cloned().collect()
    };
    let complete = |spans: &[(String, Span)]| {
        spans.iter().any(|(service, _)| service == "ticket-gateway")
            && spans.iter().any(|(_, s)| s.name.starts_with("sea_orm"))
    };
    let exported = until_some(Duration::from_secs(10), || {
        telemetry.flush();
        let spans = ours();
        async move { complete(&spans).then_some(spans) }
    });
    let spans = exported.await.unwrap_or_else(ours);
    let names: Vec<String> =
        spans.iter().map(|(service, s)| format!("{service}: {}", s.name)).collect();
    let find = |service: &str, name: &str| {
        spans
            .iter()
            .find(|(svc, s)| svc == service && s.name.starts_with(name))
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("no {service} span {name} in {names:?}"))
    };
    let http_span = find("ticket-gateway", "GET /v2/tickets/pending-tickets/{pending-ticket-id}");
    assert_eq!(
        hex(&http_span.parent_span_id),
        caller_span,
        "the incoming traceparent is continued"
    );
    let rpc = find("ticket-service", "tickets.v2.TicketService/GetPendingTicket");
    assert_eq!(
        rpc.parent_span_id, http_span.span_id,
        "the RPC is a child of the gateway's request"
    );
    let query = find("ticket-service", "sea_orm");
    assert_eq!(query.parent_span_id, rpc.span_id, "the query is a child of the RPC");
    assert!(
        query.attributes.iter().any(|kv| kv.key == "db.statement"),
        "the query span names its SQL"
    );

    gateway.process.terminate().await;
    let lines = gateway.process.logs();
    let access: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["message"] == "request" && entry["request_id"] == "trace-test-1")
        .collect();
    assert_eq!(access.len(), 1, "one access-log line for the request: {lines:?}");
    let line = &access[0];
    assert_eq!(line["trace_id"], trace_id);
    assert!(line["span_id"].is_string());
    assert_eq!(line["route"], "/v2/tickets/pending-tickets/{pending-ticket-id}");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].is_number());
}
