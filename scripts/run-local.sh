#!/usr/bin/env bash
# Starts the whole system locally on the embedded default: the ticket service on SQLite with the
# demo data, and the REST gateway in front of it, with the demo clients configured. The gateway
# signs tokens with .local/signing-key.pem (made once with openssl); the service verifies every
# call's token with the same key's public half.
# Ctrl-C stops both. State lives in .local/ (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."

GRPC_ADDR=${TICKETS_GRPC_ADDR:-127.0.0.1:50051}
HTTP_ADDR=${GATEWAY_HTTP_ADDR:-127.0.0.1:8080}
METRICS_ADDR=${TICKETS_METRICS_ADDR:-127.0.0.1:9464}
STATE=.local
mkdir -p "$STATE"

echo "==> building (first run compiles everything; later runs take seconds)"
cargo build --quiet --bins
BIN=${CARGO_TARGET_DIR:-target}/debug

if [[ ! -s "$STATE/signing-key.pem" ]]; then
  echo "==> making the gateway's signing key ($STATE/signing-key.pem)"
  openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$STATE/signing-key.pem"
fi

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
cat > "$STATE/clients.toml" <<TOML
# The demo partner: secret "demo-secret", API key "demo-api-key" (only their hashes are stored).
[[clients]]
client_id = "demo"
client_secret_sha256 = "$(sha256 demo-secret)"
api_key_sha256 = "$(sha256 demo-api-key)"
provider_id = "6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

# A demo internal service (secret "demo-internal-secret"): any provider, gRPC only.
[[clients]]
client_id = "demo-internal"
client_secret_sha256 = "$(sha256 demo-internal-secret)"
scopes = "providers:any tickets:read tickets:write tickets:create employees:write"
TOML

export TICKETS_DATABASE_URL="sqlite://$STATE/tickets.db?mode=rwc"
echo "==> seeding the demo data ($TICKETS_DATABASE_URL)"
"$BIN/ticket-service" seed-demo

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

TICKETS_GRPC_ADDR=$GRPC_ADDR TICKETS_METRICS_ADDR=$METRICS_ADDR \
  TICKETS_TOKEN_PUBLIC_KEY_FILE="$STATE/signing-key.pem" \
  "$BIN/ticket-service" >"$STATE/ticket-service.log" 2>&1 &
pids+=($!)
GATEWAY_HTTP_ADDR=$HTTP_ADDR GATEWAY_TICKET_SERVICE_URL="http://$GRPC_ADDR" \
  GATEWAY_CREDENTIALS_FILE="$STATE/clients.toml" GATEWAY_SIGNING_KEY_FILE="$STATE/signing-key.pem" \
  "$BIN/ticket-gateway" >"$STATE/ticket-gateway.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  if curl -sf "http://$HTTP_ADDR/readyz" >/dev/null 2>&1; then break; fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a server exited; see $STATE/*.log" >&2; tail -n 20 "$STATE"/*.log >&2; exit 1; }
  done
  sleep 0.1
done
curl -sf "http://$HTTP_ADDR/readyz" >/dev/null || { echo "not ready; see $STATE/*.log" >&2; exit 1; }

cat <<TXT

ticket-service  gRPC     $GRPC_ADDR      (log: $STATE/ticket-service.log)
ticket-gateway  REST     http://$HTTP_ADDR  (log: $STATE/ticket-gateway.log)
OpenAPI                  http://$HTTP_ADDR/v2/openapi.json

Try it (copy-paste):

  TOKEN=\$(curl -s -X POST http://$HTTP_ADDR/oauth2/token \\
    -d grant_type=client_credentials -d client_id=demo -d client_secret=demo-secret \\
    | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s "http://$HTTP_ADDR/v2/tickets/pending-tickets?limit=2" \\
    -H "Authorization: Bearer \$TOKEN" -H "x-api-key: demo-api-key"
  TICKET=\$(curl -s "http://$HTTP_ADDR/v2/tickets/pending-tickets?limit=1" \\
    -H "Authorization: Bearer \$TOKEN" -H "x-api-key: demo-api-key" \\
    | sed -E 's/.*"result":\[\{"id":"([^"]+)".*/\1/')
  curl -si -X PATCH "http://$HTTP_ADDR/v2/tickets/pending-tickets/\$TICKET" \\
    -H "Authorization: Bearer \$TOKEN" -H "x-api-key: demo-api-key" \\
    -H 'Content-Type: application/json' \\
    -d '{"transition":{"type":"start-service","operator_id":"0a6e1c52-7b8d-4f10-9c2e-3d4f5a6b7c01"}}'

As an internal service, straight to gRPC (grpcurl, reflection on; a token first):

  INTERNAL=\$(curl -s -X POST http://$HTTP_ADDR/oauth2/token \\
    -d grant_type=client_credentials -d client_id=demo-internal -d client_secret=demo-internal-secret \\
    | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  grpcurl -plaintext -H "authorization: Bearer \$INTERNAL" \\
    -H 'x-provider-id: 6f1b2a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b' \\
    -d '{"limit": 2}' $GRPC_ADDR tickets.v2.TicketService/ListPendingTickets

Ctrl-C stops both servers.
TXT
wait -n "${pids[@]}"
