//! The event-feed benchmark (`bench/run.sh --events`): partner streams on a running gateway while
//! tickets are created through the ticket service.
//!
//! - **Live**: `--subscribers` Server-Sent-Event streams spread over the providers, while
//!   `--rate` tickets per second are created (round robin over the providers) for
//!   `--duration` seconds. Every stream must receive every event of its provider exactly once, in
//!   increasing id (checked by count, strict order and an order-independent sum of the ticket
//!   ids); the latency of each delivery is its arrival minus the event's `occurred_at` (the
//!   ticket's `created_at`, stamped by the service just before its insert): commit-to-client
//!   plus the insert itself.
//! - **Idle**: `--idle-streams` streams held open at once; the gateway's `event_upstream_watches`
//!   and `event_streams_open` gauges and its resident memory are read while they are.
//!
//! Streams are HTTP/2 (h2c) requests, `--streams-per-connection` per connection, as a partner's
//! HTTP/2 client or browser would multiplex them.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::{
    Method, Request, StatusCode,
    body::{Bytes, Incoming},
    client::conn::http2::SendRequest,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue},
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use tickets_contract::{
    metadata::PROVIDER_ID,
    v2::{CreatePendingTicketRequest, ticket_service_client::TicketServiceClient},
};
use tokio::{net::TcpStream, sync::Semaphore, time::Instant};
use tonic::{metadata::MetadataValue, transport::Endpoint};
use uuid::Uuid;

use crate::{fixture::Fixture, http1::Http1, procfs};

/// The arguments of `tickets-bench events`.
#[derive(Debug, clap::Args)]
pub(crate) struct EventsArgs {
    /// The gateway: `http://host:port`.
    #[arg(long)]
    http_url: String,
    /// The ticket service, where tickets are created: `http://host:port`.
    #[arg(long)]
    grpc_url: String,
    /// The gateway's metrics endpoint: `http://host:port`.
    #[arg(long)]
    metrics_url: String,
    /// `client_id secret api_key provider_id` per line: one partner client per provider.
    #[arg(long)]
    clients: std::path::PathBuf,
    /// `client_id:secret` of an internal client allowed to create tickets for any provider.
    #[arg(long)]
    internal_client: String,
    /// Live streams during the write phase.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Tickets created per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Seconds of creating.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of a first live phase at the same rate whose latencies are not recorded: the
    /// servers' connections, caches and buffers warm up, as before every other row. Its
    /// deliveries are still checked (lost, duplicated and wrong ones count); 0: none.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Streams held open at once in the idle phase (0: no idle phase).
    #[arg(long, default_value_t = 10_000)]
    idle_streams: usize,
    /// HTTP/2 streams per connection; 0: one HTTP/1.1 connection per stream (as a browser's
    /// `EventSource` over HTTP/1.1).
    #[arg(long, default_value_t = 100)]
    streams_per_connection: usize,
    /// Seconds to keep the idle streams open after measuring them, to inspect the gateway
    /// meanwhile (its heap with gdb, say; bench/README.md).
    #[arg(long, default_value_t = 0)]
    hold_idle: u64,
    /// The gateway's process id, for its memory and CPU time.
    #[arg(long)]
    gateway_pid: u32,
    /// The ticket service's process id, for its CPU time and memory.
    #[arg(long)]
    service_pid: u32,
    /// Live phases, one after another; the report gives the median of their latencies (the
    /// host's noise between runs is larger than most differences: bench/README.md, "Events").
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Threads of the client's own runtime; 1 (the default) runs tokio's current-thread
    /// scheduler. The client shares the cores with what it measures (bench/README.md,
    /// "Events").
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Where the result (one JSON line) is appended.
    #[arg(long)]
    pub(crate) out: std::path::PathBuf,
}

/// One partner client.
#[derive(Clone, Debug)]
struct Partner {
    provider: Uuid,
    token: String,
    api_key: String,
}

