#!/usr/bin/env bash
# What a pass of the event sequencer costs PostgreSQL (run by hand): pgbench inserts pending
# tickets (one event staged each, by the trigger) from --writers connections, and in every round
# runs three scripts in turn, each for --seconds:
#   insert      the insert alone;
#   pass/10     the insert, and a numbering pass (ticket_events_number()) in one transaction of
#               ten on average;
#   pass/50     the same, one transaction of fifty.
# PostgreSQL's CPU (perf stat's task-clock of every postgres process and the backends they
# fork) per transaction, minus the insert's, is what the passes add: with a fixed cost F per
# pass and V per event numbered, pass/10 adds F/10 + V and pass/50 adds F/50 + V, so
# F = (add10 - add50) × 12.5 and V = add10 - F/10. Prints each round, and F and V from the
# medians of the three scripts' costs (one round's derived figures are as noisy as its host).
# See bench/README.md, "What a sequencer pass costs".
#
#   bench/sequencer-cost.sh                  # 3 rounds of 8 s per script, 8 writers
#   bench/sequencer-cost.sh --rounds 5 --seconds 10 --no-build
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=3 SECONDS_EACH=8 WRITERS=8 BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift ;;
    --seconds) SECONDS_EACH=$2; shift ;;
    --writers) WRITERS=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
DB=tickets_sequencer_cost
source "$ROOT/bench/sequencer-common.sh"
command -v perf >/dev/null || { echo "needs perf (apt-get install -y linux-perf)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; psql "$PG_URL/postgres" -X -q -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT

fresh_database

cat >"$WORK/insert.sql" <<'SQL'
INSERT INTO tickets (id, provider_id, state, created_at, customer_id, vehicle_model_id, vin, connection_id, outsourced)
VALUES (gen_random_uuid(), 'b0000000-0000-4000-8000-000000000001', 'pending', now(), gen_random_uuid(), 1,
        'WVW00000000000001', NULL, false);
SQL
for every in 10 50; do
  cat "$WORK/insert.sql" - >"$WORK/pass$every.sql" <<SQL
\set r random(1, $every)
\if :r = 1
SELECT ticket_events_number();
\endif
SQL
done

number_staged() {
  psql "$PG_URL/$DB" -X -q -c "DO \$\$ BEGIN LOOP EXIT WHEN ticket_events_number() = 0; COMMIT; END LOOP; END \$\$"
}

# PostgreSQL's CPU in µs per transaction of script $1 (and the transactions), on stdout.
measure() {
  local script=$1 pids n ms
  pids=$(pgrep -d, -u postgres postgres)
  perf stat -x, -e task-clock -p "$pids" -o "$WORK/stat" -- sleep "$SECONDS_EACH" &
  n=$("$PGBENCH" -n -M prepared -c "$WRITERS" -j 1 -T "$SECONDS_EACH" -f "$WORK/$script.sql" "$PG_URL/$DB" 2>&1 \
    | sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p')
  wait
  ms=$(awk -F, '/task-clock/ {print $1}' "$WORK/stat")
  number_staged # outside the window: what the script staged is not the next one's work
  python3 -c "print(round($ms * 1000 / $n), $n)"
}

printf '| round | insert µs/tx | pass/10 µs/tx | pass/50 µs/tx | fixed per pass µs | per event µs |\n|---|--:|--:|--:|--:|--:|\n'
: >"$WORK/rounds"
for ((r = 1; r <= ROUNDS; r++)); do
  read -r insert _ < <(measure insert)
  read -r p10 _ < <(measure pass10)
  read -r p50 _ < <(measure pass50)
  python3 - "$r" "$insert" "$p10" "$p50" <<'PY' | tee -a "$WORK/rounds"
import sys
r, insert, p10, p50 = sys.argv[1], *map(float, sys.argv[2:])
add10, add50 = p10 - insert, p50 - insert
fixed = (add10 - add50) * 12.5
print(f"| {r} | {insert:.0f} | {p10:.0f} | {p50:.0f} | {fixed:.0f} | {add10 - fixed / 10:.0f} |")
PY
done
python3 - "$WORK/rounds" <<'PY'
import statistics, sys
rows = [[float(x) for x in line.strip('|\n').split('|')[1:4]] for line in open(sys.argv[1])]
insert, p10, p50 = (statistics.median(c) for c in zip(*rows))
fixed = ((p10 - insert) - (p50 - insert)) * 12.5
print(f"| median (of the three columns; the last two from them) | {insert:.0f} | {p10:.0f} | {p50:.0f} | {fixed:.0f} | {p10 - insert - fixed / 10:.0f} |")
PY
