#!/usr/bin/env bash
# ABI test: a third-party plugin builds against the *installed* SDK only, with
# g++/libstdc++ and with clang++/libc++, and the host (built here with the
# default toolchain) loads and serves each one; the SDK's test kit runs a
# plugin's own tests against that host.
#
#   a. cmake --install $OMS_BUILD_DIR --component sdk into a temporary prefix
#   b. build examples/hello out of tree with g++            -> $tmp/gcc/hello.so
#   c. build it with clang++ -stdlib=libc++                 -> $tmp/clang/hello.so
#      and check that this .so needs libc++ while the host does not
#   d. serve the clang-built plugin alone on a fresh database: GET /hello/world
#      twice answers 200, count 1 then 2, built_with "clang libc++"; a too long
#      name answers 400 (an exception thrown and caught inside the plugin)
#   e. the same with the g++-built plugin ("gcc libstdc++")
#   f. the test kit: examples/audit built with g++ against the installed SDK
#      (its oms_add_plugin_test() pointed at this host and this build's stock
#      plugins), then its `ctest`: the installed oms-plugin-test driver starts
#      its own PostgreSQL with the installed pgcluster.sh (or, with
#      DATABASE_URL set, a fresh database there), the host with users,
#      inventory, orders and audit.so, and runs examples/audit/test/audit_test.sh
#   g. examples/loyalty (only public contracts: an after-commit subscriber, a
#      service call, its own declared event) built with g++ and with
#      clang++/libc++, each tested with the kit beside all four stock plugins
#
# Environment:
#   OMS_BUILD_DIR         the main build dir (configured, oms-host and the plugins built)
#   OMS_SOURCE_DIR        the source tree (for examples/hello, audit and loyalty)
#   OMS_HOST_BIN          the oms-host binary
#   OMS_PLUGIN_BUILD_DIR  the folder of the stock plugins this build made
#   OMS_TEST_PG_DIR       dir whose file `url` holds a postgresql:// URL of a running
#                         throwaway server (DATABASE_URL, when set, wins)
#   OMS_KEEP_TMP=1        keep the temporary dir (build trees, host logs) for debugging
# Each serve step creates its own database on that server and drops it at exit.
# Everything listens on 127.0.0.1 only. Prints FAIL lines and exits 1 on failure.
set -euo pipefail
# shellcheck source=../support/script_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/script_lib.sh"

for v in OMS_BUILD_DIR OMS_SOURCE_DIR OMS_HOST_BIN OMS_PLUGIN_BUILD_DIR; do
  [ -n "${!v:-}" ] || fail "$v is not set"
done
[ -n "${DATABASE_URL:-}" ] || [ -n "${OMS_TEST_PG_DIR:-}" ] || fail "set OMS_TEST_PG_DIR or DATABASE_URL"
[ -x "$OMS_HOST_BIN" ] || fail "OMS_HOST_BIN=$OMS_HOST_BIN is not an executable (build oms-host first)"
for ex in hello audit loyalty; do
  [ -f "$OMS_SOURCE_DIR/examples/$ex/CMakeLists.txt" ] || fail "no examples/$ex under OMS_SOURCE_DIR=$OMS_SOURCE_DIR"
done
for tool in cmake ctest g++ clang++ psql curl jq readelf ldd timeout; do
  command -v "$tool" >/dev/null || fail "required tool '$tool' is not installed"
done

# --- scratch space, databases, host process: all cleaned up on exit -----------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/oms-abi.XXXXXX")
host_pid=
databases=()
admin_url=

