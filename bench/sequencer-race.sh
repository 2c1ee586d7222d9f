#!/usr/bin/env bash
# Writers racing the event sequencer (PostgreSQL), run by hand: in each run, pgbench inserts
# pending tickets from --writers connections while one more connection runs numbering passes
# back to back; then passes run until one numbers nothing, and the run counts the events still
# staged (never numbered: stranded below the sequencer's floor). Exits 1 when any run stranded
# one. See bench/README.md, "The lost tail".
#
#   bench/sequencer-race.sh                  # 10 runs of 10 s, 8 writers, release binary
#   bench/sequencer-race.sh --runs 3 --seconds 5 --no-build
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=10 SECONDS_EACH=10 WRITERS=8 BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS=$2; shift ;;
    --seconds) SECONDS_EACH=$2; shift ;;
    --writers) WRITERS=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
DB=tickets_sequencer_race
source "$ROOT/bench/sequencer-common.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/create.sql" <<'SQL'
INSERT INTO tickets (id, provider_id, state, created_at, customer_id, vehicle_model_id, vin, outsourced)
VALUES (gen_random_uuid(), 'b0000000-0000-4000-8000-000000000000', 'pending', now(), gen_random_uuid(), 1, '1HGCM82633A004352', false);
SQL
echo "SELECT ticket_events_number();" >"$WORK/number.sql"

failed=0
for ((run = 1; run <= RUNS; run++)); do
  fresh_database
  "$PGBENCH" -n -c "$WRITERS" -j 2 -T "$SECONDS_EACH" -f "$WORK/create.sql" "$PG_URL/$DB" >"$WORK/writers.log" 2>&1 &
  writers=$!
  "$PGBENCH" -n -c 1 -T "$SECONDS_EACH" -f "$WORK/number.sql" "$PG_URL/$DB" >"$WORK/sequencer.log" 2>&1
  wait "$writers" || { cat "$WORK/writers.log" >&2; exit 1; }
  psql -q "$PG_URL/$DB" -c "DO \$\$ BEGIN LOOP EXIT WHEN ticket_events_number() = 0; COMMIT; END LOOP; END \$\$"
  read -r stranded events < <(psql -qAt -F ' ' "$PG_URL/$DB" -c "SELECT count(*) FILTER (WHERE id IS NULL), count(*) FROM ticket_events")
  passes=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$WORK/sequencer.log")
  echo "run $run: $events events, $passes numbering passes, $stranded stranded"
  (( stranded == 0 )) || failed=1
done
psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB"
exit $failed