/// What the benchmark measured.
#[derive(Debug, Serialize)]
pub(crate) struct EventsResult {
    subscribers: usize,
    /// The providers the streams and the tickets are spread over.
    providers: usize,
    rate: u32,
    duration_s: u64,
    /// Over all rounds: the medians of their latencies, the sums of their counts, the peaks of
    /// their largest latency and RSS.
    #[serde(flatten)]
    live: LiveRound,
    /// The gateway's own histogram (occurrence → sent on the stream), interpolated within the
    /// bucket the quantile falls in (as Prometheus's `histogram_quantile`).
    gateway_lag_p50_ms: f64,
    gateway_lag_p99_ms: f64,
    idle_streams: usize,
    idle_streams_open: f64,
    idle_upstream_watches: f64,
    idle_gateway_rss_mib: f64,
    idle_gateway_rss_peak_mib: f64,
    /// The warm-up phase, when there was one: in the counts, not in the latencies.
    warmup: Option<LiveRound>,
    /// Each live round.
    rounds: Vec<LiveRound>,
}

/// What one live round measured.
#[derive(Debug, Serialize)]
struct LiveRound {
    created: u64,
    create_errors: u64,
    expected_deliveries: u64,
    delivered: u64,
    lost: u64,
    duplicated_or_out_of_order: u64,
    wrong_tickets: u64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    /// From the create's answer (which comes after the commit) to arrival: a lower bound.
    answered_p50_ms: f64,
    answered_p99_ms: f64,
    gateway_rss_peak_mib: f64,
    service_rss_peak_mib: f64,
    /// CPU time per ticket created, from the first create until every stream had its events
    /// (or the wait gave up): the service's (creates, numbering, fan-out to its watches) and
    /// the gateway's (its upstream watches and the partner streams).
    service_cpu_us_per_event: f64,
    gateway_cpu_us_per_event: f64,
}

/// CPU seconds of the service and the gateway, now.
fn servers_cpu(args: &EventsArgs) -> (f64, f64) {
    let of = |pid: u32| procfs::cpu_seconds(&pid.to_string()).unwrap_or(f64::NAN);
    (of(args.service_pid), of(args.gateway_pid))
}

/// The fields of an event the benchmark reads (borrowed: no allocation per event).
#[derive(serde::Deserialize)]
struct Wire<'a> {
    id: i64,
    occurred_at: &'a str,
    #[serde(borrow)]
    ticket: WireTicket<'a>,
}

#[derive(serde::Deserialize)]
struct WireTicket<'a> {
    id: &'a str,
}

/// What one stream saw.
#[derive(Debug, Default)]
struct Seen {
    /// Each event's ticket, arrival, and latency from its `occurred_at` in µs (kept per stream
    /// and summed up at the end: no lock or histogram shared by the streams while they run).
    arrivals: std::sync::Mutex<Vec<(Uuid, SystemTime, u64)>>,
    count: AtomicU64,
    /// The id of the newest event received (reported for a stream that missed events).
    last_id: std::sync::atomic::AtomicI64,
    /// Events at or below the previous id.
    disorder: AtomicU64,
    /// The wrapping sum of the ticket ids received.
    sum: AtomicU64,
    /// How the stream ended, if it did before the round was over (the server ended it, or an
    /// error): reported for a stream that missed events.
    ended: std::sync::Mutex<Option<String>>,
}

/// What the writer made, per provider.
#[derive(Debug, Default)]
struct Made {
    count: AtomicU64,
    sum: AtomicU64,
    /// When each ticket's create was answered.
    answered: std::sync::Mutex<std::collections::HashMap<Uuid, SystemTime>>,
}

fn fold(id: Uuid) -> u64 {
    let (high, low) = id.as_u64_pair();
    high ^ low
}

async fn token(http_url: &str, id: &str, secret: &str) -> anyhow::Result<String> {
    let mut http = Http1::new(http_url)?;
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/oauth2/token")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))?;
    let (status, body, _) = http.send(request).await.map_err(anyhow::Error::msg)?;
    anyhow::ensure!(status == StatusCode::OK, "token for {id}: {status}");
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(json["access_token"].as_str().context("no access_token")?.to_owned())
}

