//! The markdown report of one `bench/run.sh` run: the results table with REST/gRPC ratios, the
//! list-versus-history comparison, start-service against the pgbench baseline, peak RSS, and the
//! targets of the performance issue, each marked met or missed.

use std::{fmt::Write as _, fs, path::PathBuf};

use anyhow::Context as _;

use crate::load::{LoadResult, OTHER_CPU, Scenario, kib_to_mib};

/// `tickets-bench report` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The results file the load runs appended to.
    #[arg(long)]
    results: PathBuf,
    /// The heading (backend and data shape).
    #[arg(long)]
    title: String,
    /// How many non-pending tickets the `full` database has (for the list comparison).
    #[arg(long)]
    history: u64,
    /// A `key: value` line for the setup list (repeatable).
    #[arg(long = "info")]
    info: Vec<String>,
    /// pgbench's `tps` for the raw conditional UPDATE (PostgreSQL only), once per round, in
    /// round order: round N is paired with round N of the start-service rows.
    #[arg(long)]
    pgbench_tps: Vec<f64>,
    /// pgbench's average latency, ms, once per round.
    #[arg(long)]
    pgbench_latency_ms: Vec<f64>,
    /// pgbench's client count.
    #[arg(long)]
    pgbench_clients: Option<u32>,
    /// Transactions pgbench processed (all rounds).
    #[arg(long)]
    pgbench_transactions: Option<u64>,
    /// Rows the pgbench run actually moved to in progress (should equal the transactions).
    #[arg(long)]
    pgbench_updated: Option<u64>,
}

const GATEWAY_RSS_MIB: f64 = 40.0;
const SERVICE_RSS_MIB: f64 = 80.0;

/// Every round of a row, in round order.
fn rounds<'a>(results: &'a [LoadResult], scenario: Scenario, label: &str) -> Vec<&'a LoadResult> {
    let mut rows: Vec<_> =
        results.iter().filter(|r| r.scenario == scenario && r.label == label).collect();
    rows.sort_by_key(|r| r.round);
    rows
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some(f64::midpoint(values[n / 2 - 1], values[n / 2])),
    }
}

/// A row over all its rounds: the median throughput, mean, p50 and p99 of the rounds (one
/// round: its own numbers), errors and requests summed, the pool flag of any round.
fn find(results: &[LoadResult], scenario: Scenario, label: &str) -> Option<LoadResult> {
    let rows = rounds(results, scenario, label);
    let first = (*rows.first()?).clone();
    let of = |f: fn(&LoadResult) -> f64| median(rows.iter().map(|r| f(r)).collect());
    Some(LoadResult {
        throughput: of(|r| r.throughput)?,
        mean_ms: of(|r| r.mean_ms)?,
        p50_ms: of(|r| r.p50_ms)?,
        p99_ms: of(|r| r.p99_ms)?,
        ok: rows.iter().map(|r| r.ok).sum(),
        errors: rows.iter().map(|r| r.errors).sum(),
        exhausted: rows.iter().any(|r| r.exhausted),
        window_s: rows.iter().map(|r| r.window_s).sum(),
        ..first
    })
}

/// The median over rounds of `a`'s throughput over `b`'s in the same round: rows measured
/// side by side, so that the host's drift between rounds cancels out.
fn paired(results: &[LoadResult], a: (Scenario, &str), b: (Scenario, &str)) -> Option<f64> {
    paired_by(results, a, b, |r| r.throughput)
}

/// The median over rounds of `a`'s `value` over `b`'s in the same round.
fn paired_by(
    results: &[LoadResult],
    a: (Scenario, &str),
    b: (Scenario, &str),
    value: fn(&LoadResult) -> f64,
) -> Option<f64> {
    let b_rounds = rounds(results, b.0, b.1);
    median(
        rounds(results, a.0, a.1)
            .iter()
            .filter_map(|ra| {
                let rb = b_rounds.iter().find(|rb| rb.round == ra.round)?;
                (value(rb) > 0.0).then(|| value(ra) / value(rb))
            })
            .collect(),
    )
}

/// The median over rounds of a start-service row's throughput over pgbench's in that round.
fn share_of_pgbench(results: &[LoadResult], scenario: Scenario, tps: &[f64]) -> Option<f64> {
    median(
        rounds(results, scenario, "full")
            .iter()
            .filter_map(|r| {
                let base = *tps.get(usize::try_from(r.round).ok()?.checked_sub(1)?)?;
                (base > 0.0).then(|| r.throughput / base)
            })
            .collect(),
    )
}

/// How a run is named in the per-run tables.
fn run_name(results: &[LoadResult], r: &LoadResult) -> String {
    let several = rounds(results, r.scenario, &r.label).len() > 1;
    let round = if several { format!(", round {}", r.round) } else { String::new() };
    format!("{} ({}{round}, c={})", label_of(r.scenario), r.label, r.concurrency)
}

