//! Closed-loop load at a fixed concurrency: `concurrency` workers, each sending its next request
//! as soon as the previous one is answered, first for a warm-up (not recorded), then for the
//! measured window. A request counts when it both starts and completes inside the window;
//! throughput is the successful ones per second of window.
//!
//! Latencies go into an HDR histogram per worker (1 µs .. 60 s, 3 significant digits), merged at
//! the end. Being closed-loop, latency at saturation is ≈ concurrency / throughput: compare
//! latencies between rows of the same concurrency only.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use http_body_util::Full;
use hyper::{
    Method, StatusCode,
    body::Bytes,
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue},
};
use serde::{Deserialize, Serialize};
use tickets_contract::{
    cursor::{Cursor, CursorList},
    metadata::PROVIDER_ID,
    v2::{
        GetTicketRequest, ListTicketsRequest, StartServiceRequest,
        ticket_service_client::TicketServiceClient,
    },
};
use tokio::time::Instant;
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
};
use uuid::Uuid;

use crate::{
    fixture::Fixture,
    http1::Http1,
    procfs::{
        self, cpu_of_comm, cpu_seconds, machine_busy_seconds, reset_peak_rss, wait_for_quiet,
    },
};

/// What one run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Scenario {
    /// `GET /v2/tickets/pending-tickets/{id}` of a random pending ticket.
    RestGet,
    /// `GET /v2/tickets/pending-tickets?limit=25&offset=N`, N random within the provider's set.
    RestList,
    /// `PATCH /v2/tickets/pending-tickets/{id}` start-service, each ticket of the pool once.
    RestStart,
    /// `GetPendingTicket` straight to the service.
    GrpcGet,
    /// `ListPendingTickets{limit: 25, offset: N}` straight to the service.
    GrpcList,
    /// `StartService` straight to the service, each ticket of the pool once.
    GrpcStart,
    /// `GET /v2/tickets/in-progress-tickets?limit=25` of a random provider: its history's first
    /// page, a page after a random `--cursors` position, or (`--history-offsets N`) a page at a
    /// random offset below N.
    RestHistory,
}

impl Scenario {
    fn is_rest(self) -> bool {
        matches!(self, Self::RestGet | Self::RestList | Self::RestStart | Self::RestHistory)
    }

    fn consumes_pool(self) -> bool {
        matches!(self, Self::RestStart | Self::GrpcStart)
    }
}

/// `tickets-bench load` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// The scenario to run.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// A free label stored with the results (the report uses `full`, `none` and `latency`).
    #[arg(long, default_value = "full")]
    label: String,
    /// Which round of an interleaved comparison this run is (the report pairs rounds of the
    /// rows it compares, and takes medians).
    #[arg(long, default_value_t = 1)]
    round: u32,
    /// Requests in flight at any time.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured window, seconds.
    #[arg(long, default_value_t = 15.0)]
    duration: f64,
    /// Warm-up before the window (same load, not recorded), seconds.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Worker threads of the load generator's own runtime.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:28080")]
    http_url: String,
    /// The ticket service.
    #[arg(long, default_value = "http://127.0.0.1:25051")]
    grpc_url: String,
    /// Where the REST clients' tokens come from (default: `--http-url`; the reference server
    /// has no token endpoint).
    #[arg(long)]
    token_url: Option<String>,
    /// HTTP/2 connections to the service for the gRPC scenarios (the gateway uses one).
    #[arg(long, default_value_t = 1)]
    grpc_connections: usize,
    /// Page size of the list scenarios.
    #[arg(long, default_value_t = 25)]
    list_limit: usize,
    /// REST clients: `client_id secret api_key provider_id` per line.
    #[arg(long)]
    clients: Option<PathBuf>,
    /// The internal client the gRPC scenarios call as, `client_id:secret`: its token (from the
    /// gateway's token endpoint) goes on every call, as a real internal caller's would.
    #[arg(long)]
    internal_client: Option<String>,
    /// Operators: `provider_id operator_id` per line.
    #[arg(long)]
    operators: Option<PathBuf>,
    /// The pending set that get and list read: `provider_id ticket_id` per line.
    #[arg(long)]
    pending: Option<PathBuf>,
    /// `rest-history`: positions in the providers' in-progress lists to page after, as
    /// `provider_id created_at_micros ticket_number` per line (made into cursors here).
    #[arg(long)]
    cursors: Option<PathBuf>,
    /// `rest-history` without `--cursors`: page at a random offset below this (0: the first
    /// page).
    #[arg(long, default_value_t = 0)]
    history_offsets: usize,
    /// `Accept-Encoding` of the REST requests (none: the header is not sent).
    #[arg(long)]
    accept_encoding: Option<String>,
    /// Pending tickets start-service consumes, each once: `provider_id ticket_id` per line.
    #[arg(long)]
    pool: Option<PathBuf>,
    /// A server whose peak RSS to measure during the run, as `name=pid` (repeatable). Its
    /// high-water mark is reset (`/proc/PID/clear_refs`) before the warm-up and read after.
    #[arg(long = "pid", value_parser = parse_pid)]
    pids: Vec<(String, u32)>,
    /// Also account the CPU time of every process with this command name (e.g. `postgres`)
    /// during the window, as `name` in the results.
    #[arg(long)]
    cpu_comm: Option<String>,
    /// Before starting, wait up to this many seconds for the machine to be quiet (under 15%
    /// busy over one second), so that a build or test run beside the benchmark does not skew
    /// the row; 0 skips the check.
    #[arg(long, default_value_t = 0.0)]
    wait_idle: f64,
    /// The results file; one JSON line is appended.
    #[arg(long)]
    pub(crate) out: PathBuf,
}

