//! The gateway as a server: built from its parts, served on hyper-util with the connection
//! bounds of [`connection`], until shutdown, then drained. Prometheus `/metrics` is served on
//! its own port, never on the partner port.

pub(crate) mod connection;

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request},
};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt as _;
use utoipa::OpenApi as _;

pub use self::connection::Timeouts;
use self::connection::{
    ConnectionState, H2_PREFACE, HEAD_BUDGET_BYTES, HeadBudget, HoldBack, MAX_HEAD_BYTES, Metered,
};
use crate::{
    auth::Auth,
    cors::AllowedOrigins,
    events::{Feeds, StreamSettings},
    metrics::GatewayMetrics,
    openapi::ApiDoc,
    router::router,
    state::{AppState, Shared},
    upstream::{Upstream, channel::ServiceChannel},
};

/// Limits and timings of the HTTP server.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Deadline of each call to the ticket service (sent on as `grpc-timeout`).
    pub request_timeout: Duration,
    /// Deadline of a whole HTTP request, body upload included (408 after it).
    pub server_timeout: Duration,
    /// How long in-flight requests may finish after shutdown starts.
    pub shutdown_grace: Duration,
    /// The connection timeouts: a complete request head, an idle keep-alive connection.
    pub timeouts: Timeouts,
    /// Most connections open at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// The event streams: the cap per client, the keep-alive.
    pub streams: StreamSettings,
    /// The origins browsers may call the API from (CORS); none: no CORS headers at all.
    pub cors: AllowedOrigins,
}

/// Where the gateway listens.
#[derive(Debug)]
pub struct Listeners {
    /// The partner port: `/v2`, the token endpoint, health.
    pub http: TcpListener,
    /// Prometheus `/metrics`.
    pub metrics: TcpListener,
}

/// Everything the gateway needs to run.
#[derive(Debug)]
pub struct Gateway {
    router: Router,
    metrics: Arc<GatewayMetrics>,
    shutting_down: Arc<AtomicBool>,
    settings: HttpSettings,
    /// One per connection that may be open.
    permits: Arc<Semaphore>,
    feeds: Arc<Feeds>,
}

impl Gateway {
    /// Builds the gateway on its connection to the ticket service.
    ///
    /// # Errors
    /// When the OpenAPI document cannot be rendered.
    pub fn new(
        service: ServiceChannel,
        auth: Auth,
        settings: HttpSettings,
    ) -> anyhow::Result<Self> {
        let ServiceChannel { channel, balancer } = service;
        let shutting_down = Arc::new(AtomicBool::new(false));
        let endpoints = balancer.clone();
        let max_connections = settings.max_connections.max(1);
        let permits = Arc::new(Semaphore::new(max_connections));
        let open = permits.clone();
        // The feeds need the metrics, and two gauges read the feeds: set once both exist.
        let feeds_cell: Arc<OnceLock<Arc<Feeds>>> = Arc::default();
        let (streams, watches) = (feeds_cell.clone(), feeds_cell.clone());
        let metrics = Arc::new(
            GatewayMetrics::default()
                .with_gauge(
                    "upstream_endpoints",
                    "Ticket-service pods the gateway balances over",
                    move || i64::try_from(endpoints.endpoints()).unwrap_or(i64::MAX),
                )
                .with_gauge(
                    "http_server_open_connections",
                    "Partner connections open now",
                    move || {
                        let open = max_connections.saturating_sub(open.available_permits());
                        i64::try_from(open).unwrap_or(i64::MAX)
                    },
                )
                .with_gauge("event_streams_open", "Partner event streams open now", move || {
                    let open = streams.get().map_or(0, |feeds| feeds.open_streams());
                    i64::try_from(open).unwrap_or(i64::MAX)
                })
                .with_gauge(
                    "event_upstream_watches",
                    "Upstream event watches: one per provider with an open stream",
                    move || {
                        let running = watches.get().map_or(0, |feeds| feeds.watches());
                        i64::try_from(running).unwrap_or(i64::MAX)
                    },
                ),
        );
        let openapi_json = Arc::new(OnceLock::new());
        let upstream = Upstream::new(channel, balancer, settings.request_timeout, metrics.clone());
        let auth = Arc::new(auth);
        let feeds = Arc::new(Feeds::new(upstream.clone(), auth.clone(), settings.streams));
        let _ = feeds_cell.set(feeds.clone());
        let state = AppState::new(Shared {
            upstream,
            auth,
            shutting_down: shutting_down.clone(),
            openapi_json: openapi_json.clone(),
            metrics: metrics.clone(),
            feeds: feeds.clone(),
        });
        let (router, api) = router(state, settings.server_timeout, &settings.cors);
        let _ = openapi_json.set(api.to_pretty_json().context("rendering the OpenAPI document")?);
        Ok(Self { router, metrics, shutting_down, settings, permits, feeds })
    }

    /// The OpenAPI document, as served at `/v2/openapi.json`.
    #[must_use]
    pub fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    /// Serves until `shutdown` resolves; then `/readyz` turns 503, no new connections are
    /// accepted, and in-flight requests get the shutdown grace to finish.
    ///
    /// # Errors
    /// When a server fails.
    pub async fn serve(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self { router, metrics, shutting_down, settings, permits, feeds } = self;
        let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
        let until_stopping = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        };
        let metrics_server = tokio::spawn(tickets_runtime::metrics::serve(
            listeners.metrics,
            metrics,
            until_stopping(stopping.clone()),
        ));
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested: /readyz is 503; draining");
            shutting_down.store(true, Ordering::SeqCst);
            // Event streams end now (partners resume on another replica with Last-Event-ID)
            // instead of holding the drain open until the grace runs out.
            feeds.close();
            let _ = stopping_tx.send(true);
        });
        let grace = settings.shutdown_grace;
        let connections = accept(listeners.http, router, settings, permits, stopping).await;
        if tokio::time::timeout(grace, connections.shutdown()).await.is_err() {
            tracing::warn!(?grace, "grace period over; dropping the requests still running");
        }
        metrics_server.await.context("metrics server task")??;
        Ok(())
    }
}

