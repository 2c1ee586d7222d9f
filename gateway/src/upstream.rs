//! The ticket service, as the gateway calls it: one shared channel (HTTP/2, multiplexed), the
//! caller's provider and the deadline on every call, and the one mapping from a gRPC status to
//! the problem a partner sees.

use std::{future::Future, sync::Arc, time::Duration};

use axum::http::{HeaderValue, header};
use tickets_contract::{
    PROVIDER_ID_METADATA, errors::ErrorKind, v2::ticket_service_client::TicketServiceClient,
};
use tokio::time::Instant;
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::StatusExt as _;
use uuid::Uuid;

use crate::{
    balance::Balancer,
    metrics::GatewayMetrics,
    observe::CURRENT_REQUEST_ID,
    problem::{Problem, Violation},
};
use tickets_contract::runtime::propagation;

/// A cheap-to-clone handle on the ticket service.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    tickets: TicketServiceClient<Channel>,
    balancer: Option<Balancer>,
    timeout: Duration,
    metrics: Arc<GatewayMetrics>,
}

/// How many times a call that could not reach a pod is sent again, and the pause before the
/// first retry, doubled before each next one: about 0.4 s in all, enough for the balancer to
/// drop a pod that went away (a rolling restart) even on a busy host. A retry that would start
/// after the deadline is not made: the call fails UNAVAILABLE (503), not DEADLINE_EXCEEDED.
const TRANSPORT_RETRIES: u32 = 4;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(25);

/// Whether the call never got an answer from a ticket-service instance, as opposed to a status
/// the service sent: the connection was refused, reset or closed (UNAVAILABLE or UNKNOWN from
/// the transport), closed before the call was sent (CANCELLED from the transport), or the call
/// was turned away by a GOAWAY. Only those are retried: every call the gateway makes is safe to
/// repeat (reads, and StartService which is idempotent for the same operator), but a status
/// from the service is its answer. A status the service sent carries no source error.
fn is_transport_failure(status: &Status) -> bool {
    let source = std::error::Error::source(status);
    let transport_code =
        matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled);
    (transport_code && source.is_some()) || source.is_some_and(is_go_away)
}

/// Whether `error` comes from a GOAWAY the instance sent: a pod shutting down (SIGTERM) sends
/// one, and the calls that crossed it on the wire were never processed (RFC 9113 §6.8). tonic
/// reports them as INTERNAL (its mapping of the NO_ERROR reason), which is no answer of the
/// service's and must not reach a partner as a 500.
fn is_go_away(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.downcast_ref::<h2::Error>().is_some_and(|e| e.is_go_away() && e.is_remote()) {
            return true;
        }
        current = error.source();
    }
    false
}

impl Upstream {
    /// Calls over `channel`, each call bounded by `timeout` (sent on as `grpc-timeout`).
    pub(crate) fn new(
        channel: Channel,
        balancer: Option<Balancer>,
        timeout: Duration,
        metrics: Arc<GatewayMetrics>,
    ) -> Self {
        Self { tickets: TicketServiceClient::new(channel), balancer, timeout, metrics }
    }

    /// Makes one call for `provider`.
    ///
    /// The deadline is enforced here as well as sent: a call still running when it passes is
    /// DEADLINE_EXCEEDED whatever the server or the network does, and a call the server
    /// cancelled at its deadline (tonic reports that as CANCELLED) is one too.
    pub(crate) async fn call<T, R, F, Fut>(
        &self,
        provider: Uuid,
        message: T,
        rpc: F,
    ) -> Result<R, Status>
    where
        T: Clone,
        F: Fn(TicketServiceClient<Channel>, Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        let result = loop {
            let result = self.attempt(provider, message.clone(), &rpc, started).await;
            match result {
                Err(status) if is_transport_failure(&status) => {
                    if let Some(balancer) = &self.balancer {
                        balancer.connection_lost();
                    }
                    let delay = FIRST_RETRY_DELAY * 2u32.pow(attempt);
                    if attempt == TRANSPORT_RETRIES || started.elapsed() + delay >= self.timeout {
                        break Err(status);
                    }
                    attempt += 1;
                    tracing::debug!(attempt, "ticket service not reached; retrying");
                    tokio::time::sleep(delay).await;
                }
                other => break other,
            }
        };
        if let Err(status) = &result {
            self.metrics.upstream_error(status.code());
        }
        result
    }

    async fn attempt<T, R, F, Fut>(
        &self,
        provider: Uuid,
        message: T,
        rpc: &F,
        started: Instant,
    ) -> Result<R, Status>
    where
        F: Fn(TicketServiceClient<Channel>, Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        if self.balancer.as_ref().is_some_and(|b| !b.has_endpoints()) {
            return Err(Status::unavailable("no ticket-service instance is serving"));
        }
        let remaining = self.timeout.saturating_sub(started.elapsed());
        let mut request = Request::new(message);
        request.set_timeout(remaining);
        let provider = provider.hyphenated().to_string();
        let value =
            provider.parse().map_err(|_| Status::internal("provider id is not valid metadata"))?;
        request.metadata_mut().insert(PROVIDER_ID_METADATA, value);
        let request_id = CURRENT_REQUEST_ID.try_with(Clone::clone).ok();
        if let Some(value) =
            request_id.and_then(|id| tonic::metadata::MetadataValue::try_from(id.as_bytes()).ok())
        {
            request.metadata_mut().insert("x-request-id", value);
        }
        propagation::inject_current(request.metadata_mut());
        match tokio::time::timeout(remaining, rpc(self.tickets.clone(), request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status))
                if status.code() == Code::Cancelled && started.elapsed() >= self.timeout =>
            {
                Err(Status::deadline_exceeded("deadline passed"))
            }
            Ok(Err(status)) => Err(status),
            Err(_) => Err(Status::deadline_exceeded("deadline passed")),
        }
    }
}