fn parse_pid(text: &str) -> Result<(String, u32), String> {
    let (name, pid) = text.split_once('=').ok_or("expected name=pid")?;
    Ok((name.to_owned(), pid.parse().map_err(|_| format!("{pid:?} is not a pid"))?))
}

/// A server's memory during the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Rss {
    pub(crate) name: String,
    pub(crate) pid: u32,
    /// `VmHWM` after the run: the peak resident set since the reset before the warm-up.
    pub(crate) peak_kib: u64,
    /// `VmRSS` after the run.
    pub(crate) current_kib: u64,
    /// Whether the high-water mark could be reset (else it is the peak since process start).
    pub(crate) reset: bool,
}

/// CPU time one party spent during the measured window.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Cpu {
    /// `gateway`, `service`, the `--cpu-comm` name, or `load generator`.
    pub(crate) name: String,
    /// User + system CPU seconds in the window.
    pub(crate) seconds: f64,
}

/// The results of one run: one line of the results file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LoadResult {
    pub(crate) scenario: Scenario,
    pub(crate) label: String,
    /// The round of an interleaved comparison (1 when the row runs once).
    #[serde(default = "first_round")]
    pub(crate) round: u32,
    pub(crate) concurrency: usize,
    /// The measured window, seconds.
    pub(crate) window_s: f64,
    pub(crate) warmup_s: f64,
    /// Successful requests completed in the window.
    pub(crate) ok: u64,
    /// Failed requests (transport error or unexpected status) completed in the window.
    pub(crate) errors: u64,
    /// Up to a few distinct error texts with their counts (warm-up included).
    pub(crate) error_samples: BTreeMap<String, u64>,
    /// `ok / window_s`.
    pub(crate) throughput: f64,
    pub(crate) mean_ms: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
    /// Start-service only: the pool ran out before the window ended (the run stopped early).
    pub(crate) exhausted: bool,
    /// Start-service only: pool tickets taken (warm-up included).
    pub(crate) consumed: usize,
    pub(crate) rss: Vec<Rss>,
    /// Seconds spent waiting for a quiet machine before the run (`--wait-idle`), and how busy
    /// the machine was in the last second of that wait (fraction of all cores).
    #[serde(default)]
    pub(crate) idle_wait_s: f64,
    #[serde(default)]
    pub(crate) busy_before: f64,
    /// CPU seconds per party in the window (utime + stime from `/proc`).
    #[serde(default)]
    pub(crate) cpu: Vec<Cpu>,
    /// Mean size of a response body as received (compressed when it was), bytes.
    #[serde(default)]
    pub(crate) body_bytes: f64,
    /// The `Content-Encoding` of the last response (`identity` when none).
    #[serde(default)]
    pub(crate) content_encoding: String,
}

const fn first_round() -> u32 {
    1
}

