//! `tickets-bench abuse`: what hostile clients cost the gateway, and what they cost everybody
//! else. Each attack runs in interleaved rounds against a running gateway, next to a legitimate
//! client (closed loop, `GET /v2/tickets/pending-tickets?limit=10`) whose throughput and latency
//! are measured with and without the attack:
//!
//! - `slow-heads`: `--connections` connections each send `--head-kib` of a request head that
//!   never ends (then one more byte a second). Measured: the gateway's peak RSS, how long each
//!   connection lived until the gateway closed it, and the legitimate client's p99 while they
//!   are held against its p99 without them.
//! - `forged-tokens`: a flood at the highest rate one load-generator thread reaches, of requests
//!   with an unknown `x-api-key` and either a well-formed ES256 token with a random signature and
//!   the gateway's own `kid` (`forged`) or `Bearer x.y.z` (`garbage`), sent from one address
//!   (`forged`: the gateway holds its 401s back once the address had its free ones) or from a
//!   new `127.x.y.z` address every few requests (`-spread`: as from many hosts, never held
//!   back). Measured: the gateway's CPU per flood request of each kind, and the legitimate
//!   client's throughput during each forged flood against its throughput without it.
//!
//! The attackers run on a runtime of their own (one thread), the legitimate client on the
//! command's runtime, so that neither starves the other inside the load generator.

use std::{
    fmt::Write as _,
    net::Ipv4Addr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hdrhistogram::Histogram;
use http_body_util::Full;
use hyper::{
    Method, StatusCode,
    body::Bytes,
    header::{AUTHORIZATION, HeaderValue},
};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::Instant,
};
use uuid::Uuid;

use crate::{
    http1::Http1,
    load::token,
    procfs::{cpu_seconds, reset_peak_rss, rss_kib},
};

/// Which attack to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Attack {
    /// Connections holding unfinished request heads.
    SlowHeads,
    /// Requests with unknown API keys and forged or garbage tokens.
    ForgedTokens,
}

/// `tickets-bench abuse` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct AbuseArgs {
    /// The attack.
    #[arg(long, value_enum)]
    attack: Attack,
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:28080")]
    http_url: String,
    /// The gateway's pid (its RSS and CPU are read from `/proc`).
    #[arg(long)]
    gateway_pid: u32,
    /// The legitimate client: `client_id secret api_key`.
    #[arg(long)]
    client: String,
    /// Requests the legitimate client keeps in flight.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds each phase's legitimate client runs (slow heads: keep it under the gateway's
    /// header timeout, so that the whole phase runs while the heads are held).
    #[arg(long, default_value_t = 8.0)]
    duration: f64,
    /// Interleaved rounds (each: one phase without the attack, then the attack's phases).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Slow heads: connections.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Slow heads: KiB of unfinished head each connection sends.
    #[arg(long, default_value_t = 30)]
    head_kib: usize,
    /// Slow heads: the gateway's `GATEWAY_HEADER_READ_TIMEOUT_MS`, in seconds (the target is
    /// every connection closed within it plus 1 s).
    #[arg(long, default_value_t = 10.0)]
    header_timeout: f64,
    /// Forged tokens: flood requests in flight.
    #[arg(long, default_value_t = 64)]
    flood_concurrency: usize,
    /// Results, one JSON line per phase, appended.
    #[arg(long)]
    pub(crate) out: PathBuf,
}

/// The legitimate client's figures in one phase.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Legit {
    ok: u64,
    errors: u64,
    throughput: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One phase of one round: one line of the results file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Phase {
    attack: Option<Attack>,
    /// `calm` (no attack), `slow-heads`, `garbage` or `forged`.
    phase: String,
    round: u32,
    legit: Legit,
    /// Gateway CPU seconds during the phase.
    gateway_cpu_s: f64,
    /// Gateway RSS before the phase and its peak during it, KiB.
    rss_before_kib: u64,
    rss_peak_kib: u64,
    /// Slow heads: connections opened, closed by the gateway within header timeout + 1 s, and
    /// the shortest and longest life of a connection (connect to close), seconds.
    connections: usize,
    closed_in_time: usize,
    still_open: usize,
    min_life_s: f64,
    max_life_s: f64,
    /// Floods: requests answered, and how many of those were not 401.
    flood_answered: u64,
    flood_not_401: u64,
}