/// The HTTP/1.1 settings of every partner connection.
fn http1(builder: &mut hyper::server::conn::http1::Builder) {
    builder
        .timer(TokioTimer::new())
        // Timeouts and the head limit are the connection's own (see `connection`): hyper's
        // buffer limit is never reached, since no more than a head's worth is read.
        .header_read_timeout(None)
        .max_buf_size(2 * MAX_HEAD_BYTES)
        .keep_alive(true);
}

/// The HTTP/1.1 (as in [`http1`]) and HTTP/2 settings of a connection whose first bytes leave
/// its version open.
fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(2 * MAX_HEAD_BYTES)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(256)
        // Decoded headers over 32 KiB are refused (431, a problem) by the middleware; h2 itself
        // stops at twice that.
        .max_header_list_size(u32::try_from(2 * MAX_HEAD_BYTES).unwrap_or(u32::MAX));
    builder
}

/// The two ways of serving a connection, chosen by its first bytes.
struct Builders {
    /// HTTP/1 only: hyper's own HTTP/1 connection, reading straight from the socket. Its
    /// future holds no room for HTTP/2's state (an idle event stream costs 11 KiB less).
    http1: hyper::server::conn::http1::Builder,
    /// Either version, told apart by hyper-util from the first bytes, which it buffers and
    /// replays (a copy and a larger read buffer per connection: kept for the few clients that
    /// speak HTTP/2 or whose first bytes are still ambiguous). Its connection is boxed, for
    /// the same reason.
    auto: auto::Builder<TokioExecutor>,
}

/// How a connection's first bytes say it should be served: `None` when it closed (or failed)
/// before sending any.
async fn first_bytes(stream: &tokio::net::TcpStream) -> Option<bool> {
    let mut start = [0u8; H2_PREFACE.len()];
    let seen = stream.peek(&mut start).await.ok().filter(|&n| n > 0)?;
    // Only an HTTP/2 preface begins like this; anything else is HTTP/1 from its first byte.
    let maybe_h2 = H2_PREFACE.starts_with(&start[..seen]);
    Some(!maybe_h2)
}

/// Accepts connections on `listener` until `stopping` turns true, one per permit at a time,
/// each held to the bounds of [`connection`]. Returns the open connections, to be drained.
///
/// A connection costs little until its first bytes arrive: only then is hyper's connection
/// (with its buffers) made, for HTTP/1 alone when those bytes say so.
async fn accept(
    listener: TcpListener,
    router: Router,
    settings: HttpSettings,
    permits: Arc<Semaphore>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let budget = HeadBudget::new(HEAD_BUDGET_BYTES);
    let mut http1_builder = hyper::server::conn::http1::Builder::new();
    http1(&mut http1_builder);
    let builders = Arc::new(Builders { http1: http1_builder, auto: builder() });
    loop {
        let permit = tokio::select! {
            biased;
            _ = stopping.wait_for(|stopping| *stopping) => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = stopping.wait_for(|stopping| *stopping) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = ConnectionState::new();
        let watchdog = Arc::clone(&state);
        let watcher = graceful.watcher();
        let (router, builders, budget) = (router.clone(), builders.clone(), budget.clone());
        let mut stopping = stopping.clone();
        let serve = async move {
            let http1 = tokio::select! {
                http1 = first_bytes(&stream) => http1,
                _ = stopping.wait_for(|stopping| *stopping) => None,
            };
            let Some(http1) = http1 else { return };
            let io = TokioIo::new(Metered::new(stream, state.clone(), &budget, http1));
            let service = hyper::service::service_fn(move |request| {
                respond(router.clone(), state.clone(), peer, request)
            });
            let served = if http1 {
                let served = watcher.watch(builders.http1.serve_connection(io, service)).await;
                served.map_err(Into::into)
            } else {
                Box::pin(watcher.watch(builders.auto.serve_connection(io, service))).await
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        };
        tokio::spawn(async move {
            tokio::select! {
                () = serve => {}
                () = watchdog.expired(settings.timeouts) => {}
            }
            drop(permit);
        });
    }
    graceful
}

/// One request of a connection: routed, with the peer's address for the handlers, and the
/// connection told when it starts and when its response is done.
async fn respond(
    router: Router,
    state: Arc<ConnectionState>,
    peer: SocketAddr,
    mut request: Request<Incoming>,
) -> Result<axum::response::Response, Infallible> {
    state.request_started();
    let done = Done(state);
    request.extensions_mut().insert(ConnectInfo(peer));
    // Boxed: hyper keeps the room for this future as long as the connection lives, and the
    // router's future (every layer's state) is large; only a pointer stays with an idle stream.
    let mut response = Box::pin(router.oneshot(request)).await?;
    if let Some(HoldBack(delay)) = response.extensions_mut().remove::<HoldBack>() {
        tokio::time::sleep(delay).await;
    }
    Ok(response.map(|body| Body::new(Tracked { body, _done: done })))
}

/// Tells the connection its request is done when dropped (the response sent or abandoned).
#[derive(Debug)]
struct Done(Arc<ConnectionState>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that carries its request's [`Done`].
struct Tracked {
    body: Body,
    _done: Done,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