impl LoadResult {
    /// One line for the console.
    pub(crate) fn summary(&self) -> String {
        let mut line = format!(
            "{:<11} {:<7} c={:<3} {:>9.1} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  ok {} err {}",
            serde_json::to_value(self.scenario)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            self.label,
            self.concurrency,
            self.throughput,
            self.p50_ms,
            self.p99_ms,
            self.ok,
            self.errors
        );
        for rss in &self.rss {
            let _ = write!(line, "  {} peak {:.1} MiB", rss.name, kib_to_mib(rss.peak_kib));
        }
        for cpu in &self.cpu {
            let _ = write!(line, "  {} cpu {:.2} s", cpu.name, cpu.seconds);
        }
        if self.idle_wait_s > 1.5 {
            let _ = write!(
                line,
                "  (waited {:.0} s for a quiet machine; {:.0}% busy at start)",
                self.idle_wait_s,
                self.busy_before * 100.0
            );
        }
        if self.exhausted {
            line.push_str("  POOL EXHAUSTED");
        }
        for (error, count) in &self.error_samples {
            let _ = write!(line, "\n    {count} × {error}");
        }
        line
    }
}

pub(crate) fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A small, fast, seedable generator (SplitMix64): the load generator must not spend the CPU
/// the servers need.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next() % n).unwrap_or(0)
    }
}

/// One request to send.
#[derive(Debug, Clone, Copy)]
enum Op {
    Get {
        provider: usize,
        id: Uuid,
    },
    List {
        provider: usize,
        offset: usize,
    },
    Start {
        provider: usize,
        id: Uuid,
        operator: Uuid,
    },
    /// A page of the in-progress list: after `Shared::cursors[provider][cursor]`, else at
    /// `offset`.
    History {
        provider: usize,
        cursor: Option<usize>,
        offset: usize,
    },
}

/// How requests reach the system under test.
#[derive(Debug)]
enum Target {
    Rest {
        /// `http://host:port` of the gateway.
        base: String,
        /// Per provider: `(Authorization, x-api-key)`.
        credentials: Vec<Option<(HeaderValue, HeaderValue)>>,
    },
    Grpc {
        channels: Vec<Channel>,
        /// Per provider: the `x-provider-id` value.
        provider_ids: Vec<MetadataValue<Ascii>>,
        /// The internal client's `authorization` (none: the service checks no token).
        authorization: Option<MetadataValue<Ascii>>,
    },
}

#[derive(Debug)]
struct Shared {
    scenario: Scenario,
    fixture: Fixture,
    target: Target,
    /// Providers that have pending tickets (list picks among them).
    listable: Vec<usize>,
    list_limit: usize,
    /// Per provider: encoded cursors into its in-progress list.
    cursors: Vec<Vec<String>>,
    history_offsets: usize,
    accept_encoding: Option<HeaderValue>,
    next_in_pool: AtomicUsize,
    exhausted: AtomicBool,
    measure_from: Instant,
    stop: Instant,
}

impl Shared {
    fn next_op(&self, rng: &mut Rng) -> Option<Op> {
        let fixture = &self.fixture;
        match self.scenario {
            Scenario::RestGet | Scenario::GrpcGet => {
                let (provider, id) = fixture.pending[rng.below(fixture.pending.len())];
                Some(Op::Get { provider, id })
            }
            Scenario::RestList | Scenario::GrpcList => {
                let provider = self.listable[rng.below(self.listable.len())];
                let pages = fixture.providers[provider].pending.saturating_sub(self.list_limit);
                Some(Op::List { provider, offset: rng.below(pages + 1) })
            }
            Scenario::RestHistory => {
                let provider = rng.below(fixture.providers.len());
                let cursors = self.cursors.get(provider).map_or(0, Vec::len);
                let cursor = (cursors > 0).then(|| rng.below(cursors));
                let offset =
                    if self.history_offsets > 0 { rng.below(self.history_offsets) } else { 0 };
                Some(Op::History { provider, cursor, offset })
            }
            Scenario::RestStart | Scenario::GrpcStart => {
                let at = self.next_in_pool.fetch_add(1, Ordering::Relaxed);
                let Some(&(provider, id)) = fixture.pool.get(at) else {
                    self.exhausted.store(true, Ordering::Relaxed);
                    return None;
                };
                let operators = &fixture.providers[provider].operators;
                let operator = operators[rng.below(operators.len())];
                Some(Op::Start { provider, id, operator })
            }
        }
    }
}