/// How much higher `a`'s p50 is than `b`'s, when both rows ran.
fn p50_gap(a: Option<&LoadResult>, b: Option<&LoadResult>) -> Option<f64> {
    Some(a?.p50_ms - b?.p50_ms)
}

fn rate(r: Option<&LoadResult>) -> String {
    r.map_or("–".to_owned(), |r| {
        let mut s = format!("{:.0}", r.throughput);
        if r.errors > 0 {
            let _ = write!(s, " ({} err)", r.errors);
        }
        if r.exhausted {
            s.push_str(" (pool ran out)");
        }
        s
    })
}

fn ms(value: Option<f64>) -> String {
    value.map_or("–".to_owned(), |v| format!("{v:.3}"))
}

fn percent(value: Option<f64>) -> String {
    value.map_or("–".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

fn times(value: Option<f64>) -> String {
    value.map_or("–".to_owned(), |v| format!("{v:.2}×"))
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether something outside the benchmark used more than 15% of the machine during the row.
fn unclean(r: &LoadResult) -> bool {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    r.cpu.iter().any(|c| c.name == OTHER_CPU && c.seconds / (r.window_s * cores as f64) > 0.15)
}

/// A verdict, marked when one of the runs it rests on was not clean.
fn judged(met: Option<bool>, rows: &[&LoadResult]) -> String {
    let mut text = verdict(met).to_owned();
    if met.is_some() && rows.iter().any(|r| unclean(r)) {
        text.push_str(" (from a row with outside load: rerun to confirm)");
    }
    text
}

fn label_of(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::RestGet => "REST get",
        Scenario::RestList => "REST list",
        Scenario::RestStart => "REST start-service",
        Scenario::GrpcGet => "gRPC get",
        Scenario::GrpcList => "gRPC list",
        Scenario::GrpcStart => "gRPC start-service",
        Scenario::RestHistory => "REST in-progress list",
    }
}

/// Renders the report.
pub(crate) fn render(args: &ReportArgs) -> anyhow::Result<String> {
    let text = fs::read_to_string(&args.results)
        .with_context(|| format!("reading {}", args.results.display()))?;
    let results = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str::<LoadResult>)
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the results file")?;
    // Every row runs at the same concurrency and, over its rounds, for the same time.
    let single = find(&results, Scenario::RestList, "full");
    let concurrency = single.as_ref().map_or(0, |r| r.concurrency);
    let window = single.as_ref().map_or(0.0, |r| r.window_s);
    let warmup = single.as_ref().map_or(0.0, |r| r.warmup_s);

    let mut md = String::new();
    let _ = writeln!(md, "### {}\n", args.title);
    for line in &args.info {
        let _ = writeln!(md, "- {line}");
    }
    let _ = writeln!(
        md,
        "- load: closed loop, {concurrency} requests in flight, {window:.0} s measured after {warmup:.0} s warm-up per row (rows run in rounds: that time split over the rounds)\n"
    );

    // 1. The main table.
    let _ = writeln!(
        md,
        "| operation (c={concurrency}) | REST req/s | REST p50 ms | REST p99 ms | gRPC req/s | gRPC p50 ms | gRPC p99 ms | REST/gRPC throughput | gateway-added p50 ms |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    let rows = [
        ("get pending ticket", Scenario::RestGet, Scenario::GrpcGet, "full"),
        ("list, limit 25 at a random offset", Scenario::RestList, Scenario::GrpcList, "full"),
        ("start-service", Scenario::RestStart, Scenario::GrpcStart, "full"),
        (
            "get pending ticket, c=1 (unloaded latency)",
            Scenario::RestGet,
            Scenario::GrpcGet,
            "latency",
        ),
    ];
    for (name, rest_scenario, grpc_scenario, label) in rows {
        let rest = find(&results, rest_scenario, label);
        let grpc = find(&results, grpc_scenario, label);
        let (rest, grpc) = (rest.as_ref(), grpc.as_ref());
        let throughput_ratio = paired(&results, (rest_scenario, label), (grpc_scenario, label));
        let added = p50_gap(rest, grpc);
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            rate(rest),
            ms(rest.map(|r| r.p50_ms)),
            ms(rest.map(|r| r.p99_ms)),
            rate(grpc),
            ms(grpc.map(|r| r.p50_ms)),
            ms(grpc.map(|r| r.p99_ms)),
            percent(throughput_ratio),
            ms(added),
        );
    }
    md.push('\n');

    // 2. List cost against history.
    let history = count(args.history);
    let _ = writeln!(
        md,
        "| list (c={concurrency}) | req/s, {history} non-pending | req/s, none | p50 ms, {history} | p50 ms, none | p99 ms, {history} | p99 ms, none | p99 ratio |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|");
    let mut list_ratios = Vec::new();
    for scenario in [Scenario::RestList, Scenario::GrpcList] {
        let full = find(&results, scenario, "full");
        let none = find(&results, scenario, "none");
        let (full, none) = (full.as_ref(), none.as_ref());
        // Both sides run in each round, one after the other: the ratio of the same round's p99s,
        // median over the rounds, so that the host's drift between rounds cancels out.
        let p99_ratio = paired_by(&results, (scenario, "full"), (scenario, "none"), |r| r.p99_ms);
        list_ratios.push((scenario, p99_ratio));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            label_of(scenario),
            rate(full),
            rate(none),
            ms(full.map(|r| r.p50_ms)),
            ms(none.map(|r| r.p50_ms)),
            ms(full.map(|r| r.p99_ms)),
            ms(none.map(|r| r.p99_ms)),
            times(p99_ratio),
        );
    }
    let list_rounds = rounds(&results, Scenario::RestList, "full").len();
    if list_rounds > 1 {
        let _ = writeln!(
            md,
            "\nIn {list_rounds} rounds, each the REST then the gRPC list with the history and without it (two pairs of servers, both up): req/s and latencies are the medians of the rounds, each p99 ratio the median of the rounds' ratios."
        );
    }
    md.push('\n');

    // 3. Start-service against raw SQL.
    let rest_start = find(&results, Scenario::RestStart, "full");
    let grpc_start = find(&results, Scenario::GrpcStart, "full");
    let pgbench_rounds = args.pgbench_tps.len();
    let _ = writeln!(md, "| start-service | req/s | mean latency ms | share of raw SQL |");
    let _ = writeln!(md, "|---|--:|--:|--:|");
    match median(args.pgbench_tps.clone()) {
        Some(tps) => {
            let mut note = String::new();
            if let (Some(tx), Some(updated)) = (args.pgbench_transactions, args.pgbench_updated)
                && updated < tx
            {
                let _ = write!(note, " (only {updated} of {tx} transactions found a pending row)");
            }
            let _ = writeln!(
                md,
                "| pgbench: the service's conditional `UPDATE … RETURNING`, prepared, {} clients{note} | {tps:.0} | {} | 100% |",
                args.pgbench_clients.map_or("?".to_owned(), |c| c.to_string()),
                ms(median(args.pgbench_latency_ms.clone())),
            );
        }
        None => {
            let _ = writeln!(md, "| pgbench raw SQL baseline | n/a (PostgreSQL only) | – | – |");
        }
    }
    for (name, scenario, r) in [
        ("gRPC StartService", Scenario::GrpcStart, grpc_start.as_ref()),
        ("REST PATCH start-service", Scenario::RestStart, rest_start.as_ref()),
    ] {
        let _ = writeln!(
            md,
            "| {name}, c={concurrency} | {} | {} | {} |",
            rate(r),
            ms(r.map(|r| r.mean_ms)),
            percent(share_of_pgbench(&results, scenario, &args.pgbench_tps)),
        );
    }
    if pgbench_rounds > 1 {
        let _ = writeln!(
            md,
            "\nIn {pgbench_rounds} rounds, each a REST, a gRPC and a pgbench run in turn: req/s and latencies are the medians of the rounds, each share the median of the rounds' shares."
        );
    }
    md.push('\n');

    // 4. Peak RSS.
    let _ = writeln!(md, "| run | gateway peak RSS MiB | service peak RSS MiB |");
    let _ = writeln!(md, "|---|--:|--:|");
    let peak = |name: &str| -> Option<u64> {
        results.iter().flat_map(|r| &r.rss).filter(|s| s.name == name).map(|s| s.peak_kib).max()
    };
    let gateway_peak = peak("gateway");
    let service_peak = peak("service");
    for r in &results {
        let of = |name: &str| {
            r.rss
                .iter()
                .find(|s| s.name == name)
                .map_or("–".to_owned(), |s| format!("{:.1}", kib_to_mib(s.peak_kib)))
        };
        let _ =
            writeln!(md, "| {} | {} | {} |", run_name(&results, r), of("gateway"), of("service"));
    }
    let mib = |kib: Option<u64>| kib.map_or("–".to_owned(), |k| format!("{:.1}", kib_to_mib(k)));
    let _ = writeln!(
        md,
        "| **peak of all runs** | **{}** | **{}** |\n",
        mib(gateway_peak),
        mib(service_peak)
    );

    // 5. CPU per request.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut parties: Vec<String> = Vec::new();
    for r in &results {
        for cpu in &r.cpu {
            if cpu.name != OTHER_CPU && !parties.contains(&cpu.name) {
                parties.push(cpu.name.clone());
            }
        }
    }
    let mut noisy = Vec::new();
    if !parties.is_empty() {
        let _ = write!(md, "| run | req/s |");
        for party in &parties {
            let _ = write!(md, " {party} CPU µs/req |");
        }
        let _ = writeln!(md, " rest of machine | machine busy (of {cores} cores) |");
        let _ = writeln!(md, "|---|--:|{}--:|--:|", "--:|".repeat(parties.len()));
        for r in &results {
            let _ = write!(md, "| {} | {:.0} |", run_name(&results, r), r.throughput);
            for party in &parties {
                let measured = r.ok > 0 && r.cpu.iter().any(|c| &c.name == party);
                let cell = if measured {
                    format!("{:.0}", cpu_per_request(r, party))
                } else {
                    "–".to_owned()
                };
                let _ = write!(md, " {cell} |");
            }
            let capacity = r.window_s * cores as f64;
            let other = r.cpu.iter().find(|c| c.name == OTHER_CPU).map(|c| c.seconds / capacity);
            if unclean(r) {
                noisy.push(r);
            }
            let busy: f64 = r.cpu.iter().map(|c| c.seconds).sum();
            let _ = writeln!(md, " {} | {} |", percent(other), percent(Some(busy / capacity)));
        }
        md.push('\n');
        let _ = writeln!(
            md,
            "\"rest of machine\" is the machine's busy time that none of the parties was charged for: the kernel's loopback networking (a few %), and anything running beside the benchmark.\n"
        );
        if !noisy.is_empty() {
            let _ = writeln!(
                md,
                "**Warning:** something else used more than 15% of the machine during {} run(s) ({}); their numbers are not clean.\n",
                noisy.len(),
                noisy.iter().map(|r| run_name(&results, r)).collect::<Vec<_>>().join(", ")
            );
        }
    }

    // 6. Targets.
    let get_rows: Vec<&LoadResult> = [Scenario::RestGet, Scenario::GrpcGet]
        .into_iter()
        .flat_map(|s| rounds(&results, s, "full"))
        .collect();
    let rest_get = find(&results, Scenario::RestGet, "full");
    let grpc_get = find(&results, Scenario::GrpcGet, "full");
    let get_ratio = paired(&results, (Scenario::RestGet, "full"), (Scenario::GrpcGet, "full"));
    let latency_rows: Vec<&LoadResult> = [Scenario::RestGet, Scenario::GrpcGet]
        .into_iter()
        .flat_map(|s| rounds(&results, s, "latency"))
        .collect();
    let added_c1 = p50_gap(
        find(&results, Scenario::RestGet, "latency").as_ref(),
        find(&results, Scenario::GrpcGet, "latency").as_ref(),
    );
    let added_loaded = p50_gap(rest_get.as_ref(), grpc_get.as_ref());
    let _ = writeln!(md, "| target | measured | verdict |");
    let _ = writeln!(md, "|---|---|---|");
    let _ = writeln!(
        md,
        "| REST get ≥ 75% of direct gRPC get throughput | {} | {} |",
        percent(get_ratio),
        judged(get_ratio.map(|r| r >= 0.75), &get_rows)
    );
    let _ = writeln!(
        md,
        "| gateway-added p50 ≤ 0.2 ms (REST p50 − gRPC p50, get, c=1) | {} ms (at c={concurrency}: {} ms) | {} |",
        ms(added_c1),
        ms(added_loaded),
        judged(added_c1.map(|a| a <= 0.2), &latency_rows)
    );
    for (scenario, r) in &list_ratios {
        let _ = writeln!(
            md,
            "| {} p99 with {history} non-pending ≤ 1.2× with none | {} | {} |",
            label_of(*scenario),
            times(*r),
            judged(
                r.map(|r| r <= 1.2),
                &[rounds(&results, *scenario, "full"), rounds(&results, *scenario, "none")]
                    .concat()
            )
        );
    }
    for (name, scenario) in [("REST", Scenario::RestStart), ("gRPC", Scenario::GrpcStart)] {
        let share = share_of_pgbench(&results, scenario, &args.pgbench_tps);
        let _ = writeln!(
            md,
            "| {name} start-service ≥ 60% of the pgbench raw UPDATE | {} | {} |",
            percent(share),
            judged(share.map(|s| s >= 0.6), &rounds(&results, scenario, "full"))
        );
    }
    // The limiter row (only when Redis was there): the same REST get through a second gateway
    // that counts every request in Redis, paired round by round with limits off.
    let limited_rows: Vec<&LoadResult> = ["redis-limits", "limits-off"]
        .into_iter()
        .flat_map(|label| rounds(&results, Scenario::RestGet, label))
        .collect();
    if !limited_rows.is_empty() {
        let share = paired(
            &results,
            (Scenario::RestGet, "redis-limits"),
            (Scenario::RestGet, "limits-off"),
        );
        let added = p50_gap(
            find(&results, Scenario::RestGet, "redis-limits").as_ref(),
            find(&results, Scenario::RestGet, "limits-off").as_ref(),
        );
        let _ = writeln!(
            md,
            "| REST get with the Redis rate limiter ≥ 85% of limits off | {} (p50 +{} ms) | {} |",
            percent(share),
            ms(added),
            judged(share.map(|s| s >= 0.85), &limited_rows)
        );
    }
    let _ = writeln!(
        md,
        "| gateway peak RSS ≤ {GATEWAY_RSS_MIB:.0} MiB | {} MiB | {} |",
        mib(gateway_peak),
        verdict(gateway_peak.map(|k| kib_to_mib(k) <= GATEWAY_RSS_MIB))
    );
    let _ = writeln!(
        md,
        "| service peak RSS ≤ {SERVICE_RSS_MIB:.0} MiB | {} MiB | {} |",
        mib(service_peak),
        verdict(service_peak.map(|k| kib_to_mib(k) <= SERVICE_RSS_MIB))
    );

    reference(&mut md, &results);
    hop(&mut md, &results);
    partner_http(&mut md, &results);

    let failing: Vec<_> = results.iter().filter(|r| r.errors > 0 || r.exhausted).collect();
    if !failing.is_empty() {
        let _ = writeln!(md, "\nRuns with errors (their rows are not clean measurements):\n");
        for r in failing {
            let _ = writeln!(
                md,
                "- {}: {} errors{}",
                run_name(&results, r),
                r.errors,
                if r.exhausted { ", pool ran out" } else { "" }
            );
            for (error, n) in &r.error_samples {
                let _ = writeln!(md, "  - {n} × `{error}`");
            }
        }
    }
    Ok(md)
}