async fn partners(args: &EventsArgs) -> anyhow::Result<Vec<Partner>> {
    let fixture = Fixture::load(Some(&args.clients), None, None, None)?;
    let mut partners = Vec::new();
    for provider in &fixture.providers {
        let (id, secret, api_key) = provider.client.clone().context("a client per provider")?;
        partners.push(Partner {
            provider: provider.id.parse()?,
            token: token(&args.http_url, &id, &secret).await?,
            api_key,
        });
    }
    anyhow::ensure!(!partners.is_empty(), "no clients");
    Ok(partners)
}

/// HTTP/2 connections to the gateway, each carrying up to `per_connection` streams.
struct Connections {
    address: String,
    per_connection: usize,
    senders: Vec<SendRequest<Empty<Bytes>>>,
    used: usize,
}

impl Connections {
    fn new(http_url: &str, per_connection: usize) -> anyhow::Result<Self> {
        let address = http_url.trim_start_matches("http://").trim_end_matches('/').to_owned();
        Ok(Self { address, per_connection, senders: Vec::new(), used: 0 })
    }

    async fn sender(&mut self) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
        if self.senders.is_empty() || self.used == self.per_connection {
            let stream = TcpStream::connect(&self.address).await?;
            stream.set_nodelay(true)?;
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await?;
            tokio::spawn(connection);
            self.senders.push(sender);
            self.used = 0;
        }
        self.used += 1;
        Ok(self.senders.last().context("a connection")?.clone())
    }
}

/// Opens one event stream for `partner` after `after`.
async fn open(
    connections: &mut Connections,
    partner: &Partner,
    after: i64,
) -> anyhow::Result<Incoming> {
    if connections.per_connection == 0 {
        return open_http1(&connections.address, partner, after).await;
    }
    let mut sender = connections.sender().await?;
    let request = Request::builder()
        .uri(format!("http://{}/v2/tickets/events?after={after}", connections.address))
        .header(ACCEPT, "text/event-stream")
        .header(AUTHORIZATION, format!("Bearer {}", partner.token))
        .header("x-api-key", HeaderValue::from_str(&partner.api_key)?)
        .body(Empty::new())?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    if response.status() != StatusCode::OK {
        bail!("stream refused: {}", response.status());
    }
    Ok(response.into_body())
}

/// Opens one event stream on a connection of its own (HTTP/1.1).
async fn open_http1(address: &str, partner: &Partner, after: i64) -> anyhow::Result<Incoming> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::builder()
        .uri(format!("/v2/tickets/events?after={after}"))
        .header(hyper::header::HOST, address)
        .header(ACCEPT, "text/event-stream")
        .header(AUTHORIZATION, format!("Bearer {}", partner.token))
        .header("x-api-key", HeaderValue::from_str(&partner.api_key)?)
        .body(Empty::new())?;
    let response = sender.send_request(request).await?;
    if response.status() != StatusCode::OK {
        bail!("stream refused: {}", response.status());
    }
    Ok(response.into_body())
}

/// Reads `body` until it ends, recording every event in `seen`.
///
/// Each chunk is parsed where it lies (a stream that is behind gets up to 64 events in one):
/// only an incomplete frame at its end is kept for the next, so the client's cost per event
/// stays small and constant — it shares the machine with what it measures.
async fn follow(mut body: Incoming, seen: Arc<Seen>) {
    let mut carried: Vec<u8> = Vec::new();
    let mut last = 0_i64;
    loop {
        let frame = match body.frame().await {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                record_end(&seen, format!("error: {error}"));
                return;
            }
            None => {
                record_end(&seen, "ended by the gateway".to_owned());
                return;
            }
        };
        let Ok(data) = frame.into_data() else { continue };
        let arrived = SystemTime::now();
        let text: &[u8] = if carried.is_empty() {
            &data
        } else {
            carried.extend_from_slice(&data);
            &carried
        };
        let mut rest = text;
        let Ok(mut arrivals) = seen.arrivals.lock() else { return };
        while let Some(end) = rest.windows(2).position(|pair| pair == b"\n\n") {
            let (event, after) = rest.split_at(end + 2);
            rest = after;
            let Some(wire) =
                event_data(event).and_then(|json| serde_json::from_slice::<Wire<'_>>(json).ok())
            else {
                continue;
            };
            if wire.id <= last {
                seen.disorder.fetch_add(1, Ordering::Relaxed);
            }
            last = wire.id;
            seen.last_id.store(last, Ordering::Relaxed);
            let occurred = chrono::DateTime::parse_from_rfc3339(wire.occurred_at)
                .map_or(arrived, SystemTime::from);
            let micros = arrived.duration_since(occurred).unwrap_or_default().as_micros();
            if let Ok(ticket) = wire.ticket.id.parse() {
                seen.sum.fetch_add(fold(ticket), Ordering::Relaxed);
                arrivals.push((ticket, arrived, u64::try_from(micros).unwrap_or(u64::MAX)));
            }
            seen.count.fetch_add(1, Ordering::Relaxed);
        }
        drop(arrivals);
        carried = rest.to_vec();
    }
}