/// What a worker saw.
#[derive(Debug)]
struct WorkerStats {
    histogram: Histogram<u64>,
    ok: u64,
    errors: u64,
    error_samples: BTreeMap<String, u64>,
    /// Body bytes of the successful responses in the window.
    body_bytes: u64,
    content_encoding: String,
}

impl WorkerStats {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            ok: 0,
            errors: 0,
            error_samples: BTreeMap::new(),
            body_bytes: 0,
            content_encoding: String::new(),
        })
    }

    fn note_error(&mut self, error: String) {
        if self.error_samples.len() < 8 || self.error_samples.contains_key(&error) {
            *self.error_samples.entry(error).or_default() += 1;
        }
    }
}

/// What a successful call received: body bytes, and the content coding (REST only).
type Received = (usize, Option<HeaderValue>);

async fn send_rest(
    client: &mut Http1,
    credentials: Option<&(HeaderValue, HeaderValue)>,
    shared: &Shared,
    op: Op,
) -> Result<Received, String> {
    let list_limit = shared.list_limit;
    let (bearer, api_key) = credentials.ok_or("no REST client for this provider")?;
    let (request, expected) = match op {
        Op::Get { id, .. } => (
            hyper::Request::get(format!("/v2/tickets/pending-tickets/{id}")).body(Full::default()),
            StatusCode::OK,
        ),
        Op::List { offset, .. } => (
            hyper::Request::get(format!(
                "/v2/tickets/pending-tickets?limit={list_limit}&offset={offset}"
            ))
            .body(Full::default()),
            StatusCode::OK,
        ),
        Op::History { provider, cursor, offset } => {
            let page = match cursor {
                Some(at) => format!("after={}", shared.cursors[provider][at]),
                None => format!("offset={offset}"),
            };
            (
                hyper::Request::get(format!(
                    "/v2/tickets/in-progress-tickets?limit={list_limit}&{page}"
                ))
                .body(Full::default()),
                StatusCode::OK,
            )
        }
        Op::Start { id, operator, .. } => (
            hyper::Request::builder()
                .method(Method::PATCH)
                .uri(format!("/v2/tickets/pending-tickets/{id}"))
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(Full::new(Bytes::from(format!(
                    r#"{{"transition":{{"type":"start-service","operator_id":"{operator}"}}}}"#
                )))),
            StatusCode::SEE_OTHER,
        ),
    };
    let mut request = request.map_err(|e| format!("building the request: {e}"))?;
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, bearer.clone());
    headers.insert("x-api-key", api_key.clone());
    if let Some(encoding) = &shared.accept_encoding {
        headers.insert(hyper::header::ACCEPT_ENCODING, encoding.clone());
    }
    // The whole body is read (not decoded), as any real client would.
    let (status, body, encoding) = client.send(request).await?;
    if status == expected {
        Ok((body.len(), encoding))
    } else {
        let body = String::from_utf8_lossy(&body);
        let body: String = body.chars().take(160).collect();
        Err(format!("HTTP {status}: {body}"))
    }
}

/// Who a gRPC call is from: the provider's `x-provider-id`, and the `authorization`.
type Caller<'a> = (&'a MetadataValue<Ascii>, Option<&'a MetadataValue<Ascii>>);

async fn send_grpc(
    client: &mut TicketServiceClient<Channel>,
    (provider_id, authorization): Caller<'_>,
    list_limit: i32,
    op: Op,
) -> Result<(), String> {
    fn scoped<T>(message: T, caller: Caller<'_>) -> Request<T> {
        let (provider_id, authorization) = caller;
        let mut request = Request::new(message);
        request.metadata_mut().insert(PROVIDER_ID, provider_id.clone());
        if let Some(authorization) = authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        request
    }
    let caller = (provider_id, authorization);
    let outcome = match op {
        Op::Get { id, .. } => client
            .get_pending_ticket(scoped(GetTicketRequest { id: id.to_string() }, caller))
            .await
            .map(drop),
        Op::List { offset, .. } => client
            .list_pending_tickets(scoped(
                ListTicketsRequest {
                    limit: Some(list_limit),
                    offset: Some(i64::try_from(offset).unwrap_or(i64::MAX)),
                    ..Default::default()
                },
                caller,
            ))
            .await
            .map(drop),
        Op::Start { id, operator, .. } => client
            .start_service(scoped(
                StartServiceRequest {
                    pending_ticket_id: id.to_string(),
                    operator_id: operator.to_string(),
                },
                caller,
            ))
            .await
            .map(drop),
        Op::History { .. } => return Err("rest-history has no gRPC form".to_owned()),
    };
    outcome.map_err(|status| format!("gRPC {:?}: {}", status.code(), status.message()))
}

