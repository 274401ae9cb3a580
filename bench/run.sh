#!/usr/bin/env bash
# The OMS benchmark: one command, bounded (about 2½ minutes at DURATION=10 on
# 2 cores, 3½-4 with BASELINE), loopback only. It starts a private PostgreSQL
# and oms-host with every plugin of the build, seeds 10,000 products, 1,000
# customers and 10,000 orders, and measures each endpoint with wrk over
# persistent connections against the ceiling that counts for it, taken in the
# same run on the same machine and database:
#   POST /orders (1-3 random products, valid tokens)  vs  pgbench running the host's statements
#   GET /orders/:id, GET /orders (first page)          vs  bench/bare_get: the same two routes with the
#        least this stack can do (bare Pistache, one HMAC for the token, ONE prepared libpq statement
#        on the reactor thread, a concatenated body), under the same wrk scripts; shown beside it:
#        pgbench of that one statement (bench/sql/bare_*.sql) and of the host's statements
#        (bench/sql/get_order.sql, list_orders.sql)
#   GET /health/live                                   vs  a bare Pistache route (bench/bare_pistache)
#   POST /payments/webhook (signed, distinct payment.captured events; no ceiling)
# Per endpoint: requests/s, p50/p99 latency, the ceiling and the ratio to it,
# CPU microseconds per request (utime+stime of /proc/PID/stat over the
# measurement) of the host, and of bare_get and bare_pistache for their
# measurements, peak RSS, and whether p99 <= 4 x p50; plus start-to-ready time
# on a migrated database and idle RSS. Prints a table and writes BUILD/bench.json.
#
# With BASELINE=/other/build, that build's oms-host (with BASELINE/plugins) runs
# beside this one on another port and the same database (seeded once; both
# hosts' POST /orders add orders) and is measured right after it, with the same
# wrk scripts, on POST /orders, GET /orders/:id, GET /orders and GET
# /health/live: a second block "baseline" with the same columns, so before and
# after come from one run. It must not need migrations this build has not
# applied (an older build of the same schema is fine).
#
# Usage: bench/run.sh [BUILD_DIR]   (default build/; build it first: ./dev build)
# Env: DURATION (seconds per measurement, 10), CONNECTIONS (wrk, 64), THREADS (wrk, 2),
#      PGBENCH_CLIENTS (8: the host's OMS_WORKERS), OMS_WORKERS (8),
#      BASELINE (another build directory to measure in the same run, see above),
#      PROFILE (names of measurements to record with perf, e.g. "orders get list live webhook";
#               the baseline's are b_orders b_get b_list b_live, bare_get's bare_get bare_list).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD
BUILD=$(realpath "${1:-build}")
BASE=
if [ -n "${BASELINE:-}" ]; then BASE=$(realpath "$BASELINE"); fi
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${THREADS:-2}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-8}
WORKERS=${OMS_WORKERS:-8}
HOST_BIN=$BUILD/host/oms-host
BENCH=$ROOT/bench
for b in "$HOST_BIN" "$BUILD/bench/bare_pistache" "$BUILD/bench/bare_get" "$BUILD/bench/bench_fixtures" \
         ${BASE:+"$BASE/host/oms-host"}; do
  [ -x "$b" ] || { echo "missing $b: build first (./dev build)" >&2; exit 1; }
done
for build in "$BUILD" ${BASE:+"$BASE"}; do
  for p in users inventory orders payments; do
    [ -f "$build/plugins/$p.so" ] || { echo "missing $build/plugins/$p.so: the bench needs every plugin" >&2; exit 1; }
  done
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
          OMS_CONFIG=/dev/null OMS_DOTENV=/dev/null PORT=0 OMS_PORT_FILE="$WORK/host.port"
          OMS_CONTRACT_CHECKS=false)   # as in production: the checks parse every payload once more