/// CPU microseconds per successful request of `party` in a run (0 when it was not measured).
fn cpu_per_request(r: &LoadResult, party: &str) -> f64 {
    let seconds = r.cpu.iter().find(|c| c.name == party).map_or(0.0, |c| c.seconds);
    if r.ok == 0 { 0.0 } else { seconds * 1e6 / r.ok as f64 }
}

/// The median over a row's rounds of `party`'s CPU µs per request; none when it was not measured.
fn median_cpu(
    results: &[LoadResult],
    (scenario, label): (Scenario, &str),
    party: &str,
) -> Option<f64> {
    let per_round =
        rounds(results, scenario, label).iter().map(|r| cpu_per_request(r, party)).collect();
    median(per_round).filter(|cpu| *cpu > 0.0)
}

/// Whole microseconds, or `–`.
fn micros(value: Option<f64>) -> String {
    value.map_or("–".to_owned(), |us| format!("{us:.0}"))
}

/// A row's req/s, p50 and p99 and its share of a baseline's req/s, as four table cells.
fn speed_cells(row: &LoadResult, share: Option<f64>) -> String {
    format!(
        "{} | {} | {} | {}",
        rate(Some(row)),
        ms(Some(row.p50_ms)),
        ms(Some(row.p99_ms)),
        percent(share)
    )
}

