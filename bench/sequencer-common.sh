# Shared by bench/sequencer-cost.sh and bench/sequencer-race.sh (sourced, after their options
# are parsed): the database URL, the release binary (built unless BUILD=0), pgbench, and
# `fresh_database`, which drops and creates $DB and migrates it.
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
[[ $BUILD == 1 ]] && cargo build --release -q -p ticket-service
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -n 1)
[[ -x $PGBENCH ]] || { echo "pgbench not found" >&2; exit 1; }

fresh_database() {
  PGOPTIONS='-c client_min_messages=warning' psql "$PG_URL/postgres" -X -q -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  TICKETS_DATABASE_URL="$PG_URL/$DB" RUST_LOG=warn "$BIN/ticket-service" migrate
}