async fn worker(shared: Arc<Shared>, number: usize) -> anyhow::Result<WorkerStats> {
    let mut stats = WorkerStats::new()?;
    let mut rng = Rng(0x5EED_0000_u64 ^ u64::try_from(number).unwrap_or(0).wrapping_mul(7919));
    let mut grpc = match &shared.target {
        Target::Grpc { channels, .. } => {
            Some(TicketServiceClient::new(channels[number % channels.len()].clone()))
        }
        Target::Rest { .. } => None,
    };
    let mut rest = match &shared.target {
        Target::Rest { base, .. } => Some(Http1::new(base)?),
        Target::Grpc { .. } => None,
    };
    let list_limit = i32::try_from(shared.list_limit).unwrap_or(i32::MAX);
    loop {
        if Instant::now() >= shared.stop {
            break;
        }
        let Some(op) = shared.next_op(&mut rng) else { break };
        let provider = match op {
            Op::Get { provider, .. }
            | Op::List { provider, .. }
            | Op::Start { provider, .. }
            | Op::History { provider, .. } => provider,
        };
        let started = Instant::now();
        let outcome = match (&shared.target, rest.as_mut(), grpc.as_mut()) {
            (Target::Rest { credentials, .. }, Some(client), _) => {
                send_rest(client, credentials[provider].as_ref(), &shared, op).await
            }
            (Target::Grpc { provider_ids, authorization, .. }, _, Some(client)) => {
                let caller = (&provider_ids[provider], authorization.as_ref());
                send_grpc(client, caller, list_limit, op).await.map(|()| (0, None))
            }
            _ => Err("no client for the target".to_owned()),
        };
        let ended = Instant::now();
        let in_window = started >= shared.measure_from && ended <= shared.stop;
        match outcome {
            Ok((bytes, encoding)) if in_window => {
                stats.ok += 1;
                stats.body_bytes += u64::try_from(bytes).unwrap_or(u64::MAX);
                if let Some(encoding) = encoding.and_then(|e| e.to_str().ok().map(str::to_owned)) {
                    stats.content_encoding = encoding;
                }
                let micros =
                    u64::try_from(ended.duration_since(started).as_micros()).unwrap_or(u64::MAX);
                stats.histogram.saturating_record(micros);
            }
            Ok(_) => {}
            Err(error) => {
                if in_window {
                    stats.errors += 1;
                }
                stats.note_error(error);
            }
        }
    }
    Ok(stats)
}

/// Gets a token for every provider that has a REST client.
async fn rest_credentials(
    base: &str,
    fixture: &Fixture,
) -> anyhow::Result<Vec<Option<(HeaderValue, HeaderValue)>>> {
    let mut client = Http1::new(base)?;
    let mut out = Vec::with_capacity(fixture.providers.len());
    for provider in &fixture.providers {
        let Some((client_id, secret, api_key)) = &provider.client else {
            out.push(None);
            continue;
        };
        let token = token(&mut client, base, client_id, secret).await?;
        out.push(Some((
            HeaderValue::from_str(&format!("Bearer {token}"))?,
            HeaderValue::from_str(api_key)?,
        )));
    }
    Ok(out)
}