/// Runs the attack's rounds and returns every phase.
pub(crate) async fn run(args: &AbuseArgs) -> anyhow::Result<Vec<Phase>> {
    if args.concurrency == 0 || args.duration <= 0.0 || args.rounds == 0 {
        bail!("--concurrency, --duration and --rounds must be positive");
    }
    let mut parts = args.client.split_whitespace();
    let (Some(client_id), Some(secret), Some(api_key)) = (parts.next(), parts.next(), parts.next())
    else {
        bail!("--client must be `client_id secret api_key`");
    };
    let mut http = Http1::new(&args.http_url)?;
    let access_token = token(&mut http, &args.http_url, client_id, secret).await?;
    let kid = gateway_kid(&mut http).await?;
    let legit = Arc::new(Credentials {
        authorization: HeaderValue::from_str(&format!("Bearer {access_token}"))?,
        api_key: HeaderValue::from_str(api_key)?,
    });
    let attacker = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("attacker")
        .enable_all()
        .build()?;
    let duration = Duration::from_secs_f64(args.duration);
    let mut phases = Vec::new();
    for round in 1..=args.rounds {
        let mut calm = measure(args, &legit, duration, || async { Ok(Flooded::default()) }).await?;
        calm.phase = "calm".into();
        calm.round = round;
        eprintln!("{}", calm.summary());
        phases.push(calm);
        let attacks: Vec<Phase> = match args.attack {
            Attack::SlowHeads => vec![slow_heads(args, &legit, &attacker, duration).await?],
            Attack::ForgedTokens => {
                let mut out = Vec::new();
                let forged = forged_token(&kid, client_id);
                for (name, bearer, spread) in [
                    ("garbage-spread", "x.y.z", true),
                    ("forged-spread", forged.as_str(), true),
                    ("forged", forged.as_str(), false),
                ] {
                    let authorization = HeaderValue::from_str(&format!("Bearer {bearer}"))?;
                    let base = args.http_url.clone();
                    let concurrency = args.flood_concurrency;
                    let handle = attacker.handle().clone();
                    let mut phase = measure(args, &legit, duration, move || {
                        let until = Instant::now() + duration;
                        let flood =
                            handle.spawn(flood(base, authorization, concurrency, spread, until));
                        async move { flood.await.context("flood task")? }
                    })
                    .await?;
                    phase.phase = name.into();
                    out.push(phase);
                }
                out
            }
        };
        for mut phase in attacks {
            phase.round = round;
            eprintln!("{}", phase.summary());
            phases.push(phase);
        }
    }
    attacker.shutdown_background();
    for phase in &mut phases {
        phase.attack = Some(args.attack);
    }
    Ok(phases)
}

#[derive(Debug)]
struct Credentials {
    authorization: HeaderValue,
    api_key: HeaderValue,
}

/// What a flood got answered.
#[derive(Debug, Default)]
struct Flooded {
    answered: u64,
    not_401: u64,
}

/// One phase: the legitimate client for `duration` while `attack` (started at once) runs; the
/// gateway's CPU and peak RSS over the phase.
async fn measure<F, Fut>(
    args: &AbuseArgs,
    legit: &Arc<Credentials>,
    duration: Duration,
    attack: F,
) -> anyhow::Result<Phase>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<Flooded>>,
{
    let pid = args.gateway_pid;
    let rss_before_kib = rss_kib(pid).context("the gateway is not running")?.now;
    reset_peak_rss(pid);
    let cpu_before = cpu_seconds(&pid.to_string()).unwrap_or(0.0);
    let attacking = attack();
    let client = legit_client(&args.http_url, legit.clone(), args.concurrency, duration);
    let (flooded, legit) = tokio::join!(attacking, client);
    let (flooded, legit) = (flooded?, legit?);
    let cpu_after = cpu_seconds(&pid.to_string()).unwrap_or(0.0);
    let rss_peak_kib = rss_kib(pid).context("the gateway died")?.peak;
    Ok(Phase {
        legit,
        gateway_cpu_s: cpu_after - cpu_before,
        rss_before_kib,
        rss_peak_kib,
        flood_answered: flooded.answered,
        flood_not_401: flooded.not_401,
        ..Phase::default()
    })
}

