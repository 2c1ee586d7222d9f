#!/usr/bin/env python3
"""Folds `perf script --no-inline` output of one server into cost categories.

For each category: self% (samples whose leaf frame is in it) and incl% (samples with any frame
in it). Tokio tasks cut async stacks short, so incl% is a lower bound. Used by `run.sh --perf`:

    perf script -i perf-rest-get-full-gateway.data --no-inline | python3 bench/perf_categories.py
"""
import collections
import re
import sys

CATEGORIES = [
    ("ES256 verify (p256/ecdsa)", r"p256::|primeorder|ecdsa::|crypto_bigint|elliptic_curve|wnaf"),
    ("log lines (fmt + JSON + write)", r"format_event|FormatEvent|tracing_subscriber::fmt|JsonWithTraceIds|std::io::Write::write_all|<std::io::stdio"),
    ("span bookkeeping (registry, otel layer)", r"tracing_subscriber::registry|OpenTelemetryLayer|sharded_slab|tracing_core::dispatcher|tracing::span::Span::|on_new_span|on_enter|on_exit|on_close|on_record|tracing_opentelemetry"),
    ("sqlx (pg protocol, pool)", r"sqlx_"),
    ("TLS to the database (rustls)", r"rustls::|ring_core|aes_hw|gcm_"),
    ("sea-orm/sea-query statement building", r"sea_query::|QueryStatementBuilder|sea_orm::query::|sea_orm::entity::|build_any|prepare_"),
    ("sea-orm row decoding", r"TryGetable|FromQueryResult|from_query_result|try_get|sea_orm::executor::query"),
    ("h2 / hyper", r"h2::|hyper::|hyper_util::"),
    ("tonic / prost", r"tonic::|prost::|tonic_prost"),
    ("axum / tower", r"axum::|tower::|tower_http::|axum_core"),
    ("serde_json", r"serde_json"),
    ("metrics", r"prometheus|::metrics::"),
    ("uuid/chrono/fmt", r"uuid::|chrono::|core::fmt::"),
    ("malloc/free/memcpy", r"malloc|free|_int_|realloc|memmove|memcpy|memset|unlink_chunk|cfree"),
    ("tokio runtime", r"tokio::"),
]


def main() -> None:
    rx = [(name, re.compile(pattern)) for name, pattern in CATEGORIES]
    total = kernel = 0
    own = collections.Counter()
    incl = collections.Counter()
    stack: list[str] = []

    def flush() -> None:
        nonlocal total, kernel
        if not stack:
            return
        total += 1
        leaf = stack[0]
        if leaf.startswith("[k]"):
            kernel += 1
        else:
            for name, r in rx:
                if r.search(leaf):
                    own[name] += 1
                    break
            else:
                own["other"] += 1
        seen = set()
        for frame in stack:
            for name, r in rx:
                if name not in seen and r.search(frame):
                    seen.add(name)
                    incl[name] += 1

    for line in sys.stdin:
        if not line.strip():
            flush()
            stack = []
            continue
        if line[0] not in " \t":
            continue
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            is_kernel = "[kernel.kallsyms]" in parts[1]
            sym = re.sub(r"\+0x[0-9a-f]+ \(.*\)$", "", parts[1])
            sym = re.sub(r" \(.*\)$", "", sym)
            stack.append(("[k]" if is_kernel else "") + sym)
    flush()
    if not total:
        print("no samples")
        return
    print(f"samples {total}; kernel (syscalls, loopback TCP, scheduling) self {100 * kernel / total:.1f}%")
    print(f"{'category':45s} {'self%':>6s} {'incl%':>6s}")
    for name, _ in CATEGORIES + [("other", None)]:
        print(f"{name:45s} {100 * own[name] / total:6.1f} {100 * incl[name] / total:6.1f}")


if __name__ == "__main__":
    main()