/// The partner-facing detail of each kind. Fixed texts: what the service (or anything between)
/// put in a status message never reaches a partner.
const fn detail(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => "The request violates one or more constraints.",
        ErrorKind::Unauthenticated => "Valid credentials are required.",
        ErrorKind::PermissionDenied => "You may not perform this operation.",
        ErrorKind::NotFound => "The ticket does not exist or is not in this collection.",
        ErrorKind::Conflict => {
            "The ticket is not pending: service was already started on it by another operator."
        }
        ErrorKind::ResourceExhausted => "Too many requests; retry later.",
        ErrorKind::Unavailable => "The ticket service is temporarily unavailable; retry later.",
        ErrorKind::DeadlineExceeded => "The ticket service did not answer in time.",
        ErrorKind::Internal => "An internal error occurred.",
    }
}

/// The problem for a failed call. `rename` maps the proto field names of violations to the
/// REST names of this route (`id` → `pending-ticket-id`, `operator_id` →
/// `transition.operator_id`, ...).
pub(crate) fn problem(status: &Status, rename: impl Fn(&str) -> String) -> Problem {
    let kind = ErrorKind::from_grpc_code(status.code());
    match kind {
        ErrorKind::InvalidArgument => {
            let violations = status
                .get_details_bad_request()
                .map(|details| {
                    details
                        .field_violations
                        .into_iter()
                        .map(|v| Violation::new(rename(&v.field), v.description))
                        .collect()
                })
                .unwrap_or_default();
            Problem::violations(violations)
        }
        ErrorKind::Internal => {
            tracing::error!(code = ?status.code(), message = status.message(), "ticket service failed");
            Problem::of_kind(kind, detail(kind))
        }
        ErrorKind::Unavailable | ErrorKind::DeadlineExceeded => {
            tracing::warn!(code = ?status.code(), message = status.message(), "ticket service not answering");
            Problem::of_kind(kind, detail(kind))
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        }
        _ => Problem::of_kind(kind, detail(kind)),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use tonic_types::{ErrorDetails, FieldViolation};

    use super::*;

    #[test]
    fn every_grpc_code_has_a_problem_of_its_kinds_status() {
        for code in (0..=16).map(Code::from) {
            let problem = problem(&Status::new(code, "secret internal text"), str::to_owned);
            assert_eq!(problem.status(), ErrorKind::from_grpc_code(code).http_status(), "{code:?}");
            assert!(!problem.detail.contains("secret"), "{code:?} leaked the status message");
        }
    }

    #[test]
    fn the_service_and_gateway_tables_agree_on_the_contract_statuses() {
        for (code, status) in [
            (Code::InvalidArgument, StatusCode::BAD_REQUEST),
            (Code::NotFound, StatusCode::NOT_FOUND),
            (Code::FailedPrecondition, StatusCode::CONFLICT),
            (Code::Unauthenticated, StatusCode::UNAUTHORIZED),
            (Code::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            (Code::DeadlineExceeded, StatusCode::GATEWAY_TIMEOUT),
            (Code::Internal, StatusCode::INTERNAL_SERVER_ERROR),
        ] {
            assert_eq!(problem(&Status::new(code, ""), str::to_owned).status(), status, "{code:?}");
        }
    }

    #[test]
    fn violations_are_renamed_to_rest_fields() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "bad",
            ErrorDetails::with_bad_request(vec![
                FieldViolation::new("pending_ticket_id", "must be a UUID"),
                FieldViolation::new("operator_id", "must be an operator"),
            ]),
        );
        let problem = problem(&status, |field| match field {
            "pending_ticket_id" => "pending-ticket-id".to_owned(),
            "operator_id" => "transition.operator_id".to_owned(),
            other => other.to_owned(),
        });
        let fields: Vec<_> = problem.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["pending-ticket-id", "transition.operator_id"]);
        assert_eq!(problem.problem_type, "/problems/violations");
    }

    #[test]
    fn only_failures_of_the_transport_are_retried() {
        let transport = |code: Code| {
            let mut status = Status::new(code, "");
            status.set_source(Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
            status
        };
        for code in [Code::Unavailable, Code::Unknown, Code::Cancelled] {
            assert!(is_transport_failure(&transport(code)), "{code:?} from the transport");
            assert!(!is_transport_failure(&Status::new(code, "")), "{code:?} from the service");
        }
        for code in [Code::Internal, Code::ResourceExhausted, Code::DeadlineExceeded] {
            assert!(!is_transport_failure(&transport(code)), "{code:?}");
        }
        let mut reset = Status::new(Code::Internal, "");
        reset.set_source(Arc::new(h2::Error::from(h2::Reason::NO_ERROR)));
        assert!(!is_transport_failure(&reset), "a stream reset is not a GOAWAY");
    }

    #[test]
    fn an_invalid_argument_without_details_still_names_a_field() {
        let problem = problem(&Status::invalid_argument("x"), str::to_owned);
        assert_eq!(problem.violations.len(), 1);
    }
}