/// The legitimate client: `concurrency` workers in a closed loop for `duration`.
async fn legit_client(
    base: &str,
    credentials: Arc<Credentials>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Legit> {
    let stop = Instant::now() + duration;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let mut http = Http1::new(base)?;
        let credentials = credentials.clone();
        workers.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut ok, mut errors) = (0u64, 0u64);
            while Instant::now() < stop {
                let request = hyper::Request::builder()
                    .method(Method::GET)
                    .uri("/v2/tickets/pending-tickets?limit=10")
                    .header(AUTHORIZATION, credentials.authorization.clone())
                    .header("x-api-key", credentials.api_key.clone())
                    .body(Full::new(Bytes::new()))?;
                let started = Instant::now();
                match http.send(request).await {
                    Ok((StatusCode::OK, _, _)) => {
                        ok += 1;
                        let micros =
                            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                        histogram.saturating_record(micros);
                    }
                    _ => errors += 1,
                }
            }
            anyhow::Ok((histogram, ok, errors))
        }));
    }
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok, mut errors) = (0, 0);
    for worker in workers {
        let (histogram, o, e) = worker.await??;
        total.add(&histogram)?;
        ok += o;
        errors += e;
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    Ok(Legit {
        ok,
        errors,
        throughput: ok as f64 / duration.as_secs_f64(),
        p50_ms: ms(total.value_at_quantile(0.50)),
        p99_ms: ms(total.value_at_quantile(0.99)),
    })
}

/// The gateway's signing key id, from its JWKS (what a forger would copy).
async fn gateway_kid(http: &mut Http1) -> anyhow::Result<String> {
    let request = hyper::Request::get("/.well-known/jwks.json").body(Full::new(Bytes::new()))?;
    let (status, body, _) = http.send(request).await.map_err(|e| anyhow::anyhow!("JWKS: {e}"))?;
    if status != StatusCode::OK {
        bail!("JWKS: HTTP {status}");
    }
    let jwks: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(jwks["keys"][0]["kid"].as_str().context("JWKS without a kid")?.to_owned())
}

