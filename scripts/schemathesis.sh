#!/usr/bin/env bash
# Property-based API testing with Schemathesis (https://schemathesis.io).
#
# Starts `switchboard serve` on a free loopback port with a fresh temporary
# SQLite database seeded with the demo data, mints an admin token for tenant
# 1 holding every permission, and runs `st run` against the server's own
# `/openapi.json` with every check (no 5xx, documented status codes, content
# types, response schemas and headers, negative data rejected, positive data
# accepted, auth not ignored, ...) and every phase (examples, coverage,
# fuzzing, stateful). Prints Schemathesis' summary, stops the server, and
# exits non-zero when any check failed.
#
# Usage: scripts/schemathesis.sh [extra `st run` options...]
#
# Environment:
#   SWITCHBOARD   the binary (default target/debug/switchboard, built with
#                 `cargo build` when missing)
#   ST            the Schemathesis CLI (default `st` on PATH; install it
#                 with `pip install schemathesis`; written for 4.x)
#   MAX_EXAMPLES  test cases per operation and phase (default 100)
#   SEED          random seed, for a reproducible run (default: random)
#   WORKERS       concurrent workers (default 2)
#   REPORT_DIR    where the JUnit report and the NDJSON event log go
#                 (default: a temporary folder, removed at exit)
#
# Schemathesis runs in target/schemathesis, where it keeps the failures it
# found (.schemathesis/) and replays them first on the next run.
#
# Example: MAX_EXAMPLES=300 SEED=1 scripts/schemathesis.sh --max-failures 20
set -euo pipefail
cd "$(dirname "$0")/.."

ST=${ST:-st}
MAX_EXAMPLES=${MAX_EXAMPLES:-100}
WORKERS=${WORKERS:-2}
BIN=${SWITCHBOARD:-target/debug/switchboard}

command -v "$ST" >/dev/null || {
    echo "needs Schemathesis: pip install schemathesis (or set ST=/path/to/st)" >&2
    exit 2
}
# Schemathesis runs from another folder: a relative path must still work.
case $ST in */*) ST=$(cd "$(dirname "$ST")" && pwd)/$(basename "$ST") ;; esac
if [ ! -x "$BIN" ]; then
    if [ -n "${SWITCHBOARD:-}" ]; then
        echo "SWITCHBOARD=$BIN is not an executable" >&2
        exit 2
    fi
    # Builds are serialised with the other users of this checkout.
    flock /tmp/sb-cargo.lock cargo build -p switchboard
fi

WORK=$(mktemp -d)
PID=
cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
REPORT_DIR=${REPORT_DIR:-$WORK/report}
mkdir -p "$REPORT_DIR" target/schemathesis
REPORT_DIR=$(cd "$REPORT_DIR" && pwd)

export CHATBOT_DATABASE_URL="sqlite://$WORK/schemathesis.db?mode=rwc"
export CHATBOT_JWT_SECRET="schemathesis-secret-0123456789"
export CHATBOT_MASTER_KEY="schemathesis-master-key-0123456789"
export CHATBOT_LOG=${CHATBOT_LOG:-warn}

# A free port: bind port 0, read what the kernel chose, release it.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE="http://127.0.0.1:$PORT"

"$BIN" demo-data >/dev/null
"$BIN" serve --addr "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do
    curl -sf "$BASE/readyz" >/dev/null 2>&1 && break
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "the server exited during start-up:" >&2
        cat "$WORK/server.log" >&2
        exit 1
    fi
    sleep 0.2
done
curl -sf "$BASE/readyz" >/dev/null || {
    echo "the server did not become ready on $BASE:" >&2
    cat "$WORK/server.log" >&2
    exit 1
}

TOKEN=$("$BIN" token --user schemathesis --tenant 1 --role admin \
    --permissions billing_read,customer_read,network_read,customer_write,billing_write \
    --ttl 1h | tail -n1)

# Pending actions for confirm and cancel: random ids only ever reach their
# 404 branch, so some real ones are made first (queries that propose a
# change) and offered to Schemathesis as a dictionary for the `id` path
# parameter. A confirmed or cancelled id then answers 409, which those two
# operations document.
ACTIONS=()
for i in $(seq 1 "${ACTIONS_PER_KIND:-20}"); do
    for text in "open a ticket for KLM204: no internet ($i)" \
        "generate an invoice for ABC123" \
        "update the email of ZTR991 to agent$i@example.com"; do
        id=$(curl -sf "$BASE/api/v1/chatbot/query" -H "Authorization: Bearer $TOKEN" \
            -H 'Content-Type: application/json' \
            -d "$(python3 -c 'import json, sys; print(json.dumps({"text": sys.argv[1]}))' "$text")" |
            python3 -c 'import json, sys; print((json.load(sys.stdin).get("pending_action") or {}).get("action_id", ""))')
        [ -n "$id" ] && ACTIONS+=("$id")
    done
done
if [ "${#ACTIONS[@]}" -eq 0 ]; then
    echo "no query proposed an action: confirm and cancel cannot be reached" >&2
    exit 1
fi
echo "pending actions made for confirm/cancel: ${#ACTIONS[@]}"
ACTION_LIST=$(printf '"%s", ' "${ACTIONS[@]}")

cat >"$WORK/schemathesis.toml" <<TOML
[dictionaries.actions]
values = [${ACTION_LIST%, }]

# Half the cases use a real pending action's id (the first try on one is
# executed or cancelled; later ones are 409), the rest are generated.
[[operations]]
include-path-regex = "^/api/v1/chatbot/actions/"
parameters = { "path.id" = { dictionary = "actions", probability = 0.5 } }
TOML

# Two documented refusals depend on data or on two fields at once, which a
# schema cannot state; only there may a schema-valid request get 422
# (positive_data_acceptance). Every other check stays as it is.
cat >>"$WORK/schemathesis.toml" <<'TOML'
# `ai_service` must name one of the tenant's configurations (or be
# `embedded`): an unknown name is 422.
[[operations]]
include-path = "/api/v1/chatbot/query"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429", "5xx"]

# `from` must be before `to`, and the window at most 31 days: otherwise 422.
[[operations]]
include-path = "/api/v1/chatbot/analytics"
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429", "5xx"]
TOML

echo "Schemathesis $("$ST" --version | awk '{print $NF}') against $BASE/openapi.json ($BIN)"
args=(
    --config-file "$WORK/schemathesis.toml"
    run "$BASE/openapi.json"
    -H "Authorization: Bearer $TOKEN"
    --checks all
    --max-examples "$MAX_EXAMPLES"
    --workers "$WORKERS"
    --request-timeout 30
    --report junit,ndjson
    --report-dir "$REPORT_DIR"
    --no-color
)
if [ -n "${SEED:-}" ]; then
    args+=(--seed "$SEED")
fi
status=0
(cd target/schemathesis && "$ST" "${args[@]}" "$@") || status=$?

if [ "$status" -ne 0 ]; then
    echo
    echo "Schemathesis failed (exit $status); server log (last 40 lines):"
    tail -n 40 "$WORK/server.log"
fi
exit "$status"