/// The reference rows, when they ran (PostgreSQL): REST and gRPC get against the minimal axum +
/// sqlx server reading the same row (`tickets-bench reference`), in the same rounds.
fn reference(md: &mut String, results: &[LoadResult]) {
    let Some(base) = find(results, Scenario::RestGet, "reference") else { return };
    let _ = writeln!(
        md,
        "\nAgainst the reference — a minimal axum + sqlx handler serving the same `GET /v2/tickets/pending-tickets/{{id}}` from the same PostgreSQL, no authentication (c={}; medians of the rounds, ratios the median of the per-round ratios):\n",
        base.concurrency
    );
    let _ = writeln!(
        md,
        "| row | req/s | p50 ms | p99 ms | req/s of the reference | postgres CPU µs/req | postgres CPU of the reference's |\n|---|--:|--:|--:|--:|--:|--:|"
    );
    let reference_row = (Scenario::RestGet, "reference");
    let rows = [
        ("reference (axum + sqlx)", reference_row),
        ("REST get (gateway → service → PostgreSQL)", (Scenario::RestGet, "full")),
        ("gRPC get (service → PostgreSQL)", (Scenario::GrpcGet, "full")),
    ];
    for (name, (scenario, label)) in rows {
        let Some(row) = find(results, scenario, label) else { continue };
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} |",
            speed_cells(&row, paired(results, (scenario, label), reference_row)),
            micros(median_cpu(results, (scenario, label), "postgres")),
            times(paired_by(results, (scenario, label), reference_row, |r| {
                cpu_per_request(r, "postgres")
            })),
        );
    }
    let share = paired(results, (Scenario::RestGet, "full"), reference_row);
    let cpu = paired_by(results, (Scenario::RestGet, "full"), reference_row, |r| {
        cpu_per_request(r, "postgres")
    });
    let judged_rows: Vec<&LoadResult> = ["reference", "full"]
        .into_iter()
        .flat_map(|label| rounds(results, Scenario::RestGet, label))
        .collect();
    let _ = writeln!(
        md,
        "\n| target | measured | verdict |\n|---|---|---|\n| REST get ≥ 0.60× the reference's throughput | {} | {} |\n| PostgreSQL CPU per REST get ≤ 1.2× per reference get | {} | {} |",
        times(share),
        judged(share.map(|s| s >= 0.6), &judged_rows),
        times(cpu),
        judged(cpu.map(|c| c <= 1.2), &judged_rows),
    );
}