fn record_end(seen: &Seen, how: String) {
    if let Ok(mut ended) = seen.ended.lock() {
        *ended = Some(how);
    }
}

/// The `data:` line of one event frame (a comment or a frame without data has none).
fn event_data(frame: &[u8]) -> Option<&[u8]> {
    frame.split(|byte| *byte == b'\n').find_map(|line| line.strip_prefix(b"data: "))
}

/// The newest event id of `partner`'s provider, read page by page.
async fn head(http_url: &str, partner: &Partner) -> anyhow::Result<i64> {
    let mut http = Http1::new(http_url)?;
    let mut after = 0;
    loop {
        let request = Request::builder()
            .uri(format!("/v2/tickets/events?after={after}&limit=1000"))
            .header(AUTHORIZATION, format!("Bearer {}", partner.token))
            .header("x-api-key", HeaderValue::from_str(&partner.api_key)?)
            .body(Full::new(Bytes::new()))?;
        let (status, body, _) = http.send(request).await.map_err(anyhow::Error::msg)?;
        anyhow::ensure!(status == StatusCode::OK, "events page: {status}");
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        let events = page["result"].as_array().context("result")?;
        if let Some(last) = events.last() {
            after = last["id"].as_i64().context("id")?;
        }
        if events.len() < 1000 {
            return Ok(after);
        }
    }
}