say "migrating and seeding 10,000 products, 1,000 customers, 10,000 orders"
"${host_env[@]}" "$HOST_BIN" migrate >/dev/null
[ -z "$BASE" ] || "${host_env[@]}" OMS_PLUGIN_DIR="$BASE/plugins" "$BASE/host/oms-host" migrate >/dev/null
psql_q -f "$BENCH/sql/seed.sql"

declare -A R   # every measurement, by name
now_ns() { date +%s%N; }
# start_host NAME BUILD_DIR: that build's oms-host with its plugins on a port of its choosing;
# sets STARTED_PID and STARTED_URL once it listens, R[NAME_ready_ms] and R[NAME_idle_rss] (1 s later).
start_host() {
  local name=$1 build=$2 t0 pid
  t0=$(now_ns)
  "${host_env[@]}" OMS_PLUGIN_DIR="$build/plugins" OMS_PORT_FILE="$WORK/$name.port" \
    "$build/host/oms-host" serve >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  until [ -s "$WORK/$name.port" ]; do
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/$name.log" >&2; echo "oms-host of $build exited" >&2; exit 1; }
    [ $(( ($(now_ns) - t0) / 1000000 )) -lt 10000 ] || { echo "oms-host of $build not ready in 10 s" >&2; exit 1; }
    sleep 0.002
  done
  R[${name}_ready_ms]=$(( ($(now_ns) - t0) / 1000000 ))
  STARTED_PID=$pid
  STARTED_URL="http://127.0.0.1:$(cat "$WORK/$name.port")"
  sleep 1
  R[${name}_idle_rss]=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
}
say "starting oms-host with every plugin (simulated gateway, signed webhooks)"
start_host host "$BUILD"
HOST_PID=$STARTED_PID HOST=$STARTED_URL
READY_MS=${R[host_ready_ms]} IDLE_RSS_KB=${R[host_idle_rss]}
B_PID='' B_HOST=''
if [ -n "$BASE" ]; then
  say "starting the baseline oms-host of $BASE beside it (same database, its own plugins)"
  start_host b_host "$BASE"
  B_PID=$STARTED_PID B_HOST=$STARTED_URL
fi

