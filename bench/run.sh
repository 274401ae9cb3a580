#!/usr/bin/env bash
# The OMS benchmark: one command, bounded (about 3 minutes), loopback only.
# It starts a private PostgreSQL and oms-host with every plugin of the build,
# seeds 10,000 products, 1,000 customers and 10,000 orders, and measures each
# endpoint with wrk over persistent connections against a ceiling taken in the
# same run on the same machine:
#   POST /orders (1-3 random products, valid tokens)  vs  pgbench running the host's statements
#   GET /orders/:id, GET /orders (first page)          vs  pgbench running the host's SELECTs
#   GET /health/live                                   vs  a bare Pistache route (bench/bare_pistache)
#   POST /payments/webhook (signed, distinct payment.captured events)
# Per endpoint: requests/s, p50/p99 latency, ratio to the ceiling, the host's
# CPU-seconds per 1,000 requests and its peak RSS; plus start-to-ready time on
# a migrated database and idle RSS. Prints a table and writes BUILD/bench.json.
#
# Usage: bench/run.sh [BUILD_DIR]   (default build/; build it first: ./dev build)
# Env: DURATION (seconds per measurement, 10), CONNECTIONS (wrk, 64), THREADS (wrk, 2),
#      PGBENCH_CLIENTS (8: the host's OMS_WORKERS), OMS_WORKERS (8),
#      PROFILE (names of measurements to record with perf, e.g. "orders get list live webhook").
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD
BUILD=$(realpath "${1:-build}")
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${THREADS:-2}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-8}
WORKERS=${OMS_WORKERS:-8}
HOST_BIN=$BUILD/host/oms-host
BENCH=$ROOT/bench
for b in "$HOST_BIN" "$BUILD/bench/bare_pistache" "$BUILD/bench/bench_fixtures"; do
  [ -x "$b" ] || { echo "missing $b: build first (./dev build)" >&2; exit 1; }
