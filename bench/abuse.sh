#!/usr/bin/env bash
# The abuse benchmark: starts the release ticket service (SQLite, demo data) and the release
# gateway as deployed (one runtime thread, JSON logs at info, default connection bounds), then
# attacks the gateway with `tickets-bench abuse` beside a legitimate client, in interleaved
# rounds: slow request heads, then forged tokens. Prints a markdown summary with the targets
# (bench/README.md, "Abuse").
#
#   bench/abuse.sh                     # both attacks, 3 rounds each
#   bench/abuse.sh --rounds 5 --connections 2000
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

usage() {
  cat <<'TXT'
usage: bench/abuse.sh [options]
  --rounds N             interleaved rounds per attack (default 3)
  --duration S           seconds of each phase's legitimate client (default 8; below the header timeout)
  --concurrency N        the legitimate client's requests in flight (default 4)
  --connections N        slow-head connections (default 1000)
  --head-kib N           KiB of unfinished head per connection (default 30)
  --flood-concurrency N  flood requests in flight (default 64)
  --only slow-heads|forged-tokens   run one attack
  --out DIR              logs and results (default $CARGO_TARGET_DIR/bench/abuse)
  --no-build             use the release binaries already built
environment: CARGO_TARGET_DIR (default ./target); BENCH_GRPC_ADDR (127.0.0.1:25051),
  BENCH_HTTP_ADDR (127.0.0.1:28080), BENCH_METRICS_ADDR (127.0.0.1:29464), BENCH_GATEWAY_METRICS_ADDR (127.0.0.1:29465)
TXT
}

ROUNDS=3 DURATION=8 CONCURRENCY=4 CONNECTIONS=1000 HEAD_KIB=30 FLOOD=64 ONLY="" OUT="" BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --concurrency) CONCURRENCY=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --head-kib) HEAD_KIB=$2; shift ;;
    --flood-concurrency) FLOOD=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case "$ONLY" in ""|slow-heads|forged-tokens) ;; *) echo "--only: slow-heads or forged-tokens" >&2; exit 2 ;; esac

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
OUT=${OUT:-$TARGET_DIR/bench/abuse}
GRPC_ADDR=${BENCH_GRPC_ADDR:-127.0.0.1:25051}
HTTP_ADDR=${BENCH_HTTP_ADDR:-127.0.0.1:28080}
METRICS_ADDR=${BENCH_METRICS_ADDR:-127.0.0.1:29464}
GATEWAY_METRICS=${BENCH_GATEWAY_METRICS_ADDR:-127.0.0.1:29465}
HEADER_TIMEOUT_MS=10000
mkdir -p "$OUT"
rm -f "$OUT"/results.jsonl "$OUT"/*.log "$OUT"/report.md "$OUT"/tickets.db*

if [[ $BUILD == 1 ]]; then
  echo "==> building release binaries into $TARGET_DIR" >&2
  cargo build --release --quiet -p ticket-service -p ticket-gateway -p tickets-bench
fi
for b in ticket-service ticket-gateway tickets-bench; do
  [[ -x $BIN/$b ]] || { echo "$BIN/$b missing (drop --no-build)" >&2; exit 1; }
done
# Every slow connection is a descriptor on both sides.
(( $(ulimit -n) > CONNECTIONS + 256 )) || ulimit -n $((CONNECTIONS + 1024)) 2>/dev/null \
  || { echo "ulimit -n is $(ulimit -n): too low for $CONNECTIONS connections" >&2; exit 1; }

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$OUT/signing-key.pem"
cat >"$OUT/clients.toml" <<TOML
[[clients]]
client_id = "demo"
client_secret_sha256 = "$(sha256 demo-secret)"
api_key_sha256 = "$(sha256 demo-api-key)"
provider_id = "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
TOML

export TICKETS_DATABASE_URL="sqlite://$OUT/tickets.db?mode=rwc"
"$BIN/ticket-service" seed-demo >"$OUT/seed.log" 2>&1

pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

env -u OTEL_EXPORTER_OTLP_ENDPOINT RUST_LOG=info LOG_FORMAT=json \
  TICKETS_GRPC_ADDR="$GRPC_ADDR" TICKETS_METRICS_ADDR="$METRICS_ADDR" \
  TICKETS_TOKEN_PUBLIC_KEY_FILE="$OUT/signing-key.pem" \
  "$BIN/ticket-service" >"$OUT/service.log" 2>&1 &
pids+=($!)
# As deployed (deploy/base), except the rate limit: the legitimate client measures throughput.
env -u OTEL_EXPORTER_OTLP_ENDPOINT RUST_LOG=info LOG_FORMAT=json \
  GATEWAY_HTTP_ADDR="$HTTP_ADDR" GATEWAY_METRICS_ADDR="$GATEWAY_METRICS" \
  GATEWAY_TICKET_SERVICE_URL="http://$GRPC_ADDR" GATEWAY_WORKER_THREADS=1 \
  GATEWAY_CREDENTIALS_FILE="$OUT/clients.toml" GATEWAY_SIGNING_KEY_FILE="$OUT/signing-key.pem" \
  GATEWAY_RATE_LIMIT_PER_SECOND=0 GATEWAY_DAILY_QUOTA=0 GATEWAY_HEADER_READ_TIMEOUT_MS=$HEADER_TIMEOUT_MS ${BENCH_GATEWAY_ENV:-} \
  "$BIN/ticket-gateway" >"$OUT/gateway.log" 2>&1 &
GATEWAY_PID=$!
pids+=($GATEWAY_PID)
for _ in $(seq 1 300); do
  curl -sf "http://$HTTP_ADDR/readyz" >/dev/null 2>&1 && break
  kill -0 "$GATEWAY_PID" 2>/dev/null || { echo "the gateway exited; see $OUT/gateway.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://$HTTP_ADDR/readyz" >/dev/null || { echo "not ready after 30 s; see $OUT/*.log" >&2; exit 1; }

attack() {
  echo "==> $1" >&2
  "$BIN/tickets-bench" abuse --attack "$1" --http-url "http://$HTTP_ADDR" --gateway-pid "$GATEWAY_PID" \
    --client "demo demo-secret demo-api-key" --concurrency "$CONCURRENCY" --duration "$DURATION" \
    --rounds "$ROUNDS" --connections "$CONNECTIONS" --head-kib "$HEAD_KIB" \
    --header-timeout $((HEADER_TIMEOUT_MS / 1000)) --flood-concurrency "$FLOOD" --out "$OUT/results.jsonl"
}
{
  echo "## Abuse ($(date -u +%Y-%m-%d), $(nproc) cores, gateway with 1 runtime thread)"
  echo
  [[ $ONLY == forged-tokens ]] || attack slow-heads
  [[ $ONLY == slow-heads ]] || attack forged-tokens
} | tee "$OUT/report.md"
kill -0 "$GATEWAY_PID" 2>/dev/null || { echo "the gateway died during the attack; see $OUT/gateway.log" >&2; exit 1; }
echo "==> report: $OUT/report.md; raw phases: $OUT/results.jsonl" >&2