# The bare servers (bench/bare_*.cpp), each on a free random port of 18000-19999.
free_port() {
  local p=$((18000 + RANDOM % 2000))
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((18000 + RANDOM % 2000)); done
  echo "$p"
}
# wait_listening PID PORT NAME: until PORT accepts connections (at most 5 s), or NAME exited.
wait_listening() {
  local i
  for ((i = 0; i < 500; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || { echo "$3 exited (port $2 taken?)" >&2; exit 1; }
    sleep 0.01
  done
  echo "$3 does not listen on port $2 after 5 s" >&2
  exit 1
}

# Request material: a token per customer, the product ids, the seeded orders with their owner's token.
psql_q -c "SELECT id FROM users WHERE email LIKE 'bench-%' ORDER BY id" \
  | "$BUILD/bench/bench_fixtures" tokens "$JWT_SECRET" >"$WORK/tokens.tsv"
psql_q -c "SELECT product_id FROM inventory_products WHERE sku LIKE 'BENCH-%'" >"$WORK/products.txt"
psql_q -F $'\t' -c "SELECT o.id, o.customer_id FROM orders o JOIN generate_series(1, 10000) g ON o.id = md5('bench-order-' || g)::uuid" \
  | awk -F'\t' 'NR == FNR { token[$1] = $2; next } { print $1 "\t" token[$2] }' "$WORK/tokens.tsv" - >"$WORK/orders.tsv"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime of PID
reset_peak_rss() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
peak_rss_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "null" }'; }

# wrk_run NAME URL [wrk args...]: runs wrk and records NAME_{rps,p50,p99,bad,requests,tail}
# (tail: p99 / p50). It also records the CPU (NAME_us: microseconds per request, NAME_cpu:
# CPU-seconds per 1,000 requests) and peak RSS of MEASURE_PID: the host unless the caller
# sets it (MEASURE_PID='' measures nothing).
wrk_run() {
  local name=$1 url=$2 out cpu0 cpu1 pid=${MEASURE_PID-$HOST_PID}
  shift 2
  if [ -n "$pid" ]; then reset_peak_rss "$pid"; cpu0=$(cpu_ticks "$pid"); fi
  # wrk [options] URL [-- script arguments]
  local opts=() script_args=() perf_pid=
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ $# -gt 0 ] && script_args=("$@")
  if [[ -n "$pid" && " ${PROFILE:-} " == *" $name "* ]]; then   # PROFILE="orders get": perf record meanwhile
    perf record -q -F 999 -g -e cpu-clock -p "$pid" -o "$BUILD/perf-$name.data" 2>/dev/null &
    perf_pid=$!
  fi
  out=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${opts[@]}" "$url" "${script_args[@]}")
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    say "profile of PID $pid during $name: perf report -i $BUILD/perf-$name.data"
  fi
  # Socket errors: wrk leaves requests that timed out (2 s) out of the latencies, so they are counted apart.
  read -r R[${name}_rps] R[${name}_p50] R[${name}_p99] R[${name}_requests] R[${name}_bad] R[${name}_errors] < <(awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ {rps = $2}
    / requests in / {n = $1}
    $1 == "50.000%" || $1 == "50%" {p50 = ms($2)}
    $1 == "99.000%" || $1 == "99%" {p99 = ms($2)}
    /Non-2xx/ {bad = $NF}
    /Socket errors:/ {gsub(/,/, ""); errors = $4 + $6 + $8 + $10}
    END {printf "%.1f %.3f %.3f %d %d %d\n", rps, p50, p99, n, (bad == "" ? 0 : bad), errors}' <<<"$out")
  R[${name}_tail]=$(ratio "${R[${name}_p99]}" "${R[${name}_p50]}")
  if [ -n "$pid" ]; then
    cpu1=$(cpu_ticks "$pid")
    read -r R[${name}_us] R[${name}_cpu] < <(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="${R[${name}_requests]}" \
      'BEGIN { us = (n > 0 ? t / hz / n * 1e6 : 0); printf "%.1f %.3f\n", us, us / 1000 }')
    R[${name}_rss]=$(peak_rss_kb "$pid")
  fi
  [ "${R[${name}_bad]}" = 0 ] || echo "warning: $name: ${R[${name}_bad]} answers were not 2xx" >&2
  [ "${R[${name}_errors]}" = 0 ] || echo "warning: $name: ${R[${name}_errors]} socket errors (connect, read, write, timeout)" >&2
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

# The order transaction with K lines, statement for statement and round trip for
# round trip what POST /orders runs (the caller's role from the host's cache;
# plugins/orders place_order with plugins/inventory reserve; load_order; COMMIT),
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
  local id="md5(:r1 || '-' || :r2)::uuid"   # the host makes the order's id itself
  cat <<SQL
\\set r1 random(1, 4611686018427387903)
\\set r2 random(1, 4611686018427387903)
\\startpipeline
BEGIN;
INSERT INTO orders (id, customer_id, status, currency, total_amount) VALUES ($id, md5('bench-user-' || :u)::uuid, 'pending', 'INR', 0);
SELECT product_id, sku, name, price, currency, on_hand, reserved, created_at, updated_at FROM inventory_products WHERE product_id = ANY(ARRAY[${ids[*]}]) ORDER BY product_id FOR UPDATE;
WITH held AS (  UPDATE inventory_products p SET reserved = p.reserved + w.quantity, updated_at = now()  FROM unnest(ARRAY[${ids[*]}], ARRAY[${quantities[*]}]) AS w(product_id, quantity)  WHERE p.product_id = w.product_id AND p.on_hand - p.reserved >= w.quantity    AND NOT EXISTS (SELECT 1 FROM inventory_reservations r WHERE r.order_id = $id)  RETURNING p.product_id, w.quantity) INSERT INTO inventory_reservations (order_id, product_id, quantity, status, expires_at) SELECT $id, product_id, quantity, 'active', now() + 900::bigint * interval '1 second' FROM held RETURNING expires_at;
\\endpipeline
\\startpipeline
WITH lines AS (  INSERT INTO order_items (order_id, line, product_id, sku, name, quantity, unit_price, line_total)  SELECT $id, l.line, l.product_id, l.sku, l.name, l.quantity, l.unit_price, l.line_total  FROM jsonb_to_recordset(jsonb_build_array(${lines[*]})) AS l(line integer, product_id uuid, sku text, name text,    quantity integer, unit_price bigint, line_total bigint)), history AS (  INSERT INTO order_status_history (order_id, from_status, to_status, actor, reason)  VALUES ($id, NULL, 'pending', md5('bench-user-' || :u)::uuid::text, 'created')) UPDATE orders SET total_amount = 100 * $k, reservation_expires_at = now() + interval '900 seconds' WHERE id = $id;
SQL
  # The order as the answer shows it: the statement of GET /orders/:id's load_order.
  grep '^SELECT o.customer_id, ' "$BENCH/sql/get_order.sql" | sed "s/md5('bench-order-' || :n)::uuid/$id/"
  printf '%s\n' '\endpipeline' 'COMMIT;'
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
orders_args=(-s "$BENCH/wrk/orders.lua" -- "$WORK/tokens.tsv" "$WORK/products.txt")
DURATION=2 MEASURE_PID='' wrk_run warmup "$HOST/orders" "${orders_args[@]}"
wrk_run orders "$HOST/orders" "${orders_args[@]}"
if [ -n "$BASE" ]; then
  settle   # the orders just placed, as for the host before its measurement
  say "POST /orders: the baseline host"
  DURATION=2 MEASURE_PID='' wrk_run warmup "$B_HOST/orders" "${orders_args[@]}"
  MEASURE_PID=$B_PID wrk_run b_orders "$B_HOST/orders" "${orders_args[@]}"
fi
pgbench_run orders_pg "$WORK/order1.sql" "$WORK/order2.sql" "$WORK/order3.sql"

# The read ceiling: bench/bare_get, same database and token secret, two reactor threads as the host's.
BARE_GET_PORT=$(free_port)
"$BUILD/bench/bare_get" "$BARE_GET_PORT" "$URL" "$JWT_SECRET" 2 &
BARE_GET_PID=$!
PIDS+=("$BARE_GET_PID")
wait_listening "$BARE_GET_PID" "$BARE_GET_PORT" bare_get
BARE_GET="http://127.0.0.1:$BARE_GET_PORT"

# read_phase NAME LABEL WRK_SCRIPT WRK_ARG SQL: the host (and the baseline), then bare_get under the
# same wrk script, then pgbench of the host's statements and of bare_get's (bench/sql/[bare_]NAME.sql).
read_phase() {
  local name=$1 label=$2 script=$3 arg=$4 sql=$5
  run_phase "$label (host, ${BASE:+baseline, }bare_get)"
  wrk_run "$name" "$HOST/orders" -s "$script" -- "$arg"
  [ -z "$BASE" ] || MEASURE_PID=$B_PID wrk_run "b_$name" "$B_HOST/orders" -s "$script" -- "$arg"
  MEASURE_PID=$BARE_GET_PID wrk_run "bare_$name" "$BARE_GET/orders" -s "$script" -- "$arg"
  pgbench_run "${name}_pg" "$BENCH/sql/$sql.sql"
  pgbench_run "${name}_bare_pg" "$BENCH/sql/bare_$sql.sql"
}
read_phase get "GET /orders/:id" "$BENCH/wrk/get_order.lua" "$WORK/orders.tsv" get_order
read_phase list "GET /orders (first page)" "$BENCH/wrk/list_orders.lua" "$WORK/tokens.tsv" list_orders

say "GET /health/live: oms-host ${BASE:+and the baseline }and a bare Pistache route, wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s"
BARE_PORT=$(free_port)
"$BUILD/bench/bare_pistache" "$BARE_PORT" 2 &
BARE_PID=$!
PIDS+=("$BARE_PID")
wait_listening "$BARE_PID" "$BARE_PORT" bare_pistache
wrk_run live "$HOST/health/live"
[ -z "$BASE" ] || MEASURE_PID=$B_PID wrk_run b_live "$B_HOST/health/live"
MEASURE_PID=$BARE_PID wrk_run bare "http://127.0.0.1:$BARE_PORT/health/live"

say "POST /payments/webhook: a payment for every pending order, one signed payment.captured event each"
# These fixture statements scan orders and payments themselves (psql's sessions report their
# statistics as they end): not counted among the run's sequential scans.
while read -r t n; do SEQ_BEFORE[$t]=$((SEQ_BEFORE[$t] - n)); done < <(seq_scans)
psql_q -c "INSERT INTO payments (order_id, customer_id, amount, currency, gateway_order_id, simulated)
           SELECT id, customer_id, total_amount, currency, 'order_' || substr(md5(id::text), 1, 14), true
           FROM orders WHERE status = 'pending' AND total_amount > 0"
settle
psql_q -F $'\t' -c "SELECT gateway_order_id, amount, currency FROM payments ORDER BY random()" \
  | "$BUILD/bench/bench_fixtures" webhooks "$WEBHOOK_SECRET" >"$WORK/events.tsv"
EVENTS=$(wc -l <"$WORK/events.tsv")
PAID_BEFORE=$(psql_q -c "SELECT count(*) FROM payments WHERE status = 'captured'")   # the seeded ones
while read -r t n; do SEQ_BEFORE[$t]=$((SEQ_BEFORE[$t] + n)); done < <(seq_scans)
wrk_run webhook "$HOST/payments/webhook" -s "$BENCH/wrk/webhook.lua" -- "$WORK/events.tsv" "$WRK_THREADS"
SEQ_JSON='' SEQ_TEXT=''   # before the counts below, which scan payments
while read -r t n; do
  d=$((n - ${SEQ_BEFORE[$t]:-0}))
  SEQ_JSON+="${SEQ_JSON:+, }\"$t\": $d"
  [ "$d" = 0 ] || SEQ_TEXT+=" $t=$d"
done < <(seq_scans)
PROCESSED=$(psql_q -c "SELECT count(*) FROM payment_webhook_events")
PAID=$(( $(psql_q -c "SELECT count(*) FROM payments WHERE status = 'captured'") - PAID_BEFORE ))
[ "$PROCESSED" -ge "${R[webhook_requests]}" ] \
  || echo "note: $EVENTS distinct events for ${R[webhook_requests]} requests: $((R[webhook_requests] - PROCESSED)) were duplicates" >&2

mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
FMT='%-24s %9s %8s %8s %9s %-13s %6s %10s %8s %9s %9s\n'
header() {
  printf '\n%s\n' "$1"
  printf "$FMT" "endpoint" "req/s" "p50 ms" "p99 ms" "ceiling" "ceiling from" "ratio" "cpu us/req" "peak MB" "pg bare" "pg host"
}
row() {   # NAME LABEL CEILING CEILING_LABEL [PGBENCH_BARE PGBENCH_HOST]: CEILING "none" for no ceiling
  local c=${R[$3_rps]:-} r=-
  [ -z "$c" ] || r=$(ratio "${R[$1_rps]}" "$c")
  printf "$FMT" "$2" "${R[$1_rps]}" "${R[$1_p50]}" "${R[$1_p99]}" "${c:--}" "$4" "$r" "${R[$1_us]:--}" \
    "$(mb "${R[$1_rss]:-0}")" "${R[${5:-none}_rps]:--}" "${R[${6:-none}_rps]:--}"
}
rows() {   # PREFIX ("" for this build, "b_" for the baseline)
  row "${1}orders" "POST /orders" orders_pg "pgbench host" none orders_pg
  row "${1}get" "GET /orders/:id" bare_get "bare_get" get_bare_pg get_pg
  row "${1}list" "GET /orders (page 1)" bare_list "bare_get" list_bare_pg list_pg
  row "${1}live" "GET /health/live" bare "bare_pistache"
}
tail_line() {   # NAME LABEL
  printf '  %-24s %-3s (p99/p50 %s)\n' "$2" \
    "$(awk -v t="${R[$1_tail]}" 'BEGIN { print (t != "null" && t <= 4 ? "yes" : "NO") }')" "${R[$1_tail]}"
}
tail_lines() {   # PREFIX
  tail_line "${1}orders" "POST /orders"
  tail_line "${1}get" "GET /orders/:id"
  tail_line "${1}list" "GET /orders (page 1)"
  tail_line "${1}live" "GET /health/live"
}

header "this build: $BUILD"
rows ""
row webhook "POST /payments/webhook" none "-"
printf '\nceilings (same run, same database; pgbench -c %s -M prepared, tx/s and average latency ms):\n' "$PGBENCH_CLIENTS"
bare_line() {   # NAME LABEL
  printf '  %-30s %9s req/s  p50 %s ms  p99 %s ms  cpu %s us/req\n' "$2" "${R[$1_rps]}" "${R[$1_p50]}" \
    "${R[$1_p99]}" "${R[$1_us]}"
}
bare_line bare_get "bare_get GET /orders/:id"
bare_line bare_list "bare_get GET /orders (page 1)"
bare_line bare "bare_pistache GET /health/live"
printf '  %-30s host statements %s (%s ms)\n' "pgbench POST /orders" "${R[orders_pg_rps]}" "${R[orders_pg_lat]}"
printf '  %-30s bare_get statement %s (%s ms), host statements %s (%s ms)\n' "pgbench GET /orders/:id" \
  "${R[get_bare_pg_rps]}" "${R[get_bare_pg_lat]}" "${R[get_pg_rps]}" "${R[get_pg_lat]}"
printf '  %-30s bare_get statement %s (%s ms), host statements %s (%s ms)\n' "pgbench GET /orders (page 1)" \
  "${R[list_bare_pg_rps]}" "${R[list_bare_pg_lat]}" "${R[list_pg_rps]}" "${R[list_pg_lat]}"
printf '\np99 <= 4 x p50:\n'
tail_lines ""
tail_line webhook "POST /payments/webhook"
if [ -n "$BASE" ]; then
  header "baseline: $BASE (measured right after this build, same ceilings)"
  rows b_
  printf '\np99 <= 4 x p50 (baseline):\n'
  tail_lines b_
  printf '\nthis build / baseline, req/s:'
  for n in orders get list live; do printf ' %s %s' "$n" "$(ratio "${R[${n}_rps]}" "${R[b_${n}_rps]}")"; done
  printf '; cpu us/req:'
  for n in orders get list live; do printf ' %s %s' "$n" "$(ratio "${R[${n}_us]}" "${R[b_${n}_us]}")"; done
  printf '\nbaseline ready in %s ms; idle RSS %s MB\n' "${R[b_host_ready_ms]}" "$(mb "${R[b_host_idle_rss]}")"
fi
echo
printf 'ready in %s ms on a migrated database; idle RSS %s MB (4 plugins); webhooks: %s events applied, %s payments captured\n' \
  "$READY_MS" "$(mb "$IDLE_RSS_KB")" "$PROCESSED" "$PAID"
printf 'sequential scans of big tables during the run (hosts, bare_get and pgbench):%s\n' "${SEQ_TEXT:- none}"

endpoint_json() {   # name [ceiling_name ceiling_label]
  printf '{"rps": %s, "p50_ms": %s, "p99_ms": %s, "requests": %s, "non_2xx": %s, "socket_errors": %s, "cpu_s_per_1k": %s, ' \
    "${R[$1_rps]}" "${R[$1_p50]}" "${R[$1_p99]}" "${R[$1_requests]}" "${R[$1_bad]}" "${R[$1_errors]}" "${R[$1_cpu]:-null}"
  printf '"cpu_us_per_request": %s, "peak_rss_kb": %s, "p99_over_p50": %s, "p99_within_4x_p50": %s' \
    "${R[$1_us]:-null}" "${R[$1_rss]:-null}" "${R[$1_tail]}" \
    "$(awk -v t="${R[$1_tail]}" 'BEGIN { print (t != "null" && t <= 4 ? "true" : "false") }')"
  if [ -n "${2:-}" ]; then
    printf ', "ceiling": "%s", "ceiling_rps": %s, "ratio": %s' "$3" "${R[$2_rps]}" "$(ratio "${R[$1_rps]}" "${R[$2_rps]}")"
  fi
  printf '}'
}
read_json() {   # name prefix: a read endpoint with its bare_get ceiling and both pgbench runs beside it
  endpoint_json "$2$1" "bare_$1" bare_get | sed '$ s/}$//'
  printf ', "pgbench_bare_tps": %s, "pgbench_host_tps": %s}' "${R[$1_bare_pg_rps]}" "${R[$1_pg_rps]}"
}
BASELINE_JSON=null
if [ -n "$BASE" ]; then
  BASELINE_JSON=$(cat <<JSON
{"build": "$BASE", "ready_ms": ${R[b_host_ready_ms]}, "idle_rss_kb": ${R[b_host_idle_rss]},
    "post_orders": $(endpoint_json b_orders orders_pg pgbench),
    "get_order": $(read_json get b_),
    "list_orders": $(read_json list b_),
    "health_live": $(endpoint_json b_live bare bare_pistache)}
JSON
)
fi
cat >"$BUILD/bench.json" <<JSON
{
  "duration_s": $DURATION, "connections": $CONNECTIONS, "wrk_threads": $WRK_THREADS,
  "pgbench_clients": $PGBENCH_CLIENTS, "workers": $WORKERS, "cpus": $(nproc),
  "build": "$BUILD",
  "post_orders": $(endpoint_json orders orders_pg pgbench),
  "get_order": $(read_json get ""),
  "list_orders": $(read_json list ""),
  "health_live": $(endpoint_json live bare bare_pistache),
  "webhook": $(endpoint_json webhook), "webhook_events_applied": $PROCESSED, "webhook_distinct_events": $EVENTS,
  "ceilings": {"orders_pgbench_latency_ms": ${R[orders_pg_lat]}, "get_pgbench_latency_ms": ${R[get_pg_lat]},
               "list_pgbench_latency_ms": ${R[list_pg_lat]}, "bare_p50_ms": ${R[bare_p50]}, "bare_p99_ms": ${R[bare_p99]},
               "bare_cpu_us_per_request": ${R[bare_us]},
               "bare_get_order": $(endpoint_json bare_get), "bare_get_list": $(endpoint_json bare_list),
               "get_bare_pgbench_tps": ${R[get_bare_pg_rps]}, "get_bare_pgbench_latency_ms": ${R[get_bare_pg_lat]},
               "list_bare_pgbench_tps": ${R[list_bare_pg_rps]}, "list_bare_pgbench_latency_ms": ${R[list_bare_pg_lat]}},
  "ready_ms": $READY_MS, "idle_rss_kb": $IDLE_RSS_KB,
  "seq_scans_during_run": {$SEQ_JSON},
  "baseline": $BASELINE_JSON
}
JSON
say "wrote $BUILD/bench.json"