/// The hop row, when it ran: REST get through a minimal relay (`tickets-bench hop`: axum in,
/// tonic out, nothing else) beside REST get through the gateway, the reference and gRPC get, in
/// the same rounds — what the second hop costs by itself, and what the gateway adds to it.
fn hop(md: &mut String, results: &[LoadResult]) {
    let hop_row = (Scenario::RestGet, "hop");
    let grpc_row = (Scenario::GrpcGet, "full");
    let Some(base) = find(results, hop_row.0, hop_row.1) else { return };
    let _ = writeln!(
        md,
        "\nThe hop alone — the same get through a minimal relay (axum + tonic on one runtime thread: the partner's token relayed, nothing else) instead of the gateway (c={}; medians of the rounds, ratios the median of the per-round ratios):\n",
        base.concurrency
    );
    let _ = writeln!(
        md,
        "| row | req/s | p50 ms | p99 ms | req/s of gRPC get | front process CPU µs/req | service CPU µs/req |\n|---|--:|--:|--:|--:|--:|--:|"
    );
    let rows = [
        ("REST get through the gateway", (Scenario::RestGet, "full"), Some("gateway")),
        ("REST get through the minimal hop", hop_row, Some("hop")),
        (
            "reference (axum + sqlx: no hop at all)",
            (Scenario::RestGet, "reference"),
            Some("reference"),
        ),
        ("gRPC get", grpc_row, None),
    ];
    for (name, (scenario, label), front) in rows {
        let Some(row) = find(results, scenario, label) else { continue };
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} |",
            speed_cells(&row, paired(results, (scenario, label), grpc_row)),
            micros(front.and_then(|party| median_cpu(results, (scenario, label), party))),
            micros(median_cpu(results, (scenario, label), "service")),
        );
    }
}