done
for p in users inventory orders payments; do
  [ -f "$BUILD/plugins/$p.so" ] || { echo "missing $BUILD/plugins/$p.so: the bench needs every plugin" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d /tmp/oms-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  "$ROOT/scripts/pgcluster.sh" stop "$WORK/pg" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
say() { printf '== %s\n' "$*" >&2; }

say "starting a private PostgreSQL (fsync off, as for the tests)"
"$ROOT/scripts/pgcluster.sh" start "$WORK/pg"
URL=$(cat "$WORK/pg/url")
psql_q() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$URL" "$@"; }

JWT_SECRET=bench-jwt-secret-bench-jwt-secret-0123456789
WEBHOOK_SECRET=bench-webhook-secret
host_env=(env DATABASE_URL="$URL" JWT_SECRET="$JWT_SECRET" OMS_PLUGIN_DIR="$BUILD/plugins"
          RAZORPAY_WEBHOOK_SECRET="$WEBHOOK_SECRET" OMS_WORKERS="$WORKERS" LOG_LEVEL=warn
          OMS_CONFIG=/dev/null OMS_DOTENV=/dev/null PORT=0 OMS_PORT_FILE="$WORK/host.port")

say "migrating and seeding 10,000 products, 1,000 customers, 10,000 orders"
"${host_env[@]}" "$HOST_BIN" migrate >/dev/null
psql_q -f "$BENCH/sql/seed.sql"

now_ns() { date +%s%N; }
say "starting oms-host with every plugin (simulated gateway, signed webhooks)"
t0=$(now_ns)
"${host_env[@]}" "$HOST_BIN" serve >"$WORK/host.log" 2>&1 &
HOST_PID=$!
PIDS+=("$HOST_PID")
until [ -s "$WORK/host.port" ]; do
  kill -0 "$HOST_PID" 2>/dev/null || { cat "$WORK/host.log" >&2; echo "oms-host exited" >&2; exit 1; }
  [ $(( ($(now_ns) - t0) / 1000000 )) -lt 10000 ] || { echo "oms-host not ready in 10 s" >&2; exit 1; }
  sleep 0.002
done
READY_MS=$(( ($(now_ns) - t0) / 1000000 ))
HOST_PORT=$(cat "$WORK/host.port")
HOST="http://127.0.0.1:$HOST_PORT"
sleep 1
IDLE_RSS_KB=$(awk '/^VmRSS/ {print $2}' "/proc/$HOST_PID/status")

# Request material: a token per customer, the product ids, the seeded orders with their owner's token.
psql_q -c "SELECT id FROM users WHERE email LIKE 'bench-%' ORDER BY id" \
  | "$BUILD/bench/bench_fixtures" tokens "$JWT_SECRET" >"$WORK/tokens.tsv"
psql_q -c "SELECT product_id FROM inventory_products WHERE sku LIKE 'BENCH-%'" >"$WORK/products.txt"
psql_q -F $'\t' -c "SELECT o.id, o.customer_id FROM orders o JOIN generate_series(1, 10000) g ON o.id = md5('bench-order-' || g)::uuid" \
  | awk -F'\t' 'NR == FNR { token[$1] = $2; next } { print $1 "\t" token[$2] }' "$WORK/tokens.tsv" - >"$WORK/orders.tsv"

host_cpu_ticks() { awk '{print $14 + $15}' "/proc/$HOST_PID/stat"; }
reset_peak_rss() { echo 5 >"/proc/$HOST_PID/clear_refs" 2>/dev/null || true; }
peak_rss_kb() { awk '/^VmHWM/ {print $2}' "/proc/$HOST_PID/status"; }

# wrk_run NAME URL [wrk args...]: runs wrk and records NAME_{rps,p50,p99,bad,requests}.
# With MEASURE_HOST=1 (the default) it also records the host's CPU and peak RSS.
declare -A R
wrk_run() {
  local name=$1 url=$2 out cpu0 cpu1
  shift 2
  [ "${MEASURE_HOST:-1}" = 1 ] && { reset_peak_rss; cpu0=$(host_cpu_ticks); }
  # wrk [options] URL [-- script arguments]
  local opts=() script_args=() perf_pid=
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ $# -gt 0 ] && script_args=("$@")
  if [[ " ${PROFILE:-} " == *" $name "* ]]; then   # PROFILE="orders get": perf record the host meanwhile
    perf record -q -F 999 -g -e cpu-clock -p "$HOST_PID" -o "$BUILD/perf-$name.data" 2>/dev/null &
    perf_pid=$!
  fi
  out=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${opts[@]}" "$url" "${script_args[@]}")
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    say "profile of the host during $name: perf report -i $BUILD/perf-$name.data"
  fi
  read -r R[${name}_rps] R[${name}_p50] R[${name}_p99] R[${name}_requests] R[${name}_bad] < <(awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ {rps = $2}
    / requests in / {n = $1}
    $1 == "50.000%" || $1 == "50%" {p50 = ms($2)}
    $1 == "99.000%" || $1 == "99%" {p99 = ms($2)}
    /Non-2xx/ {bad = $NF}
    END {printf "%.1f %.3f %.3f %d %d\n", rps, p50, p99, n, (bad == "" ? 0 : bad)}' <<<"$out")
  if [ "${MEASURE_HOST:-1}" = 1 ]; then
    cpu1=$(host_cpu_ticks)
    R[${name}_cpu]=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="${R[${name}_requests]}" \
                       'BEGIN { printf "%.3f", (n > 0 ? t / hz / n * 1000 : 0) }')
    R[${name}_rss]=$(peak_rss_kb)
  fi
  [ "${R[${name}_bad]}" = 0 ] || echo "warning: $name: ${R[${name}_bad]} answers were not 2xx" >&2
}

# pgbench_run NAME FILES...: the ceiling, same database, PGBENCH_CLIENTS connections, prepared statements.
pgbench_run() {
  local name=$1 out
  shift
  local files=()
  for f in "$@"; do files+=(-f "$f"); done
  out=$("$PGBIN/pgbench" -n -M prepared -c "$PGBENCH_CLIENTS" -j 2 -T "$DURATION" "${files[@]}" "$URL" 2>&1) \
    || { echo "$out" >&2; exit 1; }
  R[${name}_rps]=$(awk '/^tps = / {printf "%.1f", $3}' <<<"$out")
  R[${name}_lat]=$(awk '/^latency average/ {printf "%.3f", $4}' <<<"$out")
  local failed
  failed=$(awk '/^number of failed transactions/ {print $5}' <<<"$out")
  [ "${failed:-0}" = 0 ] || echo "warning: $name: $failed failed pgbench transactions" >&2
}

# The order transaction with K lines, statement for statement what POST /orders runs
# (plugins/users resolve_caller; plugins/orders place_order; plugins/inventory reserve),
# with ids computed by md5 as in seed.sql, arrays built by ARRAY[...] and the lines' JSON by
# jsonb_build_* (the host sends them as parameters).
order_sql() {
  local k=$1 i ids=() quantities=() lines=()
  echo "\\set u random(1, 1000)"
  for ((i = 1; i <= k; i++)); do
    echo "\\set p$i random(1, 10000)"
    echo "\\set q$i random(1, 3)"
    ids+=("md5('bench-product-' || :p$i)::uuid")
    quantities+=(":q$i::integer")
    lines+=("jsonb_build_object('sku', 'BENCH-' || :p$i, 'line', $i, 'name', 'Bench product ' || :p$i, 'quantity', :q$i::int, 'line_total', :q$i::int * 100, 'product_id', md5('bench-product-' || :p$i)::uuid, 'unit_price', 100)")
  done
  local IFS=,
  cat <<SQL
\\startpipeline
BEGIN;
SELECT role FROM users WHERE id = md5('bench-user-' || :u)::uuid;
\\endpipeline
INSERT INTO orders (customer_id, status, currency, total_amount) VALUES (md5('bench-user-' || :u)::uuid, 'pending', 'INR', 0) RETURNING id \\gset
SELECT product_id, sku, name, price, currency, on_hand, reserved, created_at, updated_at FROM inventory_products WHERE product_id = ANY(ARRAY[${ids[*]}]) ORDER BY product_id FOR UPDATE;
WITH held AS (  UPDATE inventory_products p SET reserved = p.reserved + w.quantity, updated_at = now()  FROM unnest(ARRAY[${ids[*]}], ARRAY[${quantities[*]}]) AS w(product_id, quantity)  WHERE p.product_id = w.product_id AND p.on_hand - p.reserved >= w.quantity    AND NOT EXISTS (SELECT 1 FROM inventory_reservations r WHERE r.order_id = :id::uuid)  RETURNING p.product_id, w.quantity) INSERT INTO inventory_reservations (order_id, product_id, quantity, status, expires_at) SELECT :id::uuid, product_id, quantity, 'active', now() + 900::bigint * interval '1 second' FROM held RETURNING expires_at;
WITH lines AS (  INSERT INTO order_items (order_id, line, product_id, sku, name, quantity, unit_price, line_total)  SELECT :id::uuid, l.line, l.product_id, l.sku, l.name, l.quantity, l.unit_price, l.line_total  FROM jsonb_to_recordset(jsonb_build_array(${lines[*]})) AS l(line integer, product_id uuid, sku text, name text,    quantity integer, unit_price bigint, line_total bigint)), history AS (  INSERT INTO order_status_history (order_id, from_status, to_status, actor, reason)  VALUES (:id::uuid, NULL, 'pending', md5('bench-user-' || :u)::uuid::text, 'created')) UPDATE orders SET total_amount = 100 * $k, reservation_expires_at = now() + interval '900 seconds' WHERE id = :id::uuid;
SQL
  # The order as the answer shows it: the statement of GET /orders/:id's load_order.
  sed -n '/^SELECT id, customer_id/,/FROM orders o WHERE/p' "$BENCH/sql/get_order.sql" \
    | sed "s/md5('bench-order-' || :n)::uuid/:id::uuid/"
  echo "COMMIT;"
}
for k in 1 2 3; do order_sql "$k" >"$WORK/order$k.sql"; done

# Between phases, what autovacuum would have done by then, so that it does not
# start in the middle of a measurement and plans see the tables' real sizes.
settle() { psql_q -c "VACUUM ANALYZE"; }
run_phase() { settle; say "$1: wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s; pgbench -c $PGBENCH_CLIENTS -M prepared -T $DURATION"; }

# Sequential scans of the plugins' big tables during the HTTP phases: each
# should be an index lookup, and a regression shows up here first.
seq_scans() { psql_q -F ' ' -c "SELECT relname, seq_scan FROM pg_stat_user_tables
  WHERE relname IN ('users', 'inventory_products', 'inventory_reservations', 'orders', 'order_items',
                    'order_status_history', 'payments', 'payment_attempts') ORDER BY relname"; }
declare -A SEQ_BEFORE
while read -r t n; do SEQ_BEFORE[$t]=$n; done < <(seq_scans)

run_phase "POST /orders"
DURATION=2 MEASURE_HOST=0 wrk_run warmup "$HOST/orders" -s "$BENCH/wrk/orders.lua" -- "$WORK/tokens.tsv" "$WORK/products.txt"
wrk_run orders "$HOST/orders" -s "$BENCH/wrk/orders.lua" -- "$WORK/tokens.tsv" "$WORK/products.txt"
pgbench_run orders_pg "$WORK/order1.sql" "$WORK/order2.sql" "$WORK/order3.sql"

run_phase "GET /orders/:id"
wrk_run get "$HOST/orders" -s "$BENCH/wrk/get_order.lua" -- "$WORK/orders.tsv"
pgbench_run get_pg "$BENCH/sql/get_order.sql"

run_phase "GET /orders (first page)"
wrk_run list "$HOST/orders" -s "$BENCH/wrk/list_orders.lua" -- "$WORK/tokens.tsv"
pgbench_run list_pg "$BENCH/sql/list_orders.sql"

say "GET /health/live: oms-host and a bare Pistache route, wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s"
BARE_PORT=$((18000 + RANDOM % 2000))
while (exec 3<>"/dev/tcp/127.0.0.1/$BARE_PORT") 2>/dev/null; do BARE_PORT=$((18000 + RANDOM % 2000)); done
"$BUILD/bench/bare_pistache" "$BARE_PORT" 2 &
PIDS+=($!)
sleep 0.3
wrk_run live "$HOST/health/live"
MEASURE_HOST=0 wrk_run bare "http://127.0.0.1:$BARE_PORT/health/live"

say "POST /payments/webhook: a payment for every pending order, one signed payment.captured event each"
psql_q -c "INSERT INTO payments (order_id, customer_id, amount, currency, gateway_order_id, simulated)
           SELECT id, customer_id, total_amount, currency, 'order_' || substr(md5(id::text), 1, 14), true
           FROM orders WHERE status = 'pending' AND total_amount > 0"
settle
psql_q -F $'\t' -c "SELECT gateway_order_id, amount, currency FROM payments ORDER BY random()" \
  | "$BUILD/bench/bench_fixtures" webhooks "$WEBHOOK_SECRET" >"$WORK/events.tsv"
EVENTS=$(wc -l <"$WORK/events.tsv")
wrk_run webhook "$HOST/payments/webhook" -s "$BENCH/wrk/webhook.lua" -- "$WORK/events.tsv" "$WRK_THREADS"
PROCESSED=$(psql_q -c "SELECT count(*) FROM payment_webhook_events")
PAID=$(psql_q -c "SELECT count(*) FROM payments WHERE status = 'captured'")
[ "$PROCESSED" -ge "${R[webhook_requests]}" ] \
  || echo "note: $EVENTS distinct events for ${R[webhook_requests]} requests: $((R[webhook_requests] - PROCESSED)) were duplicates" >&2

SEQ_JSON= SEQ_TEXT=
while read -r t n; do
  d=$((n - ${SEQ_BEFORE[$t]:-0}))
  SEQ_JSON+="${SEQ_JSON:+, }\"$t\": $d"
  [ "$d" = 0 ] || SEQ_TEXT+=" $t=$d"
done < <(seq_scans)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "null" }'; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
printf '\n%-26s %9s %8s %8s %9s %7s %9s %8s\n' "endpoint" "req/s" "p50 ms" "p99 ms" "ceiling" "ratio" "cpu-s/1k" "peak MB"
row() {   # name label ceiling_name
  printf '%-26s %9s %8s %8s %9s %7s %9s %8s\n' "$2" "${R[$1_rps]}" "${R[$1_p50]}" "${R[$1_p99]}" \
    "${R[$3_rps]}" "$(ratio "${R[$1_rps]}" "${R[$3_rps]}")" "${R[$1_cpu]}" "$(mb "${R[$1_rss]}")"
}
row orders "POST /orders" orders_pg
row get "GET /orders/:id" get_pg
row list "GET /orders (page 1)" list_pg
row live "GET /health/live" bare
printf '%-26s %9s %8s %8s %9s %7s %9s %8s\n' "POST /payments/webhook" "${R[webhook_rps]}" "${R[webhook_p50]}" \
  "${R[webhook_p99]}" "-" "-" "${R[webhook_cpu]}" "$(mb "${R[webhook_rss]}")"
printf '\nceilings: pgbench latency avg ms: orders %s, get %s, list %s; bare Pistache p50/p99 ms %s/%s\n' \
  "${R[orders_pg_lat]}" "${R[get_pg_lat]}" "${R[list_pg_lat]}" "${R[bare_p50]}" "${R[bare_p99]}"
printf 'ready in %s ms on a migrated database; idle RSS %s MB (4 plugins); webhooks: %s events applied, %s payments captured\n' \
  "$READY_MS" "$(mb "$IDLE_RSS_KB")" "$PROCESSED" "$PAID"
printf 'sequential scans of big tables during the run (host and pgbench):%s\n' "${SEQ_TEXT:- none}"

endpoint_json() {   # name ceiling_name
  printf '{"rps": %s, "p50_ms": %s, "p99_ms": %s, "requests": %s, "non_2xx": %s, "cpu_s_per_1k": %s, "peak_rss_kb": %s' \
    "${R[$1_rps]}" "${R[$1_p50]}" "${R[$1_p99]}" "${R[$1_requests]}" "${R[$1_bad]}" "${R[$1_cpu]}" "${R[$1_rss]}"
  [ -n "${2:-}" ] && printf ', "ceiling_rps": %s, "ratio": %s' "${R[$2_rps]}" "$(ratio "${R[$1_rps]}" "${R[$2_rps]}")"
  printf '}'
}
cat >"$BUILD/bench.json" <<JSON
{
  "duration_s": $DURATION, "connections": $CONNECTIONS, "wrk_threads": $WRK_THREADS,
  "pgbench_clients": $PGBENCH_CLIENTS, "workers": $WORKERS, "cpus": $(nproc),
  "post_orders": $(endpoint_json orders orders_pg),
  "get_order": $(endpoint_json get get_pg),
  "list_orders": $(endpoint_json list list_pg),
  "health_live": $(endpoint_json live bare),
  "webhook": $(endpoint_json webhook), "webhook_events_applied": $PROCESSED, "webhook_distinct_events": $EVENTS,
  "ceilings": {"orders_pgbench_latency_ms": ${R[orders_pg_lat]}, "get_pgbench_latency_ms": ${R[get_pg_lat]},
               "list_pgbench_latency_ms": ${R[list_pg_lat]}, "bare_p50_ms": ${R[bare_p50]}, "bare_p99_ms": ${R[bare_p99]}},
  "ready_ms": $READY_MS, "idle_rss_kb": $IDLE_RSS_KB,
  "seq_scans_during_run": {$SEQ_JSON}
}
JSON
say "wrote $BUILD/bench.json"
