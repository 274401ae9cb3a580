#!/usr/bin/env bash
# Foundation benchmark (bounded, loopback only): measures each OMS number
# against a ceiling taken in the same run on the same machine.
#   - GET /health/live on oms-host   vs  a bare Pistache route (bench/bare_pistache)
#   - a primary-key SELECT through the host's database layer (bench/db_throughput)
#                                    vs  pgbench -M prepared running the same SELECT
# Usage: bench/run.sh [BUILD_DIR]   (default build/). Writes BUILD_DIR/bench-foundation.json.
# Env: DURATION (seconds per measurement, 10), CONNECTIONS (wrk, 64), THREADS (wrk, 2).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD
BUILD=$(realpath "${1:-build}")
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${THREADS:-2}
HOST_BIN=$BUILD/host/oms-host
for b in "$HOST_BIN" "$BUILD/bench/bare_pistache" "$BUILD/bench/db_throughput"; do
  [ -x "$b" ] || { echo "missing $b: build first (./dev build)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

WORK=$(mktemp -d /tmp/oms-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  "$ROOT/scripts/pgcluster.sh" stop "$WORK/pg" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting a private PostgreSQL" >&2
"$ROOT/scripts/pgcluster.sh" start "$WORK/pg"
URL=$(cat "$WORK/pg/url")
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$URL")
"${PSQL[@]}" <<'SQL'
CREATE TABLE bench_items (id bigint PRIMARY KEY, sku text NOT NULL, name text NOT NULL,
                          price bigint NOT NULL, on_hand integer NOT NULL);
INSERT INTO bench_items SELECT g, 'SKU-' || g, 'Item ' || g, 100 + g, 1000 FROM generate_series(1, 10000) g;
ANALYZE bench_items;
SQL
cat >"$WORK/select.sql" <<'SQL'
\set id random(1, 10000)
SELECT id, sku, name, price, on_hand FROM bench_items WHERE id = :id;
SQL

pgbench_tps() {   # clients
  "$PGBIN/pgbench" -n -M prepared -f "$WORK/select.sql" -c "$1" -j "$1" -T "$DURATION" "$URL" 2>/dev/null \
    | awk '/^tps = / {printf "%.1f", $3}'
}

echo "== database: primary-key SELECT, ${DURATION}s each" >&2
PG1=$(pgbench_tps 1)
OMS1=$("$BUILD/bench/db_throughput" "$URL" "$DURATION" 1 10000)
PG2=$(pgbench_tps 2)
OMS2=$("$BUILD/bench/db_throughput" "$URL" "$DURATION" 2 10000)

free_port() {
  local p
  while :; do
    p=$((18000 + RANDOM % 2000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# wrk prints "Requests/sec: N" and a latency distribution with --latency.
wrk_run() {   # url -> "rps p50_ms p99_ms"
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ {rps = $2}
    $1 == "50.000%" || $1 == "50%" {p50 = ms($2)}
    $1 == "99.000%" || $1 == "99%" {p99 = ms($2)}
    /Non-2xx/ {bad = $NF}
    END {printf "%.1f %.3f %.3f %s\n", rps, p50, p99, (bad == "" ? 0 : bad)}'
}

echo "== HTTP: GET /health/live, wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s" >&2
BARE_PORT=$(free_port)
"$BUILD/bench/bare_pistache" "$BARE_PORT" 2 &
PIDS+=($!)
mkdir -p "$WORK/no-plugins"
PORT=0 OMS_PORT_FILE="$WORK/host.port" DATABASE_URL="$URL" OMS_PLUGIN_DIR="$WORK/no-plugins" \
  JWT_SECRET=bench-secret-bench-secret-bench-secret LOG_LEVEL=warn OMS_CONFIG=/dev/null OMS_DOTENV=/dev/null \
  "$HOST_BIN" serve >"$WORK/host.log" 2>&1 &
HOST_PID=$!
PIDS+=($HOST_PID)
for _ in $(seq 1 100); do [ -s "$WORK/host.port" ] && break; sleep 0.1; done
[ -s "$WORK/host.port" ] || { cat "$WORK/host.log" >&2; echo "host did not start" >&2; exit 1; }
HOST_PORT=$(cat "$WORK/host.port")
sleep 0.3
read -r BARE_RPS BARE_P50 BARE_P99 BARE_BAD < <(wrk_run "http://127.0.0.1:$BARE_PORT/health/live")
read -r HOST_RPS HOST_P50 HOST_P99 HOST_BAD < <(wrk_run "http://127.0.0.1:$HOST_PORT/health/live")
HOST_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$HOST_PID/status")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '\n%-44s %12s %12s %7s\n' "measurement" "OMS" "ceiling" "ratio"
printf '%-44s %12s %12s %7s\n' "GET /health/live req/s (bare Pistache)" "$HOST_RPS" "$BARE_RPS" "$(ratio "$HOST_RPS" "$BARE_RPS")"
printf '%-44s %12s %12s\n' "  p50 / p99 ms" "$HOST_P50/$HOST_P99" "$BARE_P50/$BARE_P99"
printf '%-44s %12s %12s %7s\n' "PK SELECT/s, 1 connection (pgbench)" "$OMS1" "$PG1" "$(ratio "$OMS1" "$PG1")"
printf '%-44s %12s %12s %7s\n' "PK SELECT/s, 2 connections (pgbench)" "$OMS2" "$PG2" "$(ratio "$OMS2" "$PG2")"
printf '%-44s %12s\n' "host peak RSS (MB)" "$(awk -v k="$HOST_RSS_KB" 'BEGIN {printf "%.1f", k/1024}')"
[ "$HOST_BAD" = 0 ] && [ "$BARE_BAD" = 0 ] || echo "warning: non-2xx answers: host $HOST_BAD, bare $BARE_BAD" >&2

cat >"$BUILD/bench-foundation.json" <<JSON
{
  "duration_s": $DURATION, "connections": $CONNECTIONS, "wrk_threads": $WRK_THREADS,
  "health_live": {"rps": $HOST_RPS, "p50_ms": $HOST_P50, "p99_ms": $HOST_P99,
                  "ceiling_rps": $BARE_RPS, "ceiling_p50_ms": $BARE_P50, "ceiling_p99_ms": $BARE_P99,
                  "ratio": $(ratio "$HOST_RPS" "$BARE_RPS")},
  "pk_select_1": {"rps": $OMS1, "pgbench_rps": $PG1, "ratio": $(ratio "$OMS1" "$PG1")},
  "pk_select_2": {"rps": $OMS2, "pgbench_rps": $PG2, "ratio": $(ratio "$OMS2" "$PG2")},
  "host_peak_rss_kb": $HOST_RSS_KB
}
JSON
echo "wrote $BUILD/bench-foundation.json" >&2