/// The encodings the compression rows ask for, as their labels name them.
const ENCODINGS: [&str; 4] = ["identity", "gzip", "br", "zstd"];

/// The partner HTTP rows, when they ran: a 100-ticket page per content coding, and the
/// in-progress list (the 1M-ticket history) by cursor deep in it against its first page.
fn partner_http(md: &mut String, results: &[LoadResult]) {
    let identity = find(results, Scenario::RestList, "enc-identity");
    if let Some(base) = &identity {
        let _ = writeln!(
            md,
            "\nPartner HTTP — `GET /v2/tickets/pending-tickets?limit=100` at a random offset, by `Accept-Encoding` (c={}):\n",
            base.concurrency
        );
        let _ = writeln!(
            md,
            "| Accept-Encoding | answered as | req/s | p50 ms | p99 ms | bytes per response | of identity: bytes | of identity: req/s |\n|---|---|---|---|---|---|---|---|"
        );
        for encoding in ENCODINGS {
            let label = format!("enc-{encoding}");
            let Some(row) = find(results, Scenario::RestList, &label) else { continue };
            let throughput =
                paired(results, (Scenario::RestList, &label), (Scenario::RestList, "enc-identity"));
            let bytes = (base.body_bytes > 0.0).then(|| row.body_bytes / base.body_bytes);
            let _ = writeln!(
                md,
                "| {encoding} | {} | {} | {} | {} | {:.0} | {} | {} |",
                row.content_encoding,
                rate(Some(&row)),
                ms(Some(row.p50_ms)),
                ms(Some(row.p99_ms)),
                row.body_bytes,
                percent(bytes),
                percent(throughput)
            );
        }
    }
    let first = find(results, Scenario::RestHistory, "first");
    if let Some(first) = &first {
        let _ = writeln!(
            md,
            "\nPartner HTTP — `GET /v2/tickets/in-progress-tickets?limit=25` (each provider's share of the history) (c={}):\n",
            first.concurrency
        );
        let _ = writeln!(
            md,
            "| page | req/s | p50 ms | p99 ms | p99 / first page |\n|---|---|---|---|---|"
        );
        let pages = [
            ("first", "the first page"),
            ("deep", "after a cursor at a random depth"),
            ("offset-deep", "at a random offset (for comparison)"),
        ];
        for (label, name) in pages {
            let Some(row) = find(results, Scenario::RestHistory, label) else { continue };
            let p99 = paired_by(
                results,
                (Scenario::RestHistory, label),
                (Scenario::RestHistory, "first"),
                |r| r.p99_ms,
            );
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} |",
                rate(Some(&row)),
                ms(Some(row.p50_ms)),
                ms(Some(row.p99_ms)),
                times(p99)
            );
        }
        let deep = paired_by(
            results,
            (Scenario::RestHistory, "deep"),
            (Scenario::RestHistory, "first"),
            |r| r.p99_ms,
        );
        let rows: Vec<&LoadResult> = ["first", "deep"]
            .into_iter()
            .flat_map(|label| rounds(results, Scenario::RestHistory, label))
            .collect();
        let _ = writeln!(
            md,
            "\n| target | measured | verdict |\n|---|---|---|\n| a cursor page deep in the history: p99 ≤ 1.2× the first page's | {} | {} |",
            times(deep),
            judged(deep.map(|r| r <= 1.2), &rows)
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::load::{Cpu, Rss};

    fn run(
        scenario: Scenario,
        label: &str,
        round: u32,
        throughput: f64,
        p99_ms: f64,
    ) -> LoadResult {
        LoadResult {
            scenario,
            label: label.to_owned(),
            round,
            concurrency: 32,
            window_s: 5.0,
            warmup_s: 1.0,
            ok: 100,
            errors: 0,
            error_samples: BTreeMap::new(),
            throughput,
            mean_ms: p99_ms / 2.0,
            p50_ms: p99_ms / 3.0,
            p90_ms: p99_ms / 1.5,
            p99_ms,
            p999_ms: p99_ms,
            max_ms: p99_ms,
            exhausted: false,
            consumed: 0,
            rss: vec![Rss {
                name: "gateway".into(),
                pid: 1,
                peak_kib: 10 * 1024,
                current_kib: 0,
                reset: true,
            }],
            idle_wait_s: 0.0,
            busy_before: 0.0,
            cpu: Vec::new(),
            body_bytes: 0.0,
            content_encoding: "identity".into(),
        }
    }

    #[test]
    fn the_partner_rows_pair_each_round_with_its_baseline() {
        let results = [
            run(Scenario::RestHistory, "first", 1, 100.0, 10.0),
            run(Scenario::RestHistory, "deep", 1, 100.0, 11.0),
            run(Scenario::RestHistory, "first", 2, 100.0, 20.0),
            run(Scenario::RestHistory, "deep", 2, 100.0, 30.0),
            run(Scenario::RestHistory, "first", 3, 100.0, 10.0),
            run(Scenario::RestHistory, "deep", 3, 100.0, 12.0),
        ];
        let ratio = paired_by(
            &results,
            (Scenario::RestHistory, "deep"),
            (Scenario::RestHistory, "first"),
            |r| r.p99_ms,
        );
        assert_eq!(ratio.map(|r| (r * 100.0).round()), Some(120.0), "median of 1.1, 1.5, 1.2");
        let mut md = String::new();
        partner_http(&mut md, &results);
        assert!(md.contains("| 1.20× | **met** |"), "{md}");
    }

    #[test]
    fn the_hop_rows_pair_each_round_with_grpc_get_and_charge_their_front_process() {
        let cpu = |name: &str, seconds: f64| Cpu { name: name.into(), seconds };
        let mut results = Vec::new();
        for (round, rest, hop, grpc) in [(1, 70.0, 80.0, 100.0), (2, 30.0, 45.0, 50.0)] {
            let mut through_gateway = run(Scenario::RestGet, "full", round, rest, 5.0);
            through_gateway.cpu = vec![cpu("gateway", 0.005), cpu("service", 0.006)];
            let mut through_hop = run(Scenario::RestGet, "hop", round, hop, 5.0);
            through_hop.cpu = vec![cpu("hop", 0.003), cpu("service", 0.006)];
            results.extend([through_gateway, through_hop]);
            results.push(run(Scenario::GrpcGet, "full", round, grpc, 4.0));
        }
        let mut md = String::new();
        hop(&mut md, &results);
        // Per round: gateway 70%, 60% → 65%; hop 80%, 90% → 85%. 100 requests per round: the
        // front process's 5 or 3 ms is 50 or 30 µs a request.
        assert!(md.contains("| REST get through the gateway | 50 | "), "{md}");
        assert!(md.contains(" | 65% | 50 | 60 |"), "{md}");
        assert!(md.contains(" | 85% | 30 | 60 |"), "{md}");
        assert!(md.contains("| gRPC get | 75 | "), "{md}");
        let mut without = String::new();
        hop(&mut without, &results[..1]);
        assert!(without.is_empty(), "no hop row, no section: {without}");
    }

    #[test]
    fn median_of_odd_even_and_no_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn rounds_are_combined_into_medians_and_sums() {
        let results = vec![
            run(Scenario::RestGet, "full", 2, 90.0, 9.0),
            run(Scenario::RestGet, "full", 1, 100.0, 10.0),
            run(Scenario::RestGet, "full", 3, 300.0, 30.0),
            run(Scenario::RestGet, "latency", 1, 5.0, 1.0),
        ];
        let combined = find(&results, Scenario::RestGet, "full").unwrap();
        assert_eq!(combined.throughput, 100.0);
        assert_eq!(combined.p99_ms, 10.0);
        assert_eq!(combined.ok, 300);
        assert_eq!(combined.window_s, 15.0);
        assert!(find(&results, Scenario::GrpcGet, "full").is_none());
        let order: Vec<u32> =
            rounds(&results, Scenario::RestGet, "full").iter().map(|r| r.round).collect();
        assert_eq!(order, [1, 2, 3]);
    }

    #[test]
    fn ratios_pair_the_same_round_and_take_the_median() {
        // Round 2 ran on a slower host for both sides: paired, it does not skew the ratio;
        // the ratio of the medians (70 / 100) would say 70%.
        let results = vec![
            run(Scenario::RestGet, "full", 1, 80.0, 1.0),
            run(Scenario::GrpcGet, "full", 1, 100.0, 1.0),
            run(Scenario::RestGet, "full", 2, 40.0, 1.0),
            run(Scenario::GrpcGet, "full", 2, 50.0, 1.0),
            run(Scenario::RestGet, "full", 3, 70.0, 1.0),
            run(Scenario::GrpcGet, "full", 3, 140.0, 1.0),
        ];
        let ratio = paired(&results, (Scenario::RestGet, "full"), (Scenario::GrpcGet, "full"));
        assert_eq!(ratio, Some(0.8));
        // A round missing on one side is left out.
        let partial = &results[..5];
        assert_eq!(
            paired(partial, (Scenario::RestGet, "full"), (Scenario::GrpcGet, "full")),
            Some(0.8)
        );
    }

    #[test]
    fn start_service_shares_pair_each_round_with_its_pgbench_run() {
        let results = vec![
            run(Scenario::RestStart, "full", 1, 50.0, 1.0),
            run(Scenario::RestStart, "full", 2, 30.0, 1.0),
            run(Scenario::RestStart, "full", 3, 45.0, 1.0),
        ];
        let share = share_of_pgbench(&results, Scenario::RestStart, &[100.0, 50.0, 100.0]);
        assert_eq!(share, Some(0.5));
        // No pgbench (SQLite): no share.
        assert_eq!(share_of_pgbench(&results, Scenario::RestStart, &[]), None);
    }

    #[test]
    fn the_report_judges_the_targets_from_the_paired_rounds() {
        let mut results = Vec::new();
        for (round, rest, grpc) in [(1, 75.0, 100.0), (2, 36.0, 50.0), (3, 60.0, 100.0)] {
            results.push(run(Scenario::RestGet, "full", round, rest, 5.0));
            results.push(run(Scenario::GrpcGet, "full", round, grpc, 4.0));
            results.push(run(Scenario::RestStart, "full", round, rest / 2.0, 5.0));
            results.push(run(Scenario::GrpcStart, "full", round, grpc / 2.0, 4.0));
        }
        let dir = std::env::temp_dir().join(format!("tickets-bench-report-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("results.jsonl");
        let lines: Vec<String> =
            results.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        fs::write(&file, lines.join("\n")).unwrap();
        let args = ReportArgs {
            results: file,
            title: "test".into(),
            history: 1000,
            info: Vec::new(),
            pgbench_tps: vec![80.0, 40.0, 80.0],
            pgbench_latency_ms: vec![1.0, 1.0, 1.0],
            pgbench_clients: Some(10),
            pgbench_transactions: Some(10),
            pgbench_updated: Some(10),
        };
        let md = render(&args).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        // REST/gRPC get per round: 75%, 72%, 60% → median 72%.
        assert!(
            md.contains("| REST get ≥ 75% of direct gRPC get throughput | 72% | **missed** |"),
            "{md}"
        );
        // REST start-service per round: 37.5/80, 18/40, 30/80 → 47%, 45%, 38% → 45%.
        assert!(
            md.contains(
                "| REST start-service ≥ 60% of the pgbench raw UPDATE | 45% | **missed** |"
            ),
            "{md}"
        );
        assert!(md.contains("| REST get (full, round 2, c=32) |"), "{md}");
        assert!(md.contains("In 3 rounds"), "{md}");
    }
}
