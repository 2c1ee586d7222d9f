#!/usr/bin/env bash
# The benchmark: seeds a database with a realistic shape, starts the release binaries of the
# ticket service and the gateway, drives them at fixed concurrency with the Rust load generator
# (bench/src), and prints a markdown report (REST vs gRPC, list cost vs history, start-service vs
# a pgbench raw-SQL baseline, peak RSS, the targets). See bench/README.md.
#
#   bench/run.sh                 # PostgreSQL, 1,000,000 non-pending + 10,000 pending tickets
#   bench/run.sh --sqlite        # SQLite, 100,000 non-pending + 10,000 pending tickets
#   bench/run.sh --quick         # 5 s runs, 100,000 (PG) / 20,000 (SQLite) non-pending
#   bench/run.sh --events        # the live event feed: streams while tickets are created (only)
#   bench/run.sh --instructions  # instructions per request of each server, under callgrind (only)
#
# Everything runs on this machine; only loopback addresses are used. The databases it creates
# (tickets_bench, tickets_bench_none; SQLite files under the output directory) are dropped at
# the end unless --keep.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

usage() {
  cat <<'TXT'
usage: bench/run.sh [options]
  --postgres            PostgreSQL backend (default)
  --sqlite              SQLite backend
  --quick               short runs on a smaller history (5 s windows, 1 s warm-up)
  --duration S          measured seconds per row (default 15; quick 5)
  --warmup S            warm-up seconds per row (default 3; quick 1)
  --concurrency N       requests in flight (default 32)
  --history N           non-pending tickets (default 1000000 PG, 100000 SQLite; quick 100000 / 20000)
  --pending N           pending tickets, spread over the providers (default 10000)
  --providers N         providers (default 10)
  --db-connections N    the service's pool size, TICKETS_DB_MAX_CONNECTIONS, and pgbench's clients (default 10)
  --pool-rate N         pending tickets set aside per second of start-service run (default 8000)
  --rounds N            run the compared rows (get REST/gRPC; start-service REST/gRPC/pgbench) in N
                        interleaved rounds of duration/N seconds each (default 3; quick 1); with --events,
                        N live phases of --duration s each, the report giving their medians
                        (after a live phase of --warmup s whose latencies are not recorded)
  --client-threads N    load generator threads, also of the --events client (default 1: one thread)
  --wait-idle S         before each row, wait up to S s for the machine to be under 15% busy (default 60; 0 = no wait)
  --out DIR             where logs, seeds and the report go (default $CARGO_TARGET_DIR/bench/<backend>)
  --no-build            use the binaries already built
  --perf                also profile both servers during every row (perf record; see bench/README.md)
  --keep                keep the databases afterwards
  --events              measure only the event feed on a fresh database: --subscribers streams over
                        the providers while --event-rate tickets/s are created for --duration s, then
                        --idle-streams streams held open at once (bench/README.md, "Events")
  --subscribers N       live streams of --events (default 1000)
  --event-rate N        tickets created per second during --events (default 500)
  --idle-streams N      streams held open in the idle phase of --events (default 10000)
  --streams-per-connection N  HTTP/2 streams per connection in --events (default 100); 0: one
                        HTTP/1.1 connection per stream
  --hold-idle S         keep the idle streams of --events open S more seconds, to inspect the gateway
  --instructions        count only the instructions each server runs per get and start-service (REST and gRPC, one request
                        in flight) under valgrind's callgrind: deterministic, unlike the host's timings,
                        so a change's effect shows in one run (bench/README.md, "Instructions per request")
  --syscalls            only count each server's system calls and context switches per request at the set
                        concurrency, REST and gRPC get and start-service (perf stat on the syscall tracepoints; bench/README.md)
environment: CARGO_TARGET_DIR (default ./target), BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432),
  BENCH_RUST_LOG (default info) and BENCH_LOG_FORMAT (default json) for both servers, as deployed,
  BENCH_GRPC_ADDR (127.0.0.1:25051), BENCH_HTTP_ADDR (127.0.0.1:28080), BENCH_METRICS_ADDR (127.0.0.1:29464),
  BENCH_REDIS_URL (redis://127.0.0.1:6379; the rate-limiter row, skipped when none answers),
  BENCH_LIMITED_HTTP_ADDR (127.0.0.1:28081), BENCH_LIMITED_METRICS_ADDR (127.0.0.1:29466),
  BENCH_GATEWAY_METRICS_ADDR (127.0.0.1:29465), BENCH_GATEWAY_THREADS (1, as deployed),
  BENCH_REFERENCE_ADDR (127.0.0.1:28090), BENCH_HOP_ADDR (127.0.0.1:28091),
  BENCH_BASE_GRPC_ADDR, BENCH_BASE_HTTP_ADDR, BENCH_BASE_METRICS_ADDR, BENCH_BASE_GATEWAY_METRICS_ADDR
  (127.0.0.1:25052, :28082, :29474, :29475: the pair on the database without history, for the list rows)
TXT
}