/// A well-formed ES256 token for `subject` under the gateway's `kid`, with a random signature.
fn forged_token(kid: &str, subject: &str) -> String {
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({
        "iss": "ticket-gateway", "aud": "tickets-api", "sub": subject,
        "iat": now, "nbf": now, "exp": now + 3600, "jti": Uuid::new_v4().to_string(),
    });
    let signature: Vec<u8> = (0..4).flat_map(|_| Uuid::new_v4().into_bytes()).collect();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Requests a spread flooder sends from one source address: fewer than the gateway's free
/// 401s per address, so that none is ever held back.
const PER_SOURCE: u32 = 16;

/// `concurrency` flooders until `until`, each request with `authorization` and a fresh unknown
/// API key. `spread`: each flooder moves to a new random `127.x.y.z` source address every
/// [`PER_SOURCE`] requests, as a flood from many hosts would look to the gateway.
async fn flood(
    base: String,
    authorization: HeaderValue,
    concurrency: usize,
    spread: bool,
    until: Instant,
) -> anyhow::Result<Flooded> {
    let answered = Arc::new(AtomicU64::new(0));
    let not_401 = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let mut http = Http1::new(&base)?;
        let (authorization, answered, not_401) =
            (authorization.clone(), answered.clone(), not_401.clone());
        workers.push(tokio::spawn(async move {
            let mut sent = 0u32;
            while Instant::now() < until {
                if spread && sent.is_multiple_of(PER_SOURCE) {
                    let random = Uuid::new_v4().into_bytes();
                    let source = Ipv4Addr::new(127, random[0], random[1], random[2].max(2));
                    http.reconnect_from(source.into());
                }
                sent = sent.wrapping_add(1);
                let key = Uuid::new_v4().simple().to_string();
                let request = hyper::Request::get("/v2/tickets/pending-tickets")
                    .header(AUTHORIZATION, authorization.clone())
                    .header("x-api-key", key)
                    .body(Full::new(Bytes::new()))?;
                if let Ok((status, _, _)) = http.send(request).await {
                    answered.fetch_add(1, Ordering::Relaxed);
                    if status != StatusCode::UNAUTHORIZED {
                        not_401.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(Flooded {
        answered: answered.load(Ordering::Relaxed),
        not_401: not_401.load(Ordering::Relaxed),
    })
}

/// How one slow connection ended.
#[derive(Debug)]
struct Held {
    /// Connect to close by the gateway; `None` when it was still open when given up on.
    life: Option<Duration>,
}

/// Opens the slow connections on the attacker runtime, runs the legitimate client meanwhile,
/// and waits until the gateway closed them all (or header timeout + 10 s).
async fn slow_heads(
    args: &AbuseArgs,
    legit: &Arc<Credentials>,
    attacker: &tokio::runtime::Runtime,
    duration: Duration,
) -> anyhow::Result<Phase> {
    let address = args
        .http_url
        .strip_prefix("http://")
        .context("--http-url must be http://")?
        .trim_end_matches('/')
        .to_owned();
    let head_bytes = args.head_kib * 1024;
    let give_up = Duration::from_secs_f64(args.header_timeout + 10.0);
    let mut held = Vec::with_capacity(args.connections);
    let mut phase = measure(args, legit, duration, || {
        for _ in 0..args.connections {
            held.push(attacker.spawn(hold(address.clone(), head_bytes, give_up)));
        }
        async { Ok(Flooded::default()) }
    })
    .await?;
    let mut lives = Vec::with_capacity(held.len());
    for connection in held {
        lives.push(connection.await.context("slow connection task")??);
    }
    let rss_peak_kib = rss_kib(args.gateway_pid).map_or(0, |resident| resident.peak);
    phase.rss_peak_kib = phase.rss_peak_kib.max(rss_peak_kib);
    let limit = Duration::from_secs_f64(args.header_timeout + 1.0);
    let closed: Vec<Duration> = lives.iter().filter_map(|h| h.life).collect();
    phase.phase = "slow-heads".into();
    phase.connections = lives.len();
    phase.still_open = lives.len() - closed.len();
    phase.closed_in_time = closed.iter().filter(|life| **life <= limit).count();
    phase.min_life_s = closed.iter().min().map_or(0.0, Duration::as_secs_f64);
    phase.max_life_s = closed.iter().max().map_or(0.0, Duration::as_secs_f64);
    Ok(phase)
}

/// One slow connection: `head_bytes` of a head that never ends, then a byte a second, until the
/// gateway closes it.
async fn hold(address: String, head_bytes: usize, give_up: Duration) -> anyhow::Result<Held> {
    let stream =
        TcpStream::connect(&address).await.with_context(|| format!("connect {address}"))?;
    let opened = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let write = async move {
        let mut head = b"GET /v2/tickets/pending-tickets HTTP/1.1\r\nhost: bench\r\n".to_vec();
        let mut n = 0;
        while head.len() < head_bytes {
            let _ = write!(VecWriter(&mut head), "x-pad-{n}: {}\r\n", "p".repeat(1000));
            n += 1;
        }
        head.truncate(head_bytes);
        writer.write_all(&head).await?;
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.tick().await;
        loop {
            every.tick().await;
            writer.write_all(b"p").await?;
        }
        #[allow(unreachable_code)]
        std::io::Result::Ok(())
    };
    let closed = async move {
        let mut sink = [0u8; 4096];
        loop {
            match reader.read(&mut sink).await {
                Ok(0) | Err(_) => return opened.elapsed(),
                Ok(_) => {}
            }
        }
    };
    let outcome = tokio::time::timeout(give_up, async {
        tokio::select! {
            life = closed => life,
            // A failed write means the gateway reset the connection; the read side sees it too.
            _ = write => opened.elapsed(),
        }
    })
    .await;
    Ok(Held { life: outcome.ok() })
}

/// `write!` into a byte vector.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Phase {
    /// One line for the console.
    pub(crate) fn summary(&self) -> String {
        let mut line = format!(
            "round {} {:<10} legit {:>7.1} req/s p50 {:>7.3} ms p99 {:>7.3} ms (err {})  gateway cpu {:.2} s  rss {:.1} → peak {:.1} MiB",
            self.round,
            self.phase,
            self.legit.throughput,
            self.legit.p50_ms,
            self.legit.p99_ms,
            self.legit.errors,
            self.gateway_cpu_s,
            self.rss_before_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0,
        );
        if self.connections > 0 {
            let _ = write!(
                line,
                "  {} connections: {} closed in time, {} still open, life {:.2}–{:.2} s",
                self.connections,
                self.closed_in_time,
                self.still_open,
                self.min_life_s,
                self.max_life_s
            );
        }
        if self.flood_answered > 0 {
            let _ = write!(
                line,
                "  flood {} answered ({} not 401)",
                self.flood_answered, self.flood_not_401
            );
        }
        line
    }
}

/// The markdown summary of a run: medians over rounds, and the targets.
pub(crate) fn report(phases: &[Phase]) -> String {
    let median = |mut values: Vec<f64>| -> f64 {
        if values.is_empty() {
            return f64::NAN;
        }
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        if values.len().is_multiple_of(2) {
            (values[mid - 1] + values[mid]) / 2.0
        } else {
            values[mid]
        }
    };
    let of = |name: &str| phases.iter().filter(|p| p.phase == name).collect::<Vec<_>>();
    let calm = of("calm");
    let rounds = calm.len();
    let calm_p99 = median(calm.iter().map(|p| p.legit.p99_ms).collect());
    let calm_rate = median(calm.iter().map(|p| p.legit.throughput).collect());
    let calm_cpu_per_legit =
        median(calm.iter().map(|p| p.gateway_cpu_s / p.legit.ok.max(1) as f64).collect());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| phase (median of {rounds} rounds) | legit req/s | legit p50 ms | legit p99 ms | gateway peak RSS MiB | gateway CPU µs per flood request |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let mut row = |name: &str, flood_cost: Option<f64>| {
        let set = of(name);
        if set.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
            median(set.iter().map(|p| p.legit.throughput).collect()),
            median(set.iter().map(|p| p.legit.p50_ms).collect()),
            median(set.iter().map(|p| p.legit.p99_ms).collect()),
            median(set.iter().map(|p| p.rss_peak_kib as f64 / 1024.0).collect()),
            flood_cost.map_or("—".to_owned(), |c| format!("{c:.1}")),
        );
    };
    // Gateway CPU of a flood phase, less what its legitimate requests cost (at the calm rate),
    // per flood request.
    let flood_cost = |name: &str| -> Option<f64> {
        let set = of(name);
        (!set.is_empty()).then(|| {
            median(
                set.iter()
                    .map(|p| {
                        let flood_cpu = p.gateway_cpu_s - p.legit.ok as f64 * calm_cpu_per_legit;
                        flood_cpu.max(0.0) / p.flood_answered.max(1) as f64 * 1e6
                    })
                    .collect(),
            )
        })
    };
    let (garbage, forged) = (flood_cost("garbage-spread"), flood_cost("forged-spread"));
    let one_source = flood_cost("forged");
    row("calm", None);
    row("slow-heads", None);
    row("garbage-spread", garbage);
    row("forged-spread", forged);
    row("forged", one_source);
    out.push('\n');
    let slow = of("slow-heads");
    if !slow.is_empty() {
        let peak = slow.iter().map(|p| p.rss_peak_kib).max().unwrap_or(0) as f64 / 1024.0;
        let attack_p99 = median(slow.iter().map(|p| p.legit.p99_ms).collect());
        let connections: usize = slow.iter().map(|p| p.connections).sum();
        let in_time: usize = slow.iter().map(|p| p.closed_in_time).sum();
        let longest = slow.iter().map(|p| p.max_life_s).fold(0.0, f64::max);
        let shortest = slow.iter().map(|p| p.min_life_s).fold(f64::INFINITY, f64::min);
        let _ = writeln!(
            out,
            "- Slow heads: highest gateway RSS in any round **{peak:.1} MiB** (target ≤ 40 MiB)."
        );
        let _ = writeln!(
            out,
            "- Slow heads: **{in_time} of {connections}** connections closed within header timeout + 1 s; lives {shortest:.2}–{longest:.2} s."
        );
        let _ = writeln!(
            out,
            "- Slow heads: legitimate p99 **{attack_p99:.2} ms** under attack vs {calm_p99:.2} ms without: **{:.2}×** (target ≤ 2×).",
            attack_p99 / calm_p99
        );
    }
    if let (Some(garbage), Some(forged)) = (garbage, forged) {
        let rate = |name: &str| {
            let set = of(name);
            let legit = median(set.iter().map(|p| p.legit.throughput).collect());
            let flood =
                median(set.iter().map(|p| p.flood_answered as f64 / p.legit_window()).collect());
            (legit, flood)
        };
        let (spread_legit, spread_flood) = rate("forged-spread");
        let (one_legit, one_flood) = rate("forged");
        let _ = writeln!(
            out,
            "- Forged tokens: gateway CPU per forged request **{forged:.1} µs** vs {garbage:.1} µs per `Bearer x.y.z`: **{:.2}×** (target ≤ 2×), at {spread_flood:.0} flood requests/s from ever-new addresses.",
            forged / garbage
        );
        let _ = writeln!(
            out,
            "- Forged tokens from one address: legitimate throughput **{one_legit:.0} req/s** during the flood vs {calm_rate:.0} without: **{:.2}×** (target ≥ 0.8×); the flood, held back after its free 401s, got {one_flood:.0} answers/s.",
            one_legit / calm_rate
        );
        let _ = writeln!(
            out,
            "- Forged tokens from ever-new addresses (no 401 held back): legitimate throughput **{spread_legit:.0} req/s** vs {calm_rate:.0}: **{:.2}×**, at {spread_flood:.0} flood requests/s.",
            spread_legit / calm_rate
        );
    }
    out
}

impl Phase {
    fn legit_window(&self) -> f64 {
        if self.legit.throughput > 0.0 { self.legit.ok as f64 / self.legit.throughput } else { 1.0 }
    }
}
