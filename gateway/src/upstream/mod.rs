//! The ticket service, as the gateway calls it: one shared channel (HTTP/2, multiplexed and, for
//! `dns:///` targets, balanced over every pod — see [`balance`]), with the caller's provider,
//! request id, trace context and deadline on every call, and retries of the calls no instance
//! answered. What a failed call looks like to a partner is `problem`'s business.

pub mod balance;
pub mod channel;

use std::{future::Future, sync::Arc, time::Duration};

use tickets_contract::{
    metadata::{AUTHORIZATION, PROVIDER_ID, REQUEST_ID},
    v2::{self, ticket_service_client::TicketServiceClient},
};
use tickets_runtime::propagation;
use tokio::time::Instant;
use tonic::{Code, Request, Status, Streaming, metadata::MetadataValue, transport::Channel};
use uuid::Uuid;

use self::balance::Balancer;
use crate::{
    auth::{Authorization, Caller},
    metrics::GatewayMetrics,
};

/// One RPC, as `Upstream::call` makes it (and makes it again when no instance answered): a
/// function of a client and a request, such as `|mut c, r| async move { c.get_pending_ticket(r).await }`.
pub(crate) trait Rpc<T, R> {
    /// The call in flight.
    type Answer: Future<Output = Result<tonic::Response<R>, Status>>;

    /// Starts the call.
    fn start(&self, client: TicketServiceClient<Channel>, request: Request<T>) -> Self::Answer;
}

impl<T, R, F, Fut> Rpc<T, R> for F
where
    F: Fn(TicketServiceClient<Channel>, Request<T>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<R>, Status>>,
{
    type Answer = Fut;

    fn start(&self, client: TicketServiceClient<Channel>, request: Request<T>) -> Fut {
        self(client, request)
    }
}

/// A cheap-to-clone handle on the ticket service.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    tickets: TicketServiceClient<Channel>,
    balancer: Balancer,
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
        balancer: Balancer,
        timeout: Duration,
        metrics: Arc<GatewayMetrics>,
    ) -> Self {
        Self { tickets: TicketServiceClient::new(channel), balancer, timeout, metrics }
    }

    /// Whether at least one ticket-service pod is serving.
    pub(crate) fn has_endpoints(&self) -> bool {
        self.balancer.has_endpoints()
    }

    /// Makes one call for `caller`.
    ///
    /// The deadline is enforced here as well as sent: a call still running when it passes is
    /// DEADLINE_EXCEEDED whatever the server or the network does, and a call the server
    /// cancelled at its deadline (tonic reports that as CANCELLED) is one too.
    pub(crate) async fn call<T: Clone, R>(
        &self,
        caller: &Caller,
        message: T,
        rpc: impl Rpc<T, R>,
    ) -> Result<R, Status> {
        let started = Instant::now();
        let mut attempt = 0;
        let result = loop {
            let result = self.attempt(caller, message.clone(), &rpc, started).await;
            match result {
                Err(status) if is_transport_failure(&status) => {
                    self.balancer.connection_lost();
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

    /// Opens a watch of `provider`'s events after `after`, with `authorization` (the gateway's
    /// own token for that provider). The call has no deadline — it runs until it breaks or the
    /// service ends it — but its answer (the stream's start) must come within the call timeout.
    pub(crate) async fn watch(
        &self,
        provider: Uuid,
        authorization: Authorization,
        after: i64,
    ) -> Result<Streaming<v2::TicketEvent>, Status> {
        if !self.balancer.has_endpoints() {
            self.balancer.settled(self.timeout).await;
        }
        let mut request = Request::new(v2::WatchTicketEventsRequest { after: Some(after) });
        let metadata = request.metadata_mut();
        let provider = provider.hyphenated().to_string();
        let value =
            provider.parse().map_err(|_| Status::internal("provider id is not valid metadata"))?;
        metadata.insert(PROVIDER_ID, value);
        metadata.insert(AUTHORIZATION, authorization);
        let mut client = self.tickets.clone();
        let result = tokio::time::timeout(self.timeout, client.watch_ticket_events(request)).await;
        let result = match result {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status),
            Err(_) => Err(Status::deadline_exceeded("the watch did not start in time")),
        };
        if let Err(status) = &result {
            if is_transport_failure(status) {
                self.balancer.connection_lost();
            }
            self.metrics.upstream_error(status.code());
        }
        result
    }

    async fn attempt<T, R>(
        &self,
        caller: &Caller,
        message: T,
        rpc: &impl Rpc<T, R>,
        started: Instant,
    ) -> Result<R, Status> {
        if !self.balancer.has_endpoints() {
            self.balancer.settled(self.timeout.saturating_sub(started.elapsed())).await;
        }
        if !self.balancer.has_endpoints() {
            return Err(Status::unavailable("no ticket-service instance is serving"));
        }
        let remaining = self.timeout.saturating_sub(started.elapsed());
        let mut request = Request::new(message);
        request.set_timeout(remaining);
        let metadata = request.metadata_mut();
        let provider = caller.provider_id.hyphenated().to_string();
        let value =
            provider.parse().map_err(|_| Status::internal("provider id is not valid metadata"))?;
        metadata.insert(PROVIDER_ID, value);
        metadata.insert(AUTHORIZATION, caller.authorization.clone());
        if let Some(value) =
            caller.request_id.as_ref().and_then(|id| MetadataValue::try_from(id.as_bytes()).ok())
        {
            metadata.insert(REQUEST_ID, value);
        }
        propagation::inject_current(metadata);
        match tokio::time::timeout(remaining, rpc.start(self.tickets.clone(), request)).await {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