/// A token for `client_id` from the gateway at `base`.
pub(crate) async fn token(
    client: &mut Http1,
    base: &str,
    client_id: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let request = hyper::Request::post("/oauth2/token")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        ))))?;
    let (status, body, _) =
        client.send(request).await.map_err(|e| anyhow::anyhow!("POST {base}/oauth2/token: {e}"))?;
    if status != StatusCode::OK {
        bail!("token for {client_id}: HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(json["access_token"].as_str().context("token response without access_token")?.to_owned())
}

/// The CPU entry for the rest of the machine.
pub(crate) const OTHER_CPU: &str = "rest of machine";

/// A CPU snapshot of every party.
#[derive(Debug)]
struct CpuSnapshot {
    pids: Vec<Option<f64>>,
    comm: BTreeMap<u32, f64>,
    own: Option<f64>,
    machine: Option<f64>,
}

impl CpuSnapshot {
    fn take(args: &LoadArgs) -> Self {
        Self {
            pids: args.pids.iter().map(|(_, pid)| cpu_seconds(&pid.to_string())).collect(),
            comm: args.cpu_comm.as_deref().map(cpu_of_comm).unwrap_or_default(),
            own: cpu_seconds("self"),
            machine: machine_busy_seconds(),
        }
    }

    /// What each party spent between `self` and `later`. For the `--cpu-comm` processes, those
    /// that started in between count from zero and those that ended are lost (short-lived
    /// connections only; the pool keeps its connections).
    fn spent(&self, later: &Self, args: &LoadArgs) -> Vec<Cpu> {
        let mut out = Vec::new();
        for (((name, _), before), after) in args.pids.iter().zip(&self.pids).zip(&later.pids) {
            if let (Some(before), Some(after)) = (before, after) {
                out.push(Cpu { name: name.clone(), seconds: after - before });
            }
        }
        if let Some(comm) = &args.cpu_comm {
            let seconds = later
                .comm
                .iter()
                .map(|(pid, after)| after - self.comm.get(pid).copied().unwrap_or(0.0))
                .sum();
            out.push(Cpu { name: comm.clone(), seconds });
        }
        if let (Some(before), Some(after)) = (self.own, later.own) {
            out.push(Cpu { name: "load generator".to_owned(), seconds: after - before });
        }
        // Everything else the machine did meanwhile: the kernel's network work that no process
        // is charged for, and any process outside the benchmark (a build, a test run), which
        // makes the run less clean.
        if let (Some(before), Some(after)) = (self.machine, later.machine) {
            let ours: f64 = out.iter().map(|c| c.seconds).sum();
            out.push(Cpu { name: OTHER_CPU.to_owned(), seconds: (after - before - ours).max(0.0) });
        }
        out
    }
}

fn read_rss(name: &str, pid: u32, reset: bool) -> anyhow::Result<Rss> {
    let resident =
        procfs::rss_kib(pid).with_context(|| format!("{name} (pid {pid}) is not running"))?;
    Ok(Rss {
        name: name.to_owned(),
        pid,
        peak_kib: resident.peak,
        current_kib: resident.now,
        reset,
    })
}

/// Runs the scenario and returns its results.
pub(crate) async fn run(args: &LoadArgs) -> anyhow::Result<LoadResult> {
    if args.concurrency == 0 || args.duration <= 0.0 || args.warmup < 0.0 {
        bail!("--concurrency and --duration must be positive, --warmup not negative");
    }
    let fixture = Fixture::load(
        args.clients.as_deref(),
        args.operators.as_deref(),
        args.pending.as_deref(),
        args.pool.as_deref(),
    )?;
    let scenario = args.scenario;
    match scenario {
        Scenario::RestGet | Scenario::GrpcGet | Scenario::RestList | Scenario::GrpcList
            if fixture.pending.is_empty() =>
        {
            bail!("--pending names no tickets");
        }
        Scenario::RestStart | Scenario::GrpcStart if fixture.pool.is_empty() => {
            bail!("--pool names no tickets");
        }
        _ => {}
    }
    if scenario.consumes_pool()
        && fixture.pool.iter().any(|&(p, _)| fixture.providers[p].operators.is_empty())
    {
        bail!("--operators has no operator for a provider of the pool");
    }

    let target = if scenario.is_rest() {
        let base = args.http_url.trim_end_matches('/').to_owned();
        let tokens = args.token_url.as_deref().unwrap_or(&base).trim_end_matches('/').to_owned();
        let credentials = rest_credentials(&tokens, &fixture).await?;
        Target::Rest { base, credentials }
    } else {
        let mut channels = Vec::new();
        for _ in 0..args.grpc_connections.max(1) {
            let channel = Endpoint::from_shared(args.grpc_url.clone())?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("connecting to {}", args.grpc_url))?;
            channels.push(channel);
        }
        let provider_ids = fixture
            .providers
            .iter()
            .map(|p| p.id.parse())
            .collect::<Result<Vec<MetadataValue<Ascii>>, _>>()?;
        let authorization = match &args.internal_client {
            Some(client) => {
                let (client_id, secret) =
                    client.split_once(':').context("--internal-client is client_id:secret")?;
                let base = args.http_url.trim_end_matches('/');
                let token = token(&mut Http1::new(base)?, base, client_id, secret).await?;
                Some(format!("Bearer {token}").parse()?)
            }
            None => None,
        };
        Target::Grpc { channels, provider_ids, authorization }
    };
    let listable =
        (0..fixture.providers.len()).filter(|&p| fixture.providers[p].pending > 0).collect();
    let cursors = match &args.cursors {
        Some(path) => load_cursors(path, &fixture)?,
        None => Vec::new(),
    };
    let accept_encoding = args.accept_encoding.as_deref().map(HeaderValue::from_str).transpose()?;

    let (idle_wait_s, busy_before) = wait_for_quiet(args.wait_idle).await;
    let resets: Vec<bool> = args.pids.iter().map(|(_, pid)| reset_peak_rss(*pid)).collect();
    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.duration);
    let begin = Instant::now();
    let shared = Arc::new(Shared {
        scenario,
        fixture,
        target,
        listable,
        list_limit: args.list_limit,
        cursors,
        history_offsets: args.history_offsets,
        accept_encoding,
        next_in_pool: AtomicUsize::new(0),
        exhausted: AtomicBool::new(false),
        measure_from: begin + warmup,
        stop: begin + warmup + window,
    });
    let workers: Vec<_> =
        (0..args.concurrency).map(|number| tokio::spawn(worker(shared.clone(), number))).collect();
    tokio::time::sleep_until(shared.measure_from).await;
    let cpu_before = CpuSnapshot::take(args);
    tokio::time::sleep_until(shared.stop).await;
    let cpu_after = CpuSnapshot::take(args);
    let mut total = WorkerStats::new()?;
    for handle in workers {
        let stats = handle.await??;
        total.histogram.add(&stats.histogram)?;
        total.ok += stats.ok;
        total.errors += stats.errors;
        total.body_bytes += stats.body_bytes;
        if !stats.content_encoding.is_empty() {
            total.content_encoding = stats.content_encoding;
        }
        for (error, count) in stats.error_samples {
            if total.error_samples.len() < 8 || total.error_samples.contains_key(&error) {
                *total.error_samples.entry(error).or_default() += count;
            }
        }
    }
    let exhausted = shared.exhausted.load(Ordering::Relaxed);
    // When the pool ran out, the window ended early: rate over the part that ran.
    let window_s = if exhausted {
        Instant::now().duration_since(shared.measure_from).as_secs_f64().min(window.as_secs_f64())
    } else {
        window.as_secs_f64()
    };
    let mut rss = Vec::new();
    for ((name, pid), reset) in args.pids.iter().zip(resets) {
        rss.push(read_rss(name, *pid, reset)?);
    }
    let h = &total.histogram;
    let ms = |micros: u64| micros as f64 / 1000.0;
    Ok(LoadResult {
        scenario,
        label: args.label.clone(),
        round: args.round,
        concurrency: args.concurrency,
        window_s,
        warmup_s: args.warmup,
        ok: total.ok,
        errors: total.errors,
        error_samples: total.error_samples,
        throughput: if window_s > 0.0 { total.ok as f64 / window_s } else { 0.0 },
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
        exhausted,
        consumed: shared.next_in_pool.load(Ordering::Relaxed).min(shared.fixture.pool.len()),
        rss,
        idle_wait_s,
        busy_before,
        cpu: cpu_before.spent(&cpu_after, args),
        body_bytes: if total.ok > 0 { total.body_bytes as f64 / total.ok as f64 } else { 0.0 },
        content_encoding: if total.content_encoding.is_empty() {
            "identity".to_owned()
        } else {
            total.content_encoding
        },
    })
}

/// `provider_id created_at_micros ticket_number` lines, as each provider's encoded
/// in-progress cursors (indexed like the fixture's providers).
fn load_cursors(path: &std::path::Path, fixture: &Fixture) -> anyhow::Result<Vec<Vec<String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut cursors = vec![Vec::new(); fixture.providers.len()];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [provider, micros, number] = fields.as_slice() else {
            bail!("{}: {line:?} is not `provider micros number`", path.display());
        };
        let provider = Uuid::parse_str(provider)?.hyphenated().to_string();
        let Some(at) = fixture.providers.iter().position(|p| p.id == provider) else { continue };
        let cursor = Cursor {
            list: CursorList::InProgress,
            created_at_micros: micros.parse()?,
            ticket_number: number.parse()?,
        };
        cursors[at].push(cursor.encode());
    }
    Ok(cursors)
}
