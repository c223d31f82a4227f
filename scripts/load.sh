#!/usr/bin/env bash
# Load test on loopback against a release build: /healthz and
# /api/v1/chatbot/query (a mix of demo questions, valid token), 32
# connections each, and prints req/s, their ratio, latency percentiles and
# the server's CPU time per query.
# Needs wrk (apt-get install wrk). Usage: [SWITCHBOARD_BIN=...] scripts/load.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 2; }
# SWITCHBOARD_BIN measures another build (e.g. an older commit's, for A/B).
BIN=${SWITCHBOARD_BIN:-./target/release/switchboard}
[ -x "$BIN" ] || cargo build --release
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export CHATBOT_DATABASE_URL="sqlite://$WORK/load.db?mode=rwc"
export CHATBOT_JWT_SECRET="load-test-secret-0123456789"
export CHATBOT_LOG=warn
PORT=18080
"$BIN" demo-data >/dev/null
START=$(date +%s.%N)
"$BIN" serve --addr "127.0.0.1:$PORT" &
PID=$!
for _ in $(seq 1 1000); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.01; done
READY=$(date +%s.%N)
TOKEN=$("$BIN" token --user load --tenant 1 --role support_agent \
    --permissions billing_read,customer_read,network_read --ttl 1h | tail -n1)
cat > "$WORK/query.lua" <<LUA
local questions = {
  "Show me billing information for customer ABC123",
  "any outages in the north?",
  "how much does KLM204 owe",
  "what plan is ZTR991 on",
  "top 5 customers",
  "is QWE555 online",
  "network health in the east",
  "open tickets for ABC123",
}
local i = 0
request = function()
  i = i + 1
  local body = '{"text": "' .. questions[(i % #questions) + 1] .. '"}'
  return wrk.format("POST", "/api/v1/chatbot/query",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $TOKEN" }, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA
cat > "$WORK/plain.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
LUA
health=$(wrk -t2 -c32 -d"${DURATION}s" -s "$WORK/plain.lua" "http://127.0.0.1:$PORT/healthz" | grep RESULT)
# The server's own CPU time (user and system, in clock ticks) around the
# query run: CPU per query drifts less with the machine's speed than req/s.
cpu_ticks() { awk '{print $14, $15}' "/proc/$PID/stat"; }
read -r user0 sys0 < <(cpu_ticks)
query=$(wrk -t2 -c32 -d"${DURATION}s" -s "$WORK/query.lua" "http://127.0.0.1:$PORT/api/v1/chatbot/query" | grep RESULT)
read -r user1 sys1 < <(cpu_ticks)
read -r _ hr hp50 hp99 herr hn <<<"$health"
read -r _ qr qp50 qp99 qerr qn <<<"$query"
printf '%-8s %10s %9s %9s %7s\n' endpoint req/s p50_ms p99_ms errors
printf '%-8s %10s %9s %9s %7s\n' healthz "$hr" "$hp50" "$hp99" "$herr"
printf '%-8s %10s %9s %9s %7s\n' query "$qr" "$qp50" "$qp99" "$qerr"
python3 -c "print(f'query/healthz throughput ratio: {float(\"$qr\")/float(\"$hr\"):.3f}')"
recorded=$(python3 - "$WORK/load.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from chatbot_queries").fetchone()[0])
PY
)
echo "queries answered: $qn, recorded in the database: $recorded"
python3 -c "
tick = 1e6 / $(getconf CLK_TCK) / max(1, $qn)
user, system = ($user1 - $user0) * tick, ($sys1 - $sys0) * tick
print(f'server CPU per query: {user + system:.0f} us (user {user:.0f}, system {system:.0f})')"
python3 -c "print(f'start-up to ready (migrations, plugins from the compile cache, NLU training): {float(\"$READY\") - float(\"$START\"):.2f} s')"
echo "resident memory after the run: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$PID/status")"