BACKEND=postgres QUICK=0 DURATION="" WARMUP="" CONCURRENCY=32 HISTORY="" PENDING=10000 PROVIDERS=10
DB_CONNECTIONS=10 POOL_RATE=8000 ROUNDS="" CLIENT_THREADS=1 OUT="" BUILD=1 KEEP=0 WAIT_IDLE=60 PERF=0
INSTRUCTIONS=0 SYSCALLS=0 EVENTS=0 SUBSCRIBERS=1000 EVENT_RATE=500 IDLE_STREAMS=10000 STREAMS_PER_CONNECTION=100 HOLD_IDLE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --postgres) BACKEND=postgres ;;
    --sqlite) BACKEND=sqlite ;;
    --quick) QUICK=1 ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --concurrency) CONCURRENCY=$2; shift ;;
    --history) HISTORY=$2; shift ;;
    --pending) PENDING=$2; shift ;;
    --providers) PROVIDERS=$2; shift ;;
    --db-connections) DB_CONNECTIONS=$2; shift ;;
    --pool-rate) POOL_RATE=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --client-threads) CLIENT_THREADS=$2; shift ;;
    --wait-idle) WAIT_IDLE=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-build) BUILD=0 ;;
    --perf) PERF=1 ;;
    --keep) KEEP=1 ;;
    --events) EVENTS=1 ;;
    --instructions) INSTRUCTIONS=1 ;;
    --syscalls) SYSCALLS=1 ;;
    --subscribers) SUBSCRIBERS=$2; shift ;;
    --event-rate) EVENT_RATE=$2; shift ;;
    --idle-streams) IDLE_STREAMS=$2; shift ;;
    --streams-per-connection) STREAMS_PER_CONNECTION=$2; shift ;;
    --hold-idle) HOLD_IDLE=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [[ $INSTRUCTIONS == 1 ]]; then
  QUICK=1 HISTORY=${HISTORY:-0} DURATION=${DURATION:-20}
  command -v valgrind >/dev/null || { echo "--instructions needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }
fi
if [[ $SYSCALLS == 1 ]]; then
  QUICK=1 HISTORY=${HISTORY:-0} DURATION=${DURATION:-10}
  command -v perf >/dev/null || { echo "--syscalls needs perf (apt-get install -y linux-perf)" >&2; exit 1; }
  perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_writev -- true >/dev/null 2>&1 \
    || { echo "--syscalls needs the syscall tracepoints (perf stat -e raw_syscalls:sys_enter fails: run as root, tracefs mounted)" >&2; exit 1; }
fi
if [[ $QUICK == 1 ]]; then
  DURATION=${DURATION:-5} WARMUP=${WARMUP:-1} ROUNDS=${ROUNDS:-1}
  [[ $BACKEND == postgres ]] && HISTORY=${HISTORY:-100000} || HISTORY=${HISTORY:-20000}
fi
DURATION=${DURATION:-15} WARMUP=${WARMUP:-3} ROUNDS=${ROUNDS:-3}
(( ROUNDS >= 1 )) || { echo "--rounds must be at least 1" >&2; exit 2; }
# Each round of a compared row runs for SEGMENT seconds; rounds after the first warm up for
# NEXT_WARMUP seconds (the servers are warm by then, only the connections are new).
SEGMENT=$(( ${DURATION%.*} / ROUNDS )); (( SEGMENT >= 1 )) || SEGMENT=1
NEXT_WARMUP=$(( ${WARMUP%.*} < 1 ? ${WARMUP%.*} : 1 ))
[[ $BACKEND == postgres ]] && HISTORY=${HISTORY:-1000000} || HISTORY=${HISTORY:-100000}
(( PROVIDERS >= 1 && PROVIDERS <= 999 && PENDING >= PROVIDERS && HISTORY >= 0 )) || { echo "bad shape" >&2; exit 2; }

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
OUT=${OUT:-$TARGET_DIR/bench/$BACKEND}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
# Every default port lies below Linux's ephemeral range (32768 – 60999): a port in it can be
# taken by any outgoing connection (to PostgreSQL, between the servers), and a server started
# later then fails to bind it (seen: the list rows' gateway on 58082).
GRPC_ADDR=${BENCH_GRPC_ADDR:-127.0.0.1:25051}
HTTP_ADDR=${BENCH_HTTP_ADDR:-127.0.0.1:28080}
METRICS_ADDR=${BENCH_METRICS_ADDR:-127.0.0.1:29464}
GATEWAY_METRICS_ADDR=${BENCH_GATEWAY_METRICS_ADDR:-127.0.0.1:29465}
# The baseline pair (service + gateway on the database without history), up beside the main
# one while the list rows alternate between them.
BASE_GRPC_ADDR=${BENCH_BASE_GRPC_ADDR:-127.0.0.1:25052}
BASE_HTTP_ADDR=${BENCH_BASE_HTTP_ADDR:-127.0.0.1:28082}
BASE_METRICS_ADDR=${BENCH_BASE_METRICS_ADDR:-127.0.0.1:29474}
BASE_GATEWAY_METRICS_ADDR=${BENCH_BASE_GATEWAY_METRICS_ADDR:-127.0.0.1:29475}
# The limiter row's gateway, and the Redis it counts in (the row is skipped when none answers).
LIMITED_HTTP_ADDR=${BENCH_LIMITED_HTTP_ADDR:-127.0.0.1:28081}
REFERENCE_ADDR=${BENCH_REFERENCE_ADDR:-127.0.0.1:28090}
REFERENCE_PID=""
HOP_ADDR=${BENCH_HOP_ADDR:-127.0.0.1:28091}
HOP_PID=""
LIMITED_METRICS_ADDR=${BENCH_LIMITED_METRICS_ADDR:-127.0.0.1:29466}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
DB_FULL=tickets_bench DB_NONE=tickets_bench_none DB_EVENTS=tickets_bench_events
# The production logging of deploy/base: one JSON line per request at info.
LOG_FILTER=${BENCH_RUST_LOG:-info} LOG_FORMAT=${BENCH_LOG_FORMAT:-json}
mkdir -p "$OUT"
rm -f "$OUT"/results.jsonl "$OUT"/*.log "$OUT"/*.txt "$OUT"/*.db "$OUT"/*.db-shm "$OUT"/*.db-wal "$OUT"/perf-*

T0=$SECONDS
say() { printf '==> [%4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }

# --- build ---------------------------------------------------------------------------------------
if [[ $BUILD == 1 ]]; then
  say "building release binaries into $TARGET_DIR"
  cargo build --release --quiet -p ticket-service -p ticket-gateway -p tickets-bench
fi
[[ $PERF == 0 ]] || command -v perf >/dev/null || { echo "--perf needs perf (apt-get install -y linux-perf)" >&2; exit 1; }
for b in ticket-service ticket-gateway tickets-bench; do
  [[ -x $BIN/$b ]] || { echo "$BIN/$b missing (drop --no-build)" >&2; exit 1; }
done

# --- helpers -------------------------------------------------------------------------------------
psql_db() { local db=$1; shift; psql "$PG_URL/$db" -X -q -v ON_ERROR_STOP=1 "$@"; }
provider_uuid() { printf 'b0000000-0000-4000-8000-%012d' "$1"; }
operator_uuid() { printf 'c0000000-0000-4000-8000-%012d' "$1"; }   # provider * 1000 + n
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
commas() { echo "$1" | sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta'; }
OPERATORS_PER_PROVIDER=8

SERVICE_PID="" GATEWAY_PID="" BASE_SERVICE_PID="" BASE_GATEWAY_PID=""
stop_servers() {
  for pid in $GATEWAY_PID $SERVICE_PID; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $GATEWAY_PID $SERVICE_PID; do wait "$pid" 2>/dev/null || true; done
  SERVICE_PID="" GATEWAY_PID=""
}
stop_baseline_servers() {
  for pid in $BASE_GATEWAY_PID $BASE_SERVICE_PID; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $BASE_GATEWAY_PID $BASE_SERVICE_PID; do wait "$pid" 2>/dev/null || true; done
  BASE_SERVICE_PID="" BASE_GATEWAY_PID=""
}
STASHED_PIDS=""
cleanup() {
  stop_servers
  stop_baseline_servers
  for pid in $STASHED_PIDS; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [[ -n $REFERENCE_PID ]] && { kill "$REFERENCE_PID" 2>/dev/null; wait "$REFERENCE_PID" 2>/dev/null; } || true
  [[ -n $HOP_PID ]] && { kill "$HOP_PID" 2>/dev/null; wait "$HOP_PID" 2>/dev/null; } || true
  if [[ $KEEP == 0 && $BACKEND == postgres ]]; then
    for db in $DB_FULL $DB_NONE $DB_EVENTS; do psql_db postgres -c "DROP DATABASE IF EXISTS $db" 2>/dev/null || true; done
  fi
  if [[ $KEEP == 0 && $BACKEND == sqlite ]]; then rm -f "$OUT"/*.db "$OUT"/*.db-shm "$OUT"/*.db-wal; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whether something listens on $1 (host:port): asked of the kernel, not by connecting, where
# ss is at hand. A connect to a loopback port nobody listens on can be given that same port as
# its source and connect to itself (TCP simultaneous open); the socket then holds the port in
# TIME_WAIT for a minute and the server cannot bind it. Seen when a slow start (--instructions)
# made the readiness loop below connect hundreds of times.
listening() {
  if command -v ss >/dev/null; then [[ -n $(ss -Hltn "sport = :${1##*:}") ]]
  else (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; fi
}
port_free() { ! listening "$1"; }
for addr in "$GRPC_ADDR" "$HTTP_ADDR" "$METRICS_ADDR" "$GATEWAY_METRICS_ADDR"; do
  port_free "$addr" || { echo "$addr is in use (set BENCH_*_ADDR)" >&2; exit 1; }
done

# Waits up to $WAIT_IDLE s for the machine to be under 15% busy over a second (as the load
# generator does before each row).
wait_quiet() {
  local start=$SECONDS a b
  (( ${WAIT_IDLE%.*} > 0 )) || return 0
  while (( SECONDS - start < ${WAIT_IDLE%.*} )); do
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat); sleep 1
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat)
    (( b - a < 15 * $(nproc) )) && return 0
  done
  say "machine still busy after ${WAIT_IDLE} s; measuring anyway"
}

# Starts the service on $1 (database URL) and the gateway in front of it; logs get suffix $2.
start_servers() {
  local url=$1 tag=$2
  env -u OTEL_EXPORTER_OTLP_ENDPOINT RUST_LOG="$LOG_FILTER" LOG_FORMAT="$LOG_FORMAT" \
    TICKETS_DATABASE_URL="$url" TICKETS_GRPC_ADDR="$GRPC_ADDR" TICKETS_METRICS_ADDR="$METRICS_ADDR" \
    TICKETS_DB_MAX_CONNECTIONS="$DB_CONNECTIONS" TICKETS_TOKEN_PUBLIC_KEY_FILE="$OUT/signing-key.pem" \
    ${CALLGRIND:+valgrind --tool=callgrind "--callgrind-out-file=$OUT/callgrind-service.%p"} "$BIN/ticket-service" >"$OUT/service-$tag.log" 2>&1 &
  SERVICE_PID=$!
  env -u OTEL_EXPORTER_OTLP_ENDPOINT RUST_LOG="$LOG_FILTER" LOG_FORMAT="$LOG_FORMAT" \
    GATEWAY_HTTP_ADDR="$HTTP_ADDR" GATEWAY_TICKET_SERVICE_URL="http://$GRPC_ADDR" \
    GATEWAY_CREDENTIALS_FILE="$OUT/clients.toml" GATEWAY_RATE_LIMIT_PER_SECOND=0 GATEWAY_DAILY_QUOTA=0 \
    GATEWAY_WORKER_THREADS="${BENCH_GATEWAY_THREADS:-1}" GATEWAY_SIGNING_KEY_FILE="$OUT/signing-key.pem" \
    GATEWAY_METRICS_ADDR="$GATEWAY_METRICS_ADDR" GATEWAY_MAX_STREAMS_PER_CLIENT=100000 \
    ${CALLGRIND:+valgrind --tool=callgrind "--callgrind-out-file=$OUT/callgrind-gateway.%p"} "$BIN/ticket-gateway" >"$OUT/gateway-$tag.log" 2>&1 &
  GATEWAY_PID=$!
  for _ in $(seq 1 "${READY_TRIES:-300}"); do
    if listening "$HTTP_ADDR" && curl -sf "http://$HTTP_ADDR/readyz" >/dev/null 2>&1; then return 0; fi
    for pid in $SERVICE_PID $GATEWAY_PID; do
      kill -0 "$pid" 2>/dev/null || { echo "a server exited; see $OUT/*-$tag.log" >&2; tail -n 20 "$OUT"/*-"$tag".log >&2; exit 1; }
    done
    sleep 0.1
  done
  echo "servers not ready after 30 s; see $OUT/*-$tag.log" >&2; exit 1
}

# The baseline pair on $1 (the database without history), on the BASE_* addresses, beside the
# main pair. Sets BASE_SERVICE_PID and BASE_GATEWAY_PID.
start_baseline_servers() {
  local main=("$GRPC_ADDR" "$HTTP_ADDR" "$METRICS_ADDR" "$GATEWAY_METRICS_ADDR" "$SERVICE_PID" "$GATEWAY_PID")
  GRPC_ADDR=$BASE_GRPC_ADDR HTTP_ADDR=$BASE_HTTP_ADDR METRICS_ADDR=$BASE_METRICS_ADDR
  GATEWAY_METRICS_ADDR=$BASE_GATEWAY_METRICS_ADDR
  # While start_servers holds the baseline pair's ids, the main pair's are here for cleanup: a
  # baseline server that fails to start must not leave the main pair running.
  STASHED_PIDS="${main[4]} ${main[5]}"
  start_servers "$1" none
  BASE_SERVICE_PID=$SERVICE_PID BASE_GATEWAY_PID=$GATEWAY_PID
  GRPC_ADDR=${main[0]} HTTP_ADDR=${main[1]} METRICS_ADDR=${main[2]} GATEWAY_METRICS_ADDR=${main[3]}
  SERVICE_PID=${main[4]} GATEWAY_PID=${main[5]}
  STASHED_PIDS=""
}

# Waits up to 30 s for $1 (a URL) to answer 2xx; exits when process $2 dies first (showing the
# end of its log $3) or the time runs out ($4 names it).
wait_answering() {
  for _ in $(seq 1 300); do
    local authority=${1#*://}; authority=${authority%%/*}
    listening "$authority" && curl -sf "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { tail -n 20 "$3" >&2; exit 1; }
    sleep 0.1
  done
  echo "$4 is not ready after 30 s; see $3" >&2; exit 1
}

# The reference (PostgreSQL only): a minimal axum + sqlx server answering the same get from the
# same database (bench/src/reference.rs). Sets REFERENCE_PID.
start_reference() {
  "$BIN/tickets-bench" reference --database-url "$1" --addr "$REFERENCE_ADDR" \
    --connections "$DB_CONNECTIONS" >"$OUT/reference.log" 2>&1 &
  REFERENCE_PID=$!
  wait_answering "http://$REFERENCE_ADDR/healthz" "$REFERENCE_PID" "$OUT/reference.log" "the reference server"
}

# The floor of the gateway's hop: a minimal axum server relaying the same get to the running
# service over gRPC, on one runtime thread (bench/src/hop.rs). Sets HOP_PID.
start_hop() {
  ${CALLGRIND:+valgrind --tool=callgrind "--callgrind-out-file=$OUT/callgrind-hop.%p"} \
    "$BIN/tickets-bench" hop --service-url "http://$GRPC_ADDR" --addr "$HOP_ADDR" >"$OUT/hop.log" 2>&1 &
  HOP_PID=$!
  wait_answering "http://$HOP_ADDR/healthz" "$HOP_PID" "$OUT/hop.log" "the hop server"
}

# A second gateway in front of the same service that counts every request in Redis (limits
# far above what the run sends, so none is refused): the limiter row. Sets LIMITED_PID.
start_limited_gateway() {
  env -u OTEL_EXPORTER_OTLP_ENDPOINT RUST_LOG="$LOG_FILTER" LOG_FORMAT="$LOG_FORMAT" \
    GATEWAY_HTTP_ADDR="$LIMITED_HTTP_ADDR" GATEWAY_METRICS_ADDR="$LIMITED_METRICS_ADDR" \
    GATEWAY_TICKET_SERVICE_URL="http://$GRPC_ADDR" GATEWAY_CREDENTIALS_FILE="$OUT/clients.toml" \
    GATEWAY_RATE_LIMIT_PER_SECOND=1000000 GATEWAY_RATE_LIMIT_BURST=1000000 GATEWAY_DAILY_QUOTA=1000000000 \
    GATEWAY_REDIS_URL="$REDIS_URL" GATEWAY_WORKER_THREADS=1 GATEWAY_SIGNING_KEY_FILE="$OUT/signing-key.pem" \
    "$BIN/ticket-gateway" >"$OUT/gateway-redis.log" 2>&1 &
  LIMITED_PID=$!
  wait_answering "http://$LIMITED_HTTP_ADDR/readyz" "$LIMITED_PID" "$OUT/gateway-redis.log" "the limited gateway"
}

# With --perf: samples both servers (perf record, DWARF call graphs) while a row runs, and
# writes perf-<row>-<server>.data and a top-symbols text next to the report. The sampling costs
# CPU: numbers of a --perf run are for reading profiles, not for the table.
PERF_JOBS=()
perf_start() {
  [[ $PERF == 1 ]] || return 0
  local tag=$1 who
  PERF_JOBS=()
  for who in "gateway:$GATEWAY_PID" "service:$SERVICE_PID"; do
    perf record -q -F 499 -g --call-graph dwarf,16384 -p "${who#*:}" -o "$OUT/perf-$tag-${who%%:*}.data" >/dev/null 2>&1 &
    PERF_JOBS+=($!)
  done
}
perf_stop() {
  [[ $PERF == 1 && ${#PERF_JOBS[@]} -gt 0 ]] || return 0
  local tag=$1 job who
  for job in "${PERF_JOBS[@]}"; do kill -INT "$job" 2>/dev/null || true; done
  for job in "${PERF_JOBS[@]}"; do wait "$job" 2>/dev/null || true; done
  PERF_JOBS=()
  for who in gateway service; do
    local data=$OUT/perf-$tag-$who.data
    [[ -s $data ]] || continue
    perf report -i "$data" --no-children --sort symbol --stdio -g none 2>/dev/null \
      | grep -vE '^(#|$)' | head -n 60 | cut -c1-200 >"$OUT/perf-$tag-$who.top.txt" || true
    if command -v python3 >/dev/null; then
      perf script -i "$data" --no-inline 2>/dev/null | python3 "$ROOT/bench/perf_categories.py" >"$OUT/perf-$tag-$who.categories.txt" || true
    fi
  done
}

# Runs one scenario (at concurrency $C when set); extra arguments go to the load generator.
load() {
  local scenario=$1 label=$2; shift 2
  perf_start "$scenario-$label"
  "$BIN/tickets-bench" load --scenario "$scenario" --label "$label" --round "${ROUND:-1}" \
    --concurrency "${C:-$CONCURRENCY}" --duration "${D:-$DURATION}" --warmup "${W:-$WARMUP}" --threads "$CLIENT_THREADS" \
    --http-url "http://${HTTP:-$HTTP_ADDR}" --grpc-url "http://${GRPC:-$GRPC_ADDR}" \
    --clients "$OUT/clients.txt" --operators "$OUT/operators.txt" --internal-client bench-internal:bench-internal-secret \
    --pid "${GW_NAME:-gateway}=${GW_PID:-$GATEWAY_PID}" --pid "service=${SVC_PID:-$SERVICE_PID}" --out "$OUT/results.jsonl" --wait-idle "$WAIT_IDLE" \
    $( [[ $BACKEND == postgres ]] && echo --cpu-comm postgres ) "$@"
  perf_stop "$scenario-$label"
}

# --- clients (one per provider, and one internal for the gRPC rows) and operators ----------------
# Both servers run as deployed: the gateway signs tokens with this key, the service verifies
# every call's token with its public half; the gRPC rows call as an internal service would.
[[ -s "$OUT/signing-key.pem" ]] || openssl ecparam -name prime256v1 -genkey -noout \
  | openssl pkcs8 -topk8 -nocrypt -out "$OUT/signing-key.pem"
: >"$OUT/clients.txt"; : >"$OUT/operators.txt"
cat >"$OUT/clients.toml" <<TOML
[[clients]]
client_id = "bench-internal"
client_secret_sha256 = "$(sha256 bench-internal-secret)"
scopes = "providers:any tickets:read tickets:write tickets:create"
TOML
for ((p = 0; p < PROVIDERS; p++)); do
  cat >>"$OUT/clients.toml" <<TOML
[[clients]]
client_id = "bench-$p"
client_secret_sha256 = "$(sha256 "bench-secret-$p")"
api_key_sha256 = "$(sha256 "bench-api-key-$p")"
provider_id = "$(provider_uuid $p)"
TOML
  echo "bench-$p bench-secret-$p bench-api-key-$p $(provider_uuid $p)" >>"$OUT/clients.txt"
  for ((o = 0; o < OPERATORS_PER_PROVIDER; o++)); do
    echo "$(provider_uuid $p) $(operator_uuid $((p * 1000 + o)))" >>"$OUT/operators.txt"
  done
done
# Start-service pools: POOL tickets per run (one round), ROUNDS runs per API.
POOL=$(( POOL_RATE * (SEGMENT + ${WARMUP%.*} + 1) ))

# --- the event feed (--events): a fresh database, nothing else ----------------------------------
if [[ $EVENTS == 1 ]]; then
  if [[ $BACKEND == postgres ]]; then
    psql_db postgres -c "DROP DATABASE IF EXISTS $DB_EVENTS" -c "CREATE DATABASE $DB_EVENTS"
    EVENTS_URL=$PG_URL/$DB_EVENTS
  else
    EVENTS_URL="sqlite://$OUT/events.db?mode=rwc"
  fi
  say "events: $SUBSCRIBERS streams, $EVENT_RATE tickets/s for $DURATION s, then $IDLE_STREAMS idle streams ($BACKEND)"
  start_servers "$EVENTS_URL" events
  "$BIN/tickets-bench" events --http-url "http://$HTTP_ADDR" --grpc-url "http://$GRPC_ADDR" \
    --metrics-url "http://$GATEWAY_METRICS_ADDR" --clients "$OUT/clients.txt" \
    --internal-client bench-internal:bench-internal-secret --subscribers "$SUBSCRIBERS" \
    --rate "$EVENT_RATE" --duration "$DURATION" --idle-streams "$IDLE_STREAMS" \
    --streams-per-connection "$STREAMS_PER_CONNECTION" --hold-idle "$HOLD_IDLE" \
    --gateway-pid "$GATEWAY_PID" --service-pid "$SERVICE_PID" --threads "$CLIENT_THREADS" --rounds "${ROUNDS:-3}" --warmup "${WARMUP%.*}" \
    --out "$OUT/events.jsonl" | tee "$OUT/events.md"
  stop_servers
  say "done: $OUT/events.md"
  exit 0
fi

# --- seeding -------------------------------------------------------------------------------------
# Shapes (both backends): $PROVIDERS providers with 8 enabled operators and 2 plain employees each;
# history: in-progress tickets (operator and service start set), oldest, VIN prefix WAU;
# the pending set: $PENDING pending tickets, newest, VIN prefix WVW, created every 7 s;
# pools for start-service, added after the read runs: VIN prefixes RST (REST), GRP (gRPC), PGB (pgbench).

pg_seed_common_sql() { # employees + pending set (identical ids in both databases)
  cat <<SQL
INSERT INTO employees (id, provider_id, given_name, family_name, username, role, is_operator, enabled, updated_at)
SELECT ('c0000000-0000-4000-8000-' || lpad((p * 1000 + o)::text, 12, '0'))::uuid,
       ('b0000000-0000-4000-8000-' || lpad(p::text, 12, '0'))::uuid,
       'Given' || o, 'Family' || p, 'emp' || o || '@provider' || p || '.example',
       CASE WHEN o >= $OPERATORS_PER_PROVIDER THEN 'employee' WHEN o % 4 = 0 THEN 'senior_operator' ELSE 'operator' END,
       o < $OPERATORS_PER_PROVIDER, true, now()
FROM generate_series(0, $PROVIDERS - 1) p, generate_series(0, $OPERATORS_PER_PROVIDER + 1) o;
INSERT INTO tickets (id, provider_id, state, created_at, customer_id, vehicle_model_id, vin, connection_id, outsourced)
SELECT md5('pending-' || g)::uuid,
       ('b0000000-0000-4000-8000-' || lpad((g % $PROVIDERS)::text, 12, '0'))::uuid,
       'pending',
       timestamptz '2026-06-01 00:00:00+00' + g * interval '7 seconds' + (g * 37 % 1000000) * interval '1 microsecond',
       md5('customer-' || (g % 50000))::uuid, g % 4000, 'WVW' || lpad(g::text, 14, '0'),
       CASE WHEN g % 4 = 0 THEN NULL ELSE md5('connection-' || g)::uuid END, false
FROM generate_series(0, $PENDING - 1) g;
SQL
}

pg_history_sql() {
  cat <<SQL
INSERT INTO tickets (id, provider_id, state, created_at, customer_id, vehicle_model_id, vin, connection_id,
                     operator_id, service_started_at, voucher_code, outsourced)
SELECT gen_random_uuid(), ('b0000000-0000-4000-8000-' || lpad((g % $PROVIDERS)::text, 12, '0'))::uuid,
       'in_progress', c, md5('customer-' || (g % 50000))::uuid, g % 4000, 'WAU' || lpad(g::text, 14, '0'),
       CASE WHEN g % 4 = 0 THEN NULL ELSE gen_random_uuid() END,
       ('c0000000-0000-4000-8000-' || lpad(((g % $PROVIDERS) * 1000 + g % $OPERATORS_PER_PROVIDER)::text, 12, '0'))::uuid,
       c + interval '3 minutes', NULL, false
FROM generate_series(0, $HISTORY - 1) g,
     LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + g * (interval '75 seconds' * 1000000 / greatest($HISTORY, 1))
                     + (g * 37 % 1000000) * interval '1 microsecond' AS c) t;
SQL
}

pg_pool_sql() { # $1 prefix (rest|grpc|pgbench), $2 VIN prefix, $3 count
  cat <<SQL
INSERT INTO tickets (id, provider_id, state, created_at, customer_id, vehicle_model_id, vin, connection_id, outsourced)
SELECT md5('pool-$1-' || k)::uuid, ('b0000000-0000-4000-8000-' || lpad((k % $PROVIDERS)::text, 12, '0'))::uuid,
       'pending', timestamptz '2026-09-01 00:00:00+00' + k * interval '1 millisecond',
       md5('customer-' || (k % 50000))::uuid, k % 4000, '$2' || lpad(k::text, 14, '0'), NULL, false
FROM generate_series(0, $3 - 1) k;
SQL
}

pg_dump_ids() { # $1 database, $2 VIN prefix → "provider ticket" lines
  psql_db "$1" -At -F ' ' -c "SELECT provider_id, id FROM tickets WHERE state = 'pending' AND vin LIKE '$2%' ORDER BY ticket_number"
}

seed_postgres() {
  pg_isready -q -d "$PG_URL/postgres" || { echo "PostgreSQL is not reachable at $PG_URL" >&2; exit 1; }
  for db in $DB_FULL $DB_NONE; do
    psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    TICKETS_DATABASE_URL="$PG_URL/$db" RUST_LOG=warn "$BIN/ticket-service" migrate >"$OUT/migrate-$db.log" 2>&1
  done
  say "seeding $DB_NONE: $PENDING pending tickets, no history"
  pg_seed_common_sql | psql_db $DB_NONE
  say "seeding $DB_FULL: $HISTORY non-pending tickets, then the same $PENDING pending"
  pg_history_sql | psql_db $DB_FULL
  pg_seed_common_sql | psql_db $DB_FULL
  for db in $DB_NONE $DB_FULL; do psql_db $db -c "VACUUM (ANALYZE) employees"; settle_postgres $db; done
  pg_dump_ids $DB_FULL WVW >"$OUT/pending-full.txt"
  pg_dump_ids $DB_NONE WVW >"$OUT/pending-none.txt"
  cmp -s "$OUT/pending-full.txt" "$OUT/pending-none.txt" || { echo "the two pending sets differ" >&2; exit 1; }
}

# Numbers every event staged in $1 (in passes of 1,000, as the sequencer takes them).
number_staged() {
  psql_db "$1" -c "DO \$\$ BEGIN LOOP EXIT WHEN ticket_events_number() = 0; COMMIT; END LOOP; END \$\$"
}

# Settles $1 after a bulk load, outside every measured window: numbers the events the load
# staged (the sequencer takes 1,000 per pass, so a load of pools would otherwise be numbered by
# the next rows' passes, on their clock), vacuums and analyzes what the load and the numbering
# left dead (as autovacuum would; this host's PostgreSQL may run without it), and writes every
# dirty page to disk (CHECKPOINT, then sync), so that the kernel's writeback of the load does
# not run during a row.
settle_postgres() {
  number_staged "$1"
  psql_db "$1" -c "VACUUM (ANALYZE) tickets" -c "VACUUM (ANALYZE) ticket_events" -c "CHECKPOINT"
  sync
}

add_pools_postgres() {
  pg_pool_sql rest RST $(( POOL * ROUNDS )) | psql_db $DB_FULL
  pg_pool_sql grpc GRP $(( POOL * ROUNDS )) | psql_db $DB_FULL
  psql_db $DB_FULL -c "ANALYZE tickets"
  pg_dump_ids $DB_FULL RST >"$OUT/pool-rest.txt"
  pg_dump_ids $DB_FULL GRP >"$OUT/pool-grpc.txt"
}

# Cuts pool-rest.txt and pool-grpc.txt into one file per round (POOL lines each).
split_pools() {
  local api r
  for api in rest grpc; do
    for ((r = 1; r <= ROUNDS; r++)); do
      sed -n "$(( (r - 1) * POOL + 1 )),$(( r * POOL ))p" "$OUT/pool-$api.txt" >"$OUT/pool-$api-$r.txt"
    done
  done
}

# SQLite stores UUIDs as 16-byte blobs and timestamps as RFC 3339 text with microseconds and
# +00:00, exactly as the service writes them.
sqlite_values() { # $1 prefix → "(p, X'…')" rows for the temp tables
  local rows=() p
  for ((p = 0; p < PROVIDERS; p++)); do rows+=("($p, X'${1}0000000000040008000$(printf '%012d' "$p")')"); done
  local IFS=,; echo "${rows[*]}"
}
sqlite_common_sql() {
  cat <<SQL
.timeout 30000
CREATE TEMP TABLE bp (p INTEGER PRIMARY KEY, id BLOB);
INSERT INTO bp VALUES $(sqlite_values b);
CREATE TEMP TABLE seq (n INTEGER PRIMARY KEY);
WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < max($PENDING, $HISTORY, $POOL * $ROUNDS, 1000) - 1) INSERT INTO seq SELECT n FROM s;
SQL
}
sqlite_ts() { # SQL expression: RFC 3339 text, µs, +00:00, from epoch seconds $1 and micros $2
  echo "strftime('%Y-%m-%dT%H:%M:%S', $1, 'unixepoch') || printf('.%06d', $2) || '+00:00'"
}
sqlite_employees_sql() {
  local ops=() p o
  for ((p = 0; p < PROVIDERS; p++)); do
    for ((o = 0; o < OPERATORS_PER_PROVIDER + 2; o++)); do
      local role=operator op=1
      (( o % 4 == 0 )) && role=senior_operator
      (( o >= OPERATORS_PER_PROVIDER )) && role=employee op=0
      ops+=("(X'c0000000000040008000$(printf '%012d' $((p * 1000 + o)))', (SELECT id FROM bp WHERE p = $p), 'Given$o', 'Family$p', 'emp$o@provider$p.example', '$role', $op, 1, $(sqlite_ts "strftime('%s','now')" 0))")
    done
  done
  local IFS=,
  echo "INSERT INTO employees (id, provider_id, given_name, family_name, username, role, is_operator, enabled, updated_at) VALUES ${ops[*]};"
}
sqlite_history_sql() {
  cat <<SQL
INSERT INTO tickets (id, provider_id, state, created_at, customer_id, vehicle_model_id, vin, connection_id,
                     operator_id, service_started_at, voucher_code, outsourced)
SELECT randomblob(16), (SELECT id FROM bp WHERE p = n % $PROVIDERS), 'in_progress',
       $(sqlite_ts "1704067200 + n * 75000000 / max($HISTORY, 1)" "n * 37 % 1000000"), randomblob(16), n % 4000,
       'WAU' || printf('%014d', n), CASE WHEN n % 4 = 0 THEN NULL ELSE randomblob(16) END,
       (SELECT id FROM employees e WHERE e.provider_id = (SELECT id FROM bp WHERE p = n % $PROVIDERS) AND e.username = 'emp' || (n % $OPERATORS_PER_PROVIDER) || '@provider' || (n % $PROVIDERS) || '.example'),
       $(sqlite_ts "1704067200 + n * 75000000 / max($HISTORY, 1) + 180" "n * 37 % 1000000"), NULL, 0
FROM seq WHERE n < $HISTORY;
SQL
}
sqlite_pending_sql() { # the pending set, copied from the "none" database so the ids are the same
  cat <<SQL
INSERT INTO tickets (id, provider_id, state, created_at, customer_id, vehicle_model_id, vin, connection_id, outsourced)
SELECT id, provider_id, state, created_at, customer_id, vehicle_model_id, vin, connection_id, outsourced
FROM base.tickets WHERE vin LIKE 'WVW%' ORDER BY ticket_number;
SQL
}
sqlite_new_pending_sql() { # $1 VIN prefix, $2 count, $3 epoch start
  cat <<SQL
INSERT INTO tickets (id, provider_id, state, created_at, customer_id, vehicle_model_id, vin, connection_id, outsourced)
SELECT randomblob(16), (SELECT id FROM bp WHERE p = n % $PROVIDERS), 'pending',
       $(sqlite_ts "$3 + n * 7" "n * 37 % 1000000"), randomblob(16), n % 4000,
       '$1' || printf('%014d', n), CASE WHEN n % 4 = 0 THEN NULL ELSE randomblob(16) END, 0
FROM seq WHERE n < $2;
SQL
}
sqlite_dump_ids() { # $1 file, $2 VIN prefix
  sqlite3 -cmd '.timeout 30000' "$1" "SELECT lower(hex(provider_id)) || ' ' || lower(hex(id)) FROM tickets WHERE state = 'pending' AND vin LIKE '$2%' ORDER BY ticket_number"
}

seed_sqlite() {
  command -v sqlite3 >/dev/null || { echo "sqlite3 is needed (apt-get install -y sqlite3)" >&2; exit 1; }
  local none=$OUT/$DB_NONE.db full=$OUT/$DB_FULL.db
  for f in "$none" "$full"; do
    TICKETS_DATABASE_URL="sqlite://$f?mode=rwc" RUST_LOG=warn "$BIN/ticket-service" migrate >"$OUT/migrate-$(basename "$f").log" 2>&1
  done
  say "seeding $none: $PENDING pending tickets, no history"
  { sqlite_common_sql; echo "BEGIN;"; sqlite_employees_sql; sqlite_new_pending_sql WVW "$PENDING" 1780272000; echo "COMMIT; ANALYZE;"; } | sqlite3 "$none"
  say "seeding $full: $HISTORY non-pending tickets, then the same $PENDING pending"
  { sqlite_common_sql; echo "ATTACH '$none' AS base; BEGIN;"; sqlite_employees_sql; sqlite_history_sql; sqlite_pending_sql; echo "COMMIT; ANALYZE;"; } | sqlite3 "$full"
  sqlite_dump_ids "$full" WVW >"$OUT/pending-full.txt"
  sqlite_dump_ids "$none" WVW >"$OUT/pending-none.txt"
  cmp -s "$OUT/pending-full.txt" "$OUT/pending-none.txt" || { echo "the two pending sets differ" >&2; exit 1; }
}

add_pools_sqlite() {
  local full=$OUT/$DB_FULL.db
  { sqlite_common_sql; echo "BEGIN;"; sqlite_new_pending_sql RST $(( POOL * ROUNDS )) 1788220800; sqlite_new_pending_sql GRP $(( POOL * ROUNDS )) 1788220800; echo "COMMIT; ANALYZE;"; } | sqlite3 "$full"
  sqlite_dump_ids "$full" RST >"$OUT/pool-rest.txt"
  sqlite_dump_ids "$full" GRP >"$OUT/pool-grpc.txt"
}

# About 2,000 positions spread over the history (in-progress tickets), as
# `provider micros ticket_number`: where the cursor rows page from.
dump_cursors() {
  local every=$(( HISTORY / 2000 > 0 ? HISTORY / 2000 : 1 ))
  if [[ $BACKEND == postgres ]]; then
    psql_db $DB_FULL -At -F ' ' -c "SELECT provider_id, (extract(epoch FROM created_at) * 1000000)::bigint, ticket_number FROM tickets WHERE state = 'in_progress' AND vin LIKE 'WAU%' AND ticket_number % $every = 0"
  else
    sqlite3 -separator ' ' "$OUT/$DB_FULL.db" "SELECT hex(provider_id), CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER) * 1000000 + CAST(substr(created_at, 21, 6) AS INTEGER), ticket_number FROM tickets WHERE state = 'in_progress' AND vin LIKE 'WAU%' AND ticket_number % $every = 0"
  fi
}

if [[ $BACKEND == postgres ]]; then
  seed_postgres
  URL_NONE="$PG_URL/$DB_NONE" URL_FULL="$PG_URL/$DB_FULL"
else
  seed_sqlite
  URL_NONE="sqlite://$OUT/$DB_NONE.db?mode=rwc" URL_FULL="sqlite://$OUT/$DB_FULL.db?mode=rwc"
fi
say "seeded"

# The service's own count of the OK answers of an RPC so far (--syscalls, --instructions).
service_calls() { # $1: the RPC's method name → its OK answers so far
  curl -sf "http://$METRICS_ADDR/metrics" \
    | awk -v method="$1" '/^grpc_server_requests_total\{/ && index($0, "/" method "\"") && /"OK"/ {n += $NF} END {printf "%d\n", n}'
}

# The RPC whose calls a row's requests are counted by (`method`), and the load generator's
# input for the row (`input`): pending tickets to get, or the API's start-service pool.
row_target() { # $1: rest-get, grpc-get, rest-start or grpc-start
  case $1 in
    *-get) method=GetPendingTicket input=(--pending "$OUT/pending-full.txt") ;;
    *-start) method=StartService input=(--pool "$OUT/pool-${1%-start}.txt") ;;
  esac
}
# The calls of $method answered between two counts; none fails the run.
calls_between() { # $1, $2: service_calls before and after
  (( $2 > $1 )) || { echo "no $method calls counted in the window" >&2; return 1; }
  echo $(( $2 - $1 ))
}

# --- system calls per request (--syscalls): perf stat on the tracepoints -----------------------
# How often each server enters the kernel per request, at the set concurrency (batching is what
# is measured here): every system call, the reads and writes by kind, the waits, and the context
# switches, over $DURATION s after 5 s of warm-up, divided by the service's own count of the
# calls in that span. Tracepoints cost a little on every system call: read the counts, not the
# throughput, of such a run.
SYSCALL_EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write
SYSCALL_EVENTS+=,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait
SYSCALL_EVENTS+=,syscalls:sys_enter_futex,context-switches
if [[ $SYSCALLS == 1 ]]; then
  POOL=$(( POOL_RATE * (DURATION + 10) ))
  if [[ $BACKEND == postgres ]]; then ROUNDS=1 add_pools_postgres; settle_postgres $DB_FULL
  else ROUNDS=1 add_pools_sqlite; fi
  start_servers "$URL_FULL" syscalls
  report=$OUT/syscalls.md
  {
    echo "# System calls per request ($BACKEND, c=$CONCURRENCY, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo
    echo "| row | server | requests | all | read | recvfrom | write | writev | sendto | epoll_wait | futex | context switches |"
    echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  } >"$report"
  for row in rest-get grpc-get rest-start grpc-start; do
    say "system calls: $row"
    row_target "$row"
    D=$(( ${DURATION%.*} + 10 )) W=0 WAIT_IDLE=0 load "$row" syscalls "${input[@]}" >/dev/null &
    loader=$!
    sleep 5
    before=$(service_calls $method)
    jobs=()
    for who in gateway:$GATEWAY_PID service:$SERVICE_PID; do
      perf stat -x, -e "$SYSCALL_EVENTS" -p "${who#*:}" -o "$OUT/syscalls-$row-${who%%:*}.csv" -- sleep "$DURATION" >/dev/null 2>&1 &
      jobs+=($!)
    done
    wait "${jobs[@]}"
    after=$(service_calls $method)
    pkill -P "$loader" 2>/dev/null || true; wait "$loader" 2>/dev/null || true
    requests=$(calls_between "$before" "$after")
    for who in gateway service; do
      # perf stat -x,: value,unit,event,...; a value of "<not counted>" reads as 0.
      awk -F, -v row="$row" -v who="$who" -v n="$requests" '
        { v[$3] = ($1 ~ /^[0-9]+$/) ? $1 : 0 }
        function per(e) { return sprintf("%.2f", v[e] / n) }
        END {
          printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row, who, n,
            per("raw_syscalls:sys_enter"), per("syscalls:sys_enter_read"), per("syscalls:sys_enter_recvfrom"),
            per("syscalls:sys_enter_write"), per("syscalls:sys_enter_writev"), per("syscalls:sys_enter_sendto"),
            per("syscalls:sys_enter_epoll_wait"), per("syscalls:sys_enter_futex"), per("context-switches")
        }' "$OUT/syscalls-$row-$who.csv" >>"$report"
    done
  done
  stop_servers
  cat "$report"
  say "done: $report"
  exit 0
fi

# --- instructions per request (--instructions): both servers under callgrind -------------------
# Instruction counts do not depend on the host's speed or its other load, so one run shows a
# change's effect that the timed rows cannot separate from the host's drift. One request in
# flight (no batching to vary between runs); each row runs a while before the counters are
# zeroed (connections made, tokens issued and their signatures checked), then for $DURATION s;
# the requests counted are the service's own count of the calls in that span.
if [[ $INSTRUCTIONS == 1 ]]; then
  rm -f "$OUT"/callgrind-*
  # Start-service pools: more than one request in flight under callgrind can take in the rows.
  if [[ $BACKEND == postgres ]]; then POOL=20000 ROUNDS=1 add_pools_postgres; settle_postgres $DB_FULL
  else POOL=20000 ROUNDS=1 add_pools_sqlite; fi
  CALLGRIND=1 READY_TRIES=1200 start_servers "$URL_FULL" instructions
  # The hop row: REST get through the minimal relay (bench/src/hop.rs) in the gateway's place.
  CALLGRIND=1 start_hop
  report=$OUT/instructions.md
  {
    echo "# Instructions per request ($BACKEND, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown))"
    echo
    echo "| row | requests | front process (gateway; the hop in hop-get) Ir / request | service Ir / request |"
    echo "|---|---|---|---|"
  } >"$report"
  for row in rest-get hop-get grpc-get rest-start grpc-start; do
    say "instructions: $row"
    scenario=$row front=gateway:$GATEWAY_PID http=$HTTP_ADDR via=()
    [[ $row == hop-get ]] && scenario=rest-get front=hop:$HOP_PID http=$HOP_ADDR via=(--token-url "http://$HTTP_ADDR")
    row_target "$scenario"
    HTTP=$http C=1 D=$(( ${DURATION%.*} + 30 )) W=0 WAIT_IDLE=0 GW_NAME=${front%%:*} GW_PID=${front#*:} \
      load "$scenario" "instructions-$row" "${input[@]}" "${via[@]}" >/dev/null &
    loader=$!
    sleep 10
    before=$(service_calls $method)
    for pid in ${front#*:} $SERVICE_PID; do callgrind_control -z "$pid" >/dev/null; done
    sleep "$DURATION"
    for who in $front service:$SERVICE_PID; do
      callgrind_control -d "$row" "${who#*:}" >/dev/null
      mv "$(ls -t "$OUT/callgrind-${who%%:*}.${who#*:}".[0-9]* | head -n 1)" "$OUT/callgrind-$row-${who%%:*}.out"
    done
    after=$(service_calls $method)
    pkill -P "$loader" 2>/dev/null || true; wait "$loader" 2>/dev/null || true
    requests=$(calls_between "$before" "$after")
    line="| $row | $requests"
    for who in $front service:$SERVICE_PID; do
      dump=$OUT/callgrind-$row-${who%%:*}.out
      python3 "$ROOT/bench/callgrind_self.py" "$dump" "$requests" --top 80 >"$OUT/instructions-$row-${who%%:*}.txt"
      callgrind_annotate --inclusive=yes --threshold=99 "$dump" 2>/dev/null | cut -c1-220 \
        | awk "NR <= 120" >"$OUT/instructions-$row-${who%%:*}.inclusive.txt"
      total=$(awk '/^summary:/ {print $2}' "$dump")
      line+=" | $(commas $(( total / requests )))"
    done
    echo "$line |" >>"$report"
  done
  kill "$HOP_PID" 2>/dev/null; wait "$HOP_PID" 2>/dev/null || true
  HOP_PID=""
  stop_servers
  cat "$report"
  say "done: $report (per function: $OUT/instructions-*.txt; bench/callgrind_self.py on $OUT/callgrind-*.out)"
  exit 0
fi

# --- runs ----------------------------------------------------------------------------------------
say "full shape: $HISTORY non-pending + $PENDING pending"
start_servers "$URL_FULL" full
C=1 load rest-get latency --pending "$OUT/pending-full.txt"
C=1 load grpc-get latency --pending "$OUT/pending-full.txt"
# The rows a target compares run in interleaved rounds (REST, gRPC; gRPC, REST; ...), so that
# the host's drift over the run hits both sides alike; the report pairs the rounds.
warmup_of() { (( $1 == 1 )) && echo "$WARMUP" || echo "$NEXT_WARMUP"; }
# The rows of round $1 ($2 …) in the order given, reversed in even rounds: the row that runs
# first in one round runs last in the next, so a host that speeds up or slows down over a round
# favours neither side of a comparison.
in_turn() {
  local round=$1 i; shift
  if (( round % 2 == 0 )); then for ((i = $#; i >= 1; i--)); do echo "${!i}"; done; else printf '%s\n' "$@"; fi
}
# PostgreSQL: the reference row joins the get rounds (reference, REST, gRPC, ...); so does the
# hop row, the same get through a minimal relay instead of the gateway.
[[ $BACKEND == postgres ]] && start_reference "$URL_FULL"
start_hop
for ((r = 1; r <= ROUNDS; r++)); do
  for row in $(in_turn $r reference rest hop grpc); do
    case $row in
      reference)
        [[ -n $REFERENCE_PID ]] || continue
        ROUND=$r D=$SEGMENT W=$(warmup_of $r) HTTP=$REFERENCE_ADDR GW_NAME=reference GW_PID=$REFERENCE_PID \
          load rest-get reference --pending "$OUT/pending-full.txt" --token-url "http://$HTTP_ADDR" ;;
      rest) ROUND=$r D=$SEGMENT W=$(warmup_of $r) load rest-get full --pending "$OUT/pending-full.txt" ;;
      hop)
        ROUND=$r D=$SEGMENT W=$(warmup_of $r) HTTP=$HOP_ADDR GW_NAME=hop GW_PID=$HOP_PID \
          load rest-get hop --pending "$OUT/pending-full.txt" --token-url "http://$HTTP_ADDR" ;;
      grpc) ROUND=$r D=$SEGMENT W=$(warmup_of $r) load grpc-get full --pending "$OUT/pending-full.txt" ;;
    esac
  done
done
if [[ -n $REFERENCE_PID ]]; then
  kill "$REFERENCE_PID" 2>/dev/null; wait "$REFERENCE_PID" 2>/dev/null || true
  REFERENCE_PID=""
fi
kill "$HOP_PID" 2>/dev/null; wait "$HOP_PID" 2>/dev/null || true
HOP_PID=""
# The Redis rate limiter's cost: REST get through a gateway counting in Redis against the same
# get with limits off, in interleaved rounds.
if redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG; then
  start_limited_gateway
  for ((r = 1; r <= ROUNDS; r++)); do
    for row in $(in_turn $r off redis); do
      if [[ $row == off ]]; then
        ROUND=$r D=$SEGMENT W=$(warmup_of $r) load rest-get limits-off --pending "$OUT/pending-full.txt"
      else
        ROUND=$r D=$SEGMENT W=$(warmup_of $r) HTTP=$LIMITED_HTTP_ADDR GW_PID=$LIMITED_PID \
          load rest-get redis-limits --pending "$OUT/pending-full.txt"
      fi
    done
  done
  kill "$LIMITED_PID" 2>/dev/null; wait "$LIMITED_PID" 2>/dev/null || true
else
  say "no Redis answers at $REDIS_URL: skipping the rate-limiter row"
fi
# Partner HTTP: a page of 100 as identity / gzip / br / zstd; and the in-progress list (the
# history) by cursor at a random depth against its first page (and at a random offset, for
# comparison), in interleaved rounds.
say "partner HTTP rows: compression, cursor depth"
dump_cursors >"$OUT/cursors.txt"
HISTORY_PER_PROVIDER=$(( HISTORY / PROVIDERS ))
for ((r = 1; r <= ROUNDS; r++)); do
  for enc in $(in_turn $r identity gzip br zstd); do
    ROUND=$r D=$SEGMENT W=$(warmup_of $r) load rest-list "enc-$enc" --pending "$OUT/pending-full.txt" \
      --list-limit 100 --accept-encoding "$enc"
  done
  for row in $(in_turn $r first deep offset-deep); do
    case $row in
      first) ROUND=$r D=$SEGMENT W=$(warmup_of $r) load rest-history first ;;
      deep) ROUND=$r D=$SEGMENT W=$(warmup_of $r) load rest-history deep --cursors "$OUT/cursors.txt" ;;
      offset-deep) ROUND=$r D=$SEGMENT W=$(warmup_of $r) load rest-history offset-deep --history-offsets "$HISTORY_PER_PROVIDER" ;;
    esac
  done
done
# List cost against history: the same pending set with and without the history, each on its
# own pair of servers, both up, in interleaved rounds (REST with history, without, gRPC with,
# without; the other way round in even rounds).
say "list rows: $(commas "$HISTORY") non-pending against none, $ROUNDS interleaved round(s)"
start_baseline_servers "$URL_NONE"
for ((r = 1; r <= ROUNDS; r++)); do
  for row in $(in_turn $r rest:full rest:none grpc:full grpc:none); do
    api=${row%%:*}
    if [[ $row == *:full ]]; then
      ROUND=$r D=$SEGMENT W=$(warmup_of $r) load "$api-list" full --pending "$OUT/pending-full.txt"
    else
      ROUND=$r D=$SEGMENT W=$(warmup_of $r) HTTP=$BASE_HTTP_ADDR GRPC=$BASE_GRPC_ADDR \
        GW_PID=$BASE_GATEWAY_PID SVC_PID=$BASE_SERVICE_PID load "$api-list" none --pending "$OUT/pending-none.txt"
    fi
  done
done
stop_baseline_servers
say "setting aside $POOL pending tickets for each start-service run ($ROUNDS per API)"
if [[ $BACKEND == postgres ]]; then add_pools_postgres; else add_pools_sqlite; fi
split_pools

PGBENCH_ARGS=()
if [[ $BACKEND == postgres ]]; then
  # The service's start-service statement, as raw SQL: the conditional UPDATE with the operator
  # check as a subquery, RETURNING every column. Each transaction takes the next pool ticket
  # (k = offset + client + clients × i), so no ticket is hit twice; the warm-up and each round
  # take disjoint ranges of k (sized for up to twice --pool-rate transactions per second), so
  # no ticket is tried twice even when some clients run ahead of others.
  PG_RATE=$(( POOL_RATE * 2 ))
  PG_WARM_POOL=$(( PG_RATE * (${WARMUP%.*} + 1) ))
  PG_ROUND_POOL=$(( PG_RATE * (SEGMENT + 1) ))
  PG_POOL=$(( PG_WARM_POOL + ROUNDS * PG_ROUND_POOL ))
  say "pgbench baseline: $PG_POOL pending tickets set aside"
  pg_pool_sql pgbench PGB "$PG_POOL" | psql_db $DB_FULL
  settle_postgres $DB_FULL
  cat >"$OUT/start-service.pgbench.sql" <<'SQL'
\set i :i + 1
\set k :off + :client_id + :nc * :i
\set p :k % :np
\set opn :p * 1000 + random(0, :ops - 1)
UPDATE tickets SET state = 'in_progress',
       operator_id = ('c0000000-0000-4000-8000-' || lpad(:opn::text, 12, '0'))::uuid,
       service_started_at = now()
WHERE provider_id = ('b0000000-0000-4000-8000-' || lpad(:p::text, 12, '0'))::uuid
  AND state = 'pending'
  AND id = md5('pool-pgbench-' || :k)::uuid
  AND EXISTS (SELECT 1 FROM employees
              WHERE id = ('c0000000-0000-4000-8000-' || lpad(:opn::text, 12, '0'))::uuid
                AND provider_id = ('b0000000-0000-4000-8000-' || lpad(:p::text, 12, '0'))::uuid
                AND is_operator = true AND enabled = true)
RETURNING ticket_number, id, provider_id, state, created_at, customer_id, vehicle_model_id, vin,
          connection_id, operator_id, service_started_at, voucher_code, outsourced;
SQL
  pgbench_run() { # $1 seconds, $2 offset
    pgbench -n -M prepared -c "$DB_CONNECTIONS" -j 1 -T "$1" -D i=-1 -D "off=$2" -D "nc=$DB_CONNECTIONS" \
      -D "np=$PROVIDERS" -D "ops=$OPERATORS_PER_PROVIDER" -f "$OUT/start-service.pgbench.sql" "$PG_URL/$DB_FULL"
  }
  wait_quiet
  if (( ${WARMUP%.*} > 0 )); then
    pgbench_run "${WARMUP%.*}" 0 >"$OUT/pgbench-warmup.log" 2>&1 || { cat "$OUT/pgbench-warmup.log" >&2; exit 1; }
    number_staged $DB_FULL >/dev/null
  fi
fi

# Start-service in rounds: REST, gRPC and (PostgreSQL) pgbench in turn (the other way round in
# even rounds), each round on fresh pool tickets. The servers stay up, idle, while pgbench runs.
TX_TOTAL=0
for ((r = 1; r <= ROUNDS; r++)); do
  for row in $(in_turn $r rest grpc pgbench); do
    case $row in
      rest) ROUND=$r D=$SEGMENT W=$(warmup_of $r) load rest-start full --pool "$OUT/pool-rest-$r.txt" ;;
      grpc) ROUND=$r D=$SEGMENT W=$(warmup_of $r) load grpc-start full --pool "$OUT/pool-grpc-$r.txt" ;;
      pgbench)
        [[ $BACKEND == postgres ]] || continue
        wait_quiet
        log=$OUT/pgbench-$r.log
        pgbench_run "$SEGMENT" $(( PG_WARM_POOL + (r - 1) * PG_ROUND_POOL )) >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
        TPS=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$log")
        LAT=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$log")
        TX=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$log")
        TX_TOTAL=$(( TX_TOTAL + TX ))
        say "pgbench round $r: $TPS tps, $TX transactions"
        # pgbench's updates staged an event each (the trigger): number them now, not in the
        # next row's window, where the service's hub would otherwise do it on that row's clock.
        number_staged $DB_FULL >/dev/null
        PGBENCH_ARGS+=(--pgbench-tps "$TPS" --pgbench-latency-ms "$LAT") ;;
    esac
  done
done
stop_servers
if [[ $BACKEND == postgres ]]; then
  MOVED=$(psql_db $DB_FULL -At -c "SELECT count(*) FROM tickets WHERE vin LIKE 'PGB%' AND state = 'in_progress' AND substr(vin, 4)::bigint >= $PG_WARM_POOL")
  say "pgbench: $TX_TOTAL transactions in $ROUNDS rounds, $MOVED rows moved"
  PGBENCH_ARGS+=(--pgbench-clients "$DB_CONNECTIONS" --pgbench-transactions "$TX_TOTAL" --pgbench-updated "$MOVED")
fi

# --- report --------------------------------------------------------------------------------------
if [[ -n ${BENCH_COMMIT:-} ]]; then commit=$BENCH_COMMIT
else
  commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$ROOT" diff --quiet HEAD -- services gateway src proto Cargo.toml 2>/dev/null || commit="$commit (+ uncommitted changes)"
fi
cpu=$(lscpu 2>/dev/null | sed -nE 's/^Model name: +//p' | head -n1)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
INFO=(
  "machine: ${cpu:-unknown CPU}, $(nproc) cores, $mem RAM, Linux $(uname -r); load generator, gateway, service and database share these cores"
  "build: release (\`[profile.release]\` of the workspace), $(rustc --version 2>/dev/null || echo rustc), commit $commit"
  "data: $PROVIDERS providers, $OPERATORS_PER_PROVIDER operators each; $HISTORY in-progress (non-pending) + $PENDING pending tickets; start-service pools of $POOL tickets per run added afterwards"
  "rounds: get (c=$CONCURRENCY) and start-service run in $ROUNDS interleaved round(s) of $SEGMENT s (warm-up $WARMUP s, then $NEXT_WARMUP s), REST then gRPC$( [[ $BACKEND == postgres ]] && echo ' then pgbench' || true); their req/s and latencies are medians over the rounds, their ratios medians of the rounds' ratios"
  "service: TICKETS_DB_MAX_CONNECTIONS=$DB_CONNECTIONS; gateway: rate limit off, one runtime thread (GATEWAY_WORKER_THREADS=1, as deployed), one HTTP/2 channel to the service; both: RUST_LOG=$LOG_FILTER LOG_FORMAT=$LOG_FORMAT (as deployed), traces off; REST over HTTP/1.1 keep-alive; gRPC scenarios over one HTTP/2 connection"
)
if [[ $BACKEND == postgres ]]; then
  INFO+=("database: $(psql_db postgres -At -c 'SHOW server_version' | cut -d' ' -f1) on 127.0.0.1, shared_buffers $(psql_db postgres -At -c 'SHOW shared_buffers'), synchronous_commit $(psql_db postgres -At -c 'SHOW synchronous_commit'), fsync $(psql_db postgres -At -c 'SHOW fsync')")
  TITLE="PostgreSQL: $(commas "$HISTORY") non-pending + $(commas "$PENDING") pending tickets, $PROVIDERS providers"
else
  INFO+=("database: SQLite (the service's bundled library), WAL, synchronous=NORMAL, file under $OUT")
  TITLE="SQLite: $(commas "$HISTORY") non-pending + $(commas "$PENDING") pending tickets, $PROVIDERS providers"
fi
command="bench/run.sh"
[[ $BACKEND == sqlite ]] && command+=" --sqlite"
[[ $QUICK == 1 ]] && command+=" --quick"
INFO+=("run: $(date -u +%Y-%m-%dT%H:%MZ), $((SECONDS - T0)) s including seeding; command: \`$command\` (duration $DURATION s, warm-up $WARMUP s, concurrency $CONCURRENCY, rounds $ROUNDS)")
INFO_ARGS=()
for line in "${INFO[@]}"; do INFO_ARGS+=(--info "$line"); done
"$BIN/tickets-bench" report --results "$OUT/results.jsonl" --title "$TITLE" --history "$HISTORY" \
  "${INFO_ARGS[@]}" "${PGBENCH_ARGS[@]}" >"$OUT/report.md"
say "done; report in $OUT/report.md"
cat "$OUT/report.md"