async fn gauge(metrics_url: &str, name: &str) -> f64 {
    let Ok(mut http) = Http1::new(metrics_url) else { return f64::NAN };
    let Ok(request) = Request::builder().uri("/metrics").body(Full::new(Bytes::new())) else {
        return f64::NAN;
    };
    let Ok((_, body, _)) = http.send(request).await else { return f64::NAN };
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// Waits until every gauge `(name, value)` reads its value, for at most 30 s (the report then
/// shows what the gauges read).
async fn wait_for_gauges(metrics_url: &str, wanted: &[(&str, f64)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let mut all = true;
        for &(name, value) in wanted {
            // Gauges of whole counts: exact comparison.
            let reads = gauge(metrics_url, name).await == value;
            all &= reads;
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("the gateway's gauges did not reach {wanted:?} within 30 s");
}

/// The upper bounds of the buckets holding `quantiles` of a Prometheus histogram `name`.
async fn histogram_quantiles(metrics_url: &str, name: &str, quantiles: &[f64]) -> Vec<f64> {
    let text = async {
        let mut http = Http1::new(metrics_url).ok()?;
        let request = Request::builder().uri("/metrics").body(Full::new(Bytes::new())).ok()?;
        let (_, body, _) = http.send(request).await.ok()?;
        Some(String::from_utf8_lossy(&body).into_owned())
    }
    .await
    .unwrap_or_default();
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| {
            let (bound, count) = line.strip_prefix(&prefix)?.split_once("\"} ")?;
            Some((bound.parse().ok()?, count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |(_, count)| *count);
    // As Prometheus's `histogram_quantile`: linear within the bucket the quantile falls in.
    quantiles
        .iter()
        .map(|q| {
            let rank = q * total;
            let mut below = (0.0, 0.0);
            for &(bound, count) in &buckets {
                if count >= rank {
                    if bound.is_infinite() {
                        return below.0;
                    }
                    let share =
                        if count > below.1 { (rank - below.1) / (count - below.1) } else { 1.0 };
                    return below.0 + (bound - below.0) * share;
                }
                below = (bound, count);
            }
            f64::NAN
        })
        .collect()
}

fn mib(kib: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "memory sizes are far below 2^52 KiB")]
    let kib = kib as f64;
    kib / 1024.0
}

fn millis(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "latencies are far below 2^52 µs")]
    let micros = histogram.value_at_quantile(quantile) as f64;
    micros / 1000.0
}

/// One live phase: `--subscribers` streams from each provider's newest event while tickets are
/// created for `seconds`, then what they saw.
async fn live_round(
    args: &EventsArgs,
    partners: &[Partner],
    internal: &str,
    seconds: u64,
) -> anyhow::Result<LiveRound> {
    let mut heads = Vec::new();
    for partner in partners {
        heads.push(head(&args.http_url, partner).await?);
    }

    let mut connections = Connections::new(&args.http_url, args.streams_per_connection)?;
    let mut seen = Vec::new();
    let mut followers = Vec::new();
    for index in 0..args.subscribers {
        let at = index % partners.len();
        let body = open(&mut connections, &partners[at], heads[at]).await?;
        let record = Arc::new(Seen::default());
        seen.push((at, record.clone()));
        followers.push(tokio::spawn(follow(body, record)));
    }
    eprintln!(
        "{} streams open; creating {} tickets/s for {} s",
        args.subscribers, args.rate, seconds
    );
    procfs::reset_peak_rss(args.gateway_pid);
    procfs::reset_peak_rss(args.service_pid);
    let made: Arc<Vec<Made>> = Arc::new(partners.iter().map(|_| Made::default()).collect());
    let create_errors = Arc::new(AtomicU64::new(0));
    let channel = Endpoint::from_shared(args.grpc_url.clone())?.connect().await?;
    let authorization: MetadataValue<_> = format!("Bearer {internal}").parse()?;
    let in_flight = Arc::new(Semaphore::new(256));
    let total = u64::from(args.rate) * seconds;
    let interval = Duration::from_secs(1) / args.rate.max(1);
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = servers_cpu(args);
    let mut writers = Vec::new();
    for n in 0..total {
        tokio::time::sleep_until(started + interval * u32::try_from(n).unwrap_or(u32::MAX)).await;
        let permit = in_flight.clone().acquire_owned().await?;
        let at = next.fetch_add(1, Ordering::Relaxed) % partners.len();
        let (made, errors, provider) = (made.clone(), create_errors.clone(), partners[at].provider);
        let mut client = TicketServiceClient::new(channel.clone());
        let authorization = authorization.clone();
        writers.push(tokio::spawn(async move {
            let mut request = tonic::Request::new(CreatePendingTicketRequest {
                customer_id: Uuid::new_v4().to_string(),
                vehicle_model_id: 1,
                vin: "1HGCM82633A004352".to_owned(),
                connection_id: None,
            });
            request.metadata_mut().insert("authorization", authorization);
            if let Ok(value) = provider.hyphenated().to_string().parse() {
                request.metadata_mut().insert(PROVIDER_ID, value);
            }
            match client.create_pending_ticket(request).await {
                Ok(ticket) => {
                    let id: Uuid = ticket.into_inner().id.parse().unwrap_or_default();
                    let answered = SystemTime::now();
                    made[at].count.fetch_add(1, Ordering::Relaxed);
                    made[at].sum.fetch_add(fold(id), Ordering::Relaxed);
                    if let Ok(mut map) = made[at].answered.lock() {
                        map.insert(id, answered);
                    }
                }
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(permit);
        }));
    }
    for writer in writers {
        writer.await?;
    }
    // Every stream has everything, or 10 s pass.
    let expected = |at: usize| made[at].count.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && seen.iter().any(|(at, s)| s.count.load(Ordering::Relaxed) < expected(*at))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu_after = servers_cpu(args);
    let peak_of = |pid: u32| procfs::rss_kib(pid).map_or(0, |resident| resident.peak);
    let (live_peak, service_peak) = (peak_of(args.gateway_pid), peak_of(args.service_pid));
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut answered = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for (at, record) in &seen {
        let Ok(map) = made[*at].answered.lock() else { continue };
        let Ok(arrivals) = record.arrivals.lock() else { continue };
        for (ticket, arrived, micros) in arrivals.iter() {
            latencies.saturating_record((*micros).max(1));
            if let Some(sent) = map.get(ticket) {
                let micros = arrived.duration_since(*sent).unwrap_or_default().as_micros();
                answered.record(u64::try_from(micros).unwrap_or(u64::MAX).max(1))?;
            }
        }
    }
    let (mut delivered, mut expected_deliveries, mut disorder, mut wrong) = (0, 0, 0, 0);
    for (index, (at, record)) in seen.iter().enumerate() {
        let count = record.count.load(Ordering::Relaxed);
        if count < expected(*at) {
            // What a stream that missed events did: the figures alone cannot tell a stream
            // the gateway ended from one that stalled.
            let ended = record.ended.lock().ok().and_then(|ended| ended.clone());
            eprintln!(
                "stream {index} (provider {at}, connection {}): {count} of {} events, the last \
                 id {}; {}; missed {}",
                index / args.streams_per_connection.max(1),
                expected(*at),
                record.last_id.load(Ordering::Relaxed),
                ended.as_deref().unwrap_or("still open"),
                missed(&made[*at], record)
            );
        }
        delivered += count;
        expected_deliveries += expected(*at);
        disorder += record.disorder.load(Ordering::Relaxed);
        if count == expected(*at)
            && record.sum.load(Ordering::Relaxed) != made[*at].sum.load(Ordering::Relaxed)
        {
            wrong += 1;
        }
    }
    drop(connections);
    for follower in &followers {
        follower.abort();
    }

    let created: u64 = made.iter().map(|m| m.count.load(Ordering::Relaxed)).sum();
    let per_event = |before: f64, after: f64| (after - before) * 1e6 / created.max(1) as f64;
    Ok(LiveRound {
        created,
        create_errors: create_errors.load(Ordering::Relaxed),
        expected_deliveries,
        delivered,
        lost: expected_deliveries.saturating_sub(delivered),
        duplicated_or_out_of_order: disorder + delivered.saturating_sub(expected_deliveries),
        wrong_tickets: wrong,
        latency_p50_ms: millis(&latencies, 0.50),
        latency_p99_ms: millis(&latencies, 0.99),
        latency_max_ms: millis(&latencies, 1.0),
        answered_p50_ms: millis(&answered, 0.50),
        answered_p99_ms: millis(&answered, 0.99),
        gateway_rss_peak_mib: mib(live_peak),
        service_rss_peak_mib: mib(service_peak),
        service_cpu_us_per_event: per_event(cpu_before.0, cpu_after.0),
        gateway_cpu_us_per_event: per_event(cpu_before.1, cpu_after.1),
    })
}

/// The tickets `made` whose events `seen` did not receive, oldest answer first (at most five,
/// with when each create was answered): to look up in a kept database.
fn missed(made: &Made, seen: &Seen) -> String {
    let (Ok(answered), Ok(arrivals)) = (made.answered.lock(), seen.arrivals.lock()) else {
        return String::new();
    };
    let received: std::collections::HashSet<Uuid> =
        arrivals.iter().map(|(ticket, ..)| *ticket).collect();
    let mut missing: Vec<(SystemTime, Uuid)> = answered
        .iter()
        .filter(|(ticket, _)| !received.contains(ticket))
        .map(|(ticket, at)| (*at, *ticket))
        .collect();
    missing.sort_unstable();
    let shown: Vec<String> = missing
        .iter()
        .take(5)
        .map(|(at, ticket)| {
            format!(
                "{ticket} (answered {})",
                chrono::DateTime::<chrono::Utc>::from(*at).format("%H:%M:%S%.3f")
            )
        })
        .collect();
    format!("{} tickets: {}", missing.len(), shown.join(", "))
}

/// Runs both phases.
pub(crate) async fn run(args: &EventsArgs) -> anyhow::Result<EventsResult> {
    let partners = partners(args).await?;
    let (internal_id, internal_secret) =
        args.internal_client.split_once(':').context("--internal-client id:secret")?;
    let internal = token(&args.http_url, internal_id, internal_secret).await?;
    // The warm-up, then the live phases, one per round.
    let mut warmup = None;
    if args.warmup > 0 {
        eprintln!("warm-up");
        warmup = Some(live_round(args, &partners, &internal, args.warmup).await?);
    }
    let mut rounds = Vec::new();
    for round in 1..=args.rounds.max(1) {
        eprintln!("live round {round} of {}", args.rounds.max(1));
        rounds.push(live_round(args, &partners, &internal, args.duration).await?);
    }
    let lag =
        histogram_quantiles(&args.metrics_url, "event_delivery_lag_seconds", &[0.5, 0.99]).await;

    // Idle phase.
    let (mut idle_open, mut idle_watches, mut idle_rss, mut idle_peak) = (f64::NAN, f64::NAN, 0, 0);
    if args.idle_streams > 0 {
        // The live streams close and their feeds retire.
        wait_for_gauges(
            &args.metrics_url,
            &[("event_streams_open", 0.0), ("event_upstream_watches", 0.0)],
        )
        .await;
        procfs::reset_peak_rss(args.gateway_pid);
        let mut connections = Connections::new(&args.http_url, args.streams_per_connection)?;
        // From each provider's newest event: idle streams, with no backlog to send.
        let mut newest = Vec::new();
        for partner in &partners {
            newest.push(head(&args.http_url, partner).await?);
        }
        let mut held = Vec::new();
        for index in 0..args.idle_streams {
            let at = index % partners.len();
            held.push(open(&mut connections, &partners[at], newest[at]).await?);
        }
        let wanted = args.idle_streams as f64;
        wait_for_gauges(&args.metrics_url, &[("event_streams_open", wanted)]).await;
        idle_open = gauge(&args.metrics_url, "event_streams_open").await;
        idle_watches = gauge(&args.metrics_url, "event_upstream_watches").await;
        if let Some(resident) = procfs::rss_kib(args.gateway_pid) {
            (idle_rss, idle_peak) = (resident.now, resident.peak);
        }
        if args.hold_idle > 0 {
            eprintln!("holding {} idle streams for {} s", held.len(), args.hold_idle);
            tokio::time::sleep(Duration::from_secs(args.hold_idle)).await;
        }
        drop(held);
    }

    let median = |value: fn(&LiveRound) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(value).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    // Every delivery counts, the warm-up's too.
    let sum = |value: fn(&LiveRound) -> u64| rounds.iter().chain(&warmup).map(value).sum::<u64>();
    let live = LiveRound {
        created: sum(|r| r.created),
        create_errors: sum(|r| r.create_errors),
        expected_deliveries: sum(|r| r.expected_deliveries),
        delivered: sum(|r| r.delivered),
        lost: sum(|r| r.lost),
        duplicated_or_out_of_order: sum(|r| r.duplicated_or_out_of_order),
        wrong_tickets: sum(|r| r.wrong_tickets),
        latency_p50_ms: median(|r| r.latency_p50_ms),
        latency_p99_ms: median(|r| r.latency_p99_ms),
        latency_max_ms: rounds.iter().map(|r| r.latency_max_ms).fold(0.0, f64::max),
        answered_p50_ms: median(|r| r.answered_p50_ms),
        answered_p99_ms: median(|r| r.answered_p99_ms),
        gateway_rss_peak_mib: rounds.iter().map(|r| r.gateway_rss_peak_mib).fold(0.0, f64::max),
        service_rss_peak_mib: rounds.iter().map(|r| r.service_rss_peak_mib).fold(0.0, f64::max),
        service_cpu_us_per_event: median(|r| r.service_cpu_us_per_event),
        gateway_cpu_us_per_event: median(|r| r.gateway_cpu_us_per_event),
    };
    Ok(EventsResult {
        subscribers: args.subscribers,
        providers: partners.len(),
        rate: args.rate,
        duration_s: args.duration,
        live,
        gateway_lag_p50_ms: lag[0] * 1000.0,
        gateway_lag_p99_ms: lag[1] * 1000.0,
        idle_streams: args.idle_streams,
        idle_streams_open: idle_open,
        idle_upstream_watches: idle_watches,
        idle_gateway_rss_mib: mib(idle_rss),
        idle_gateway_rss_peak_mib: mib(idle_peak),
        warmup,
        rounds,
    })
}

impl EventsResult {
    /// One figure of every round, in order.
    fn each(&self, value: fn(&LiveRound) -> f64) -> String {
        let values: Vec<String> = self.rounds.iter().map(|r| format!("{:.1}", value(r))).collect();
        values.join(", ")
    }

    /// The markdown rows of bench/README.md.
    pub(crate) fn report(&self) -> String {
        let pass = |ok: bool| if ok { "met" } else { "**missed**" };
        format!(
            "| measure | value | target | |\n|---|---|---|---|\n\
             | live streams × tickets/s × s | {} × {} × {} per round ({} created in all, {} errors) | 1,000 × 500 | |\n\
             | warm-up before the rounds (in the counts, not the latencies) | {} | | |\n\
             | commit → client p50, median of the rounds ({}) | {:.1} ms | ≤ 10 ms | {} |\n\
             | commit → client p99, median of the rounds ({}); max | {:.1} ms; {:.1} ms | ≤ 100 ms | {} |\n\
             | create answered → client p50 / p99 (lower bound) | {:.1} / {:.1} ms | | |\n\
             | gateway's own lag p50 / p99 (interpolated in its bucket) | {:.1} / {:.1} ms | | |\n\
             | deliveries lost / duplicated or out of order / wrong tickets | {} / {} / {} of {} | 0 / 0 / 0 | {} |\n\
             | CPU per ticket created, service / gateway, median of the rounds ({} / {}) | {:.0} / {:.0} µs | | |\n\
             | peak RSS in the live phase, gateway / service | {:.1} / {:.1} MiB | | |\n\
             | idle streams open (gauge) | {} ({}) | 10,000 | |\n\
             | upstream watches while idle (one per provider) | {} | ≤ {} | {} |\n\
             | gateway RSS with the idle streams (peak) | {:.1} MiB ({:.1} MiB) | ≤ 64 MiB | {} |\n",
            self.subscribers,
            self.rate,
            self.duration_s,
            self.live.created,
            self.live.create_errors,
            self.warmup.as_ref().map_or_else(
                || "none".to_owned(),
                |warmup| format!(
                    "{} created: p50 {:.1} ms, p99 {:.1} ms",
                    warmup.created, warmup.latency_p50_ms, warmup.latency_p99_ms
                )
            ),
            self.each(|r| r.latency_p50_ms),
            self.live.latency_p50_ms,
            pass(self.live.latency_p50_ms <= 10.0),
            self.each(|r| r.latency_p99_ms),
            self.live.latency_p99_ms,
            self.live.latency_max_ms,
            pass(self.live.latency_p99_ms <= 100.0),
            self.live.answered_p50_ms,
            self.live.answered_p99_ms,
            self.gateway_lag_p50_ms,
            self.gateway_lag_p99_ms,
            self.live.lost,
            self.live.duplicated_or_out_of_order,
            self.live.wrong_tickets,
            self.live.expected_deliveries,
            pass(
                self.live.lost == 0
                    && self.live.duplicated_or_out_of_order == 0
                    && self.live.wrong_tickets == 0
            ),
            self.each(|r| r.service_cpu_us_per_event),
            self.each(|r| r.gateway_cpu_us_per_event),
            self.live.service_cpu_us_per_event,
            self.live.gateway_cpu_us_per_event,
            self.live.gateway_rss_peak_mib,
            self.live.service_rss_peak_mib,
            self.idle_streams,
            self.idle_streams_open,
            self.idle_upstream_watches,
            self.providers,
            pass(self.idle_upstream_watches <= self.providers as f64),
            self.idle_gateway_rss_mib,
            self.idle_gateway_rss_peak_mib,
            pass(self.idle_gateway_rss_peak_mib <= 64.0),
        )
    }
}