stop_host() {   # stop_host -> the host's exit status; SIGKILL after 20 s
  local pid=$host_pid rc=0 _
  host_pid=
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL: oms-host (pid $pid) ignored SIGTERM for 20 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

cleanup() {
  local rc=$? db
  trap - EXIT INT TERM
  stop_host || true
  for db in "${databases[@]}"; do
    PGCONNECT_TIMEOUT=10 timeout 30 psql -d "$admin_url" -X -q -v ON_ERROR_STOP=1 \
      -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 \
      || echo "warning: could not drop database $db" >&2
  done
  if [ "${OMS_KEEP_TMP:-0}" = 1 ]; then
    echo "kept $tmp" >&2
  else
    rm -rf -- "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the database server -----------------------------------------------------
if [ -n "${DATABASE_URL:-}" ]; then
  admin_url=$DATABASE_URL
else
  [ -s "$OMS_TEST_PG_DIR/url" ] || fail "$OMS_TEST_PG_DIR/url is missing (is the pg fixture running?)"
  admin_url=$(head -n 1 "$OMS_TEST_PG_DIR/url")
fi
url_re='^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$'
[[ "$admin_url" =~ $url_re ]] || fail "not a postgresql:// URL: $admin_url"
url_base=${BASH_REMATCH[1]} url_query=${BASH_REMATCH[4]}

# new_database NAME: creates the fresh database NAME (dropped at exit) and sets
# DB_URL to its URL. Not for $(...): the drop list must grow in this shell.
new_database() {
  local db=$1
  databases+=("$db")
  PGCONNECT_TIMEOUT=10 timeout 30 psql -d "$admin_url" -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE \"$db\"" >"$tmp/psql.log" 2>&1 \
    || { show_log "$tmp/psql.log"; fail "could not create database $db on the test server"; }
  DB_URL="$url_base/$db$url_query"
}
db_prefix="oms_abi_$$_$RANDOM"

# --- a. install the SDK --------------------------------------------------------
step "a. cmake --install --component sdk"
prefix=$tmp/prefix
timeout 60 cmake --install "$OMS_BUILD_DIR" --prefix "$prefix" --component sdk >"$tmp/install.log" 2>&1 \
  || { show_log "$tmp/install.log"; fail "cmake --install $OMS_BUILD_DIR --component sdk failed"; }
config=$(find "$prefix" -name OmsSdkConfig.cmake -print -quit)
[ -n "$config" ] || fail "the sdk component installs no OmsSdkConfig.cmake (installed: $(cd "$prefix" && find . -type f | tr '\n' ' '))"
for f in OmsSdkConfigVersion.cmake OmsSdkTargets.cmake OmsPlugin.cmake OmsEmbedMigrations.cmake; do
  [ -f "$(dirname "$config")/$f" ] || fail "the sdk component does not install $f beside $config"
done
for h in oms/abi.h oms/plugin.hpp; do
  [ -n "$(find "$prefix" -path "*/include/$h" -print -quit)" ] || fail "the sdk component does not install include/$h"
done
# The test kit: its CMake module beside the config, the driver and the
# project's own pgcluster.sh (not a fork) beside it.
[ -f "$(dirname "$config")/OmsPluginTest.cmake" ] || fail "the sdk component does not install OmsPluginTest.cmake beside $config"
driver=$(find "$prefix" -name oms-plugin-test -type f -print -quit)
[ -n "$driver" ] || fail "the sdk component does not install the test kit's driver oms-plugin-test"
kit_dir=${driver#"$prefix"/}
kit_dir=${kit_dir%/oms-plugin-test}
for f in oms-plugin-test pgcluster.sh; do
  [ -x "$prefix/$kit_dir/$f" ] || fail "the sdk component does not install an executable $kit_dir/$f"
done
cmp -s "$prefix/$kit_dir/pgcluster.sh" "$OMS_SOURCE_DIR/scripts/pgcluster.sh" \
  || fail "the installed $kit_dir/pgcluster.sh differs from scripts/pgcluster.sh"
ok "SDK installed in $prefix (test kit in $kit_dir)"

# Every installed header compiles on its own, warnings as errors, under both
# toolchains a plugin author may use (libc++ lacks some of libstdc++'s <charconv>).
step "a2. each installed header alone, g++/libstdc++ and clang++/libc++"
include_dir=$(dirname "$(find "$prefix" -path "*/include/oms/abi.h" -print -quit)")/..
for header in "$include_dir"/oms/*; do
  name=oms/$(basename "$header")
  printf '#include <%s>\nint main() { return 0; }\n' "$name" >"$tmp/header.cpp"
  for cxx in "g++" "clang++ -stdlib=libc++"; do
    # shellcheck disable=SC2086
    $cxx -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I "$include_dir" "$tmp/header.cpp" >"$tmp/header.log" 2>&1 \
      || { show_log "$tmp/header.log"; fail "<$name> does not compile alone with $cxx"; }
  done
done
ok "every header of $include_dir/oms compiles alone with g++ and clang++/libc++"

# --- b./c. build examples/hello out of tree ----------------------------------
# build_example (example_lib.sh, shared with tests/package/install.sh) builds
# against $prefix only and checks the export and the library dependencies.
# shellcheck source=example_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/example_lib.sh"
build_hello() {   # build_hello DIR CXX [cmake args...]
  local dir=$1 cxx=$2
  shift 2
  build_example "$OMS_SOURCE_DIR/examples/hello" "$dir" "$cxx" "$prefix" "$@"
}

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p'; }

step "b. build examples/hello with g++ (libstdc++)"
build_hello "$tmp/gcc" g++
gcc_needed=$(needed "$tmp/gcc/hello.so")
if grep -q '^libc++' <<<"$gcc_needed"; then fail "the g++-built hello.so needs libc++: $gcc_needed"; fi
ok "g++ build: $tmp/gcc/hello.so (NEEDED: ${gcc_needed//$'\n'/ })"

step "c. build examples/hello with clang++ -stdlib=libc++"
build_hello "$tmp/clang" clang++ \
  -DCMAKE_CXX_FLAGS=-stdlib=libc++ \
  -DCMAKE_EXE_LINKER_FLAGS=-stdlib=libc++ \
  -DCMAKE_SHARED_LINKER_FLAGS=-stdlib=libc++ \
  -DCMAKE_MODULE_LINKER_FLAGS=-stdlib=libc++
clang_needed=$(needed "$tmp/clang/hello.so")
grep -q '^libc++\.so' <<<"$clang_needed" \
  || fail "the clang-built hello.so does not need libc++.so (NEEDED: ${clang_needed//$'\n'/ })"
if grep -q '^libstdc++' <<<"$clang_needed"; then fail "the clang-built hello.so also needs libstdc++: $clang_needed"; fi
host_libs=$(ldd "$OMS_HOST_BIN") || fail "ldd cannot read $OMS_HOST_BIN"
if grep -q 'libc++' <<<"$host_libs"; then
  fail "the host itself links libc++, so this test proves nothing: $(grep 'libc++' <<<"$host_libs")"
fi
grep -q 'libstdc++' <<<"$host_libs" || fail "the host does not link libstdc++ (built with another toolchain?): $host_libs"
ok "clang build: $tmp/clang/hello.so (NEEDED: ${clang_needed//$'\n'/ }); the host uses libstdc++ only"

# --- d./e. serve each plugin ---------------------------------------------------
# serve_and_check LABEL SO EXPECTED_BUILT_WITH
serve_and_check() {
  local label=$1 so=$2 expect_built=$3
  local run=$tmp/run-$label db_url port='' i status body long
  mkdir -p "$run/plugins"
  cp "$so" "$run/plugins/hello.so"
  new_database "${db_prefix}_$label"
  db_url=$DB_URL
  # Run in an empty dir, so no etc/oms.conf or .env of the caller is picked up.
  (
    cd "$run"
    exec env -u OMS_CONFIG -u OMS_DOTENV -u OMS_PLUGINS -u OMS_ENV \
      PORT=0 OMS_BIND=127.0.0.1 OMS_PORT_FILE="$run/port" DATABASE_URL="$db_url" \
      OMS_PLUGIN_DIR="$run/plugins" OMS_AUTO_MIGRATE=true OMS_WORKERS=2 OMS_DB_WAIT_SECONDS=5 \
      "$OMS_HOST_BIN" serve
  ) >"$run/host.log" 2>&1 &
  host_pid=$!

  for i in $(seq 1 150); do   # 15 s
    [ -s "$run/port" ] && break
    if ! kill -0 "$host_pid" 2>/dev/null; then
      wait "$host_pid" 2>/dev/null && status=0 || status=$?
      host_pid=
      show_log "$run/host.log"
      fail "$label: oms-host exited (status $status) before writing its port file"
    fi
    sleep 0.1
  done
  [ -s "$run/port" ] || { show_log "$run/host.log"; fail "$label: no port file from oms-host within 15 s"; }
  port=$(tr -d '[:space:]' <"$run/port")
  [[ "$port" =~ ^[0-9]+$ ]] || fail "$label: port file holds '$port'"

  for i in 1 2; do
    status=$(curl -sS --max-time 10 -o "$run/body$i" -w '%{http_code}' "http://127.0.0.1:$port/hello/world") \
      || { show_log "$run/host.log"; fail "$label: GET /hello/world #$i: curl failed"; }
    body=$(cat "$run/body$i")
    [ "$status" = 200 ] || { show_log "$run/host.log"; fail "$label: GET /hello/world #$i answered $status: $body"; }
    jq -e . >/dev/null 2>&1 <<<"$body" || fail "$label: GET /hello/world #$i: body is not JSON: $body"
    [ "$(jq -r .greeting <<<"$body")" = "hello, world" ] || fail "$label: #$i: greeting is not \"hello, world\": $body"
    [ "$(jq -r .count <<<"$body")" = "$i" ] || fail "$label: #$i: count is not $i: $body"
    [ "$(jq -r .built_with <<<"$body")" = "$expect_built" ] \
      || fail "$label: #$i: built_with is not \"$expect_built\": $body"
    echo "  GET /hello/world -> $status $body"
  done
  # An oms::Error thrown in the plugin (its own C++ runtime) becomes a problem answer.
  long=$(printf 'x%.0s' $(seq 1 65))
  status=$(curl -sS --max-time 10 -o "$run/body3" -w '%{http_code}' "http://127.0.0.1:$port/hello/$long") \
    || { show_log "$run/host.log"; fail "$label: GET /hello/<65 bytes>: curl failed"; }
  body=$(cat "$run/body3")
  if [ "$status" != 400 ] || [ "$(jq -r .code <<<"$body" 2>/dev/null)" != name_too_long ]; then
    show_log "$run/host.log"
    fail "$label: GET /hello/<65 bytes> answered $status, not 400 name_too_long: $body"
  fi
  echo "  GET /hello/<65 bytes> -> $status $body"

  stop_host || { status=$?; show_log "$run/host.log"; fail "$label: oms-host exited with status $status after SIGTERM"; }
  ok "$label: the host served the $expect_built plugin and stopped cleanly"
}

step "d. serve the clang/libc++ plugin"
serve_and_check clang "$tmp/clang/hello.so" "clang libc++"

step "e. serve the g++/libstdc++ plugin"
serve_and_check gcc "$tmp/gcc/hello.so" "gcc libstdc++"

# --- f. the test kit -------------------------------------------------------------
# kit_example NAME LABEL PASS_LINE CXX [cmake args...]: builds examples/NAME
# against the installed SDK, then runs its ctest (oms_add_plugin_test), which
# must print PASS_LINE from the example's own script.
kit_example() {
  local name=$1 label=$2 pass=$3 cxx=$4
  shift 4
  local started=$SECONDS dir=$tmp/$name-$label build_secs
  build_example "$OMS_SOURCE_DIR/examples/$name" "$dir" "$cxx" "$prefix" \
    -DOMS_HOST="$OMS_HOST_BIN" -DOMS_STOCK_PLUGIN_DIR="$OMS_PLUGIN_BUILD_DIR" "$@"
  # The test runs the installed driver (not the source tree's) with this host.
  grep -q "\"$prefix/$kit_dir/oms-plugin-test\"" "$dir/CTestTestfile.cmake" \
    || fail "examples/$name's test does not run $prefix/$kit_dir/oms-plugin-test: $(grep add_test "$dir/CTestTestfile.cmake")"
  grep -q "\"--host\" \"$OMS_HOST_BIN\"" "$dir/CTestTestfile.cmake" \
    || fail "examples/$name's test does not use OMS_HOST=$OMS_HOST_BIN: $(grep add_test "$dir/CTestTestfile.cmake")"
  build_secs=$((SECONDS - started))
  # Its own PostgreSQL (pgcluster.sh), unless the suite runs on DATABASE_URL.
  local kit_env=(env -u OMS_TEST_PG_DIR) kit_log=$tmp/$name-$label-ctest.log
  [ -n "${DATABASE_URL:-}" ] || kit_env+=(-u DATABASE_URL)
  kit_fail() {   # the ctest output (with the driver's host-log tail), then FAIL
    { echo "----- last lines of $kit_log"; tail -n 120 "$kit_log"; echo "-----"; } >&2
    fail "$1"
  }
  "${kit_env[@]}" timeout 240 ctest --test-dir "$dir" --output-on-failure --no-tests=error -V \
    >"$kit_log" 2>&1 || kit_fail "the ctest of examples/$name ($label) failed"
  grep -q "$pass" "$kit_log" || kit_fail "the ctest of examples/$name passed without its script saying '$pass'"
  grep -q 'oms-plugin-test: PASS' "$kit_log" || kit_fail "the ctest of examples/$name passed without the driver saying PASS"
  grep -E '^(1: )?(ok|oms-plugin-test):' "$kit_log" | sed 's/^1: /  /'
  ok "examples/$name ($label): built in ${build_secs} s; its ctest passed in $((SECONDS - started - build_secs)) s"
}

step "f. examples/audit against the installed SDK: build (g++), then its ctest (oms_add_plugin_test)"
kit_example audit gcc 'PASS: audit records order events' g++

# The Done-means example: only public contracts (after-commit subscriber, a
# service call, its own declared event), with both toolchains.
step "g. examples/loyalty against the installed SDK, g++ and clang++/libc++, each tested with the kit"
kit_example loyalty gcc 'PASS: loyalty points' g++
kit_example loyalty clang 'PASS: loyalty points' clang++ \
  -DCMAKE_CXX_FLAGS=-stdlib=libc++ -DCMAKE_EXE_LINKER_FLAGS=-stdlib=libc++ \
  -DCMAKE_SHARED_LINKER_FLAGS=-stdlib=libc++ -DCMAKE_MODULE_LINKER_FLAGS=-stdlib=libc++
grep -q '^libc++\.so' <<<"$(needed "$tmp/loyalty-clang/loyalty.so")" || fail "the clang-built loyalty.so does not need libc++"

echo "PASS: out-of-tree plugin builds against the installed SDK with g++/libstdc++ and clang++/libc++, and both serve; the test kit runs the tests of examples/audit and examples/loyalty (both toolchains)"
