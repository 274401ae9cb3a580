#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default
# 10) from the seed corpus, in a scratch copy (new inputs found are kept only
# with OMS_FUZZ_KEEP=DIR). Fails on the first crash, leak, UB report or
# timeout, printing the reproducer's path. Prints executions per target.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../support/script_lib.sh
. "$here/../support/script_lib.sh"
build=${1:?usage: run.sh BUILD_DIR [SECONDS] [TARGET...]}
seconds=${2:-10}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_order_body fuzz_money fuzz_router fuzz_config fuzz_webhook)
command -v clang++ >/dev/null || fail "clang++ is not installed (./dev deps installs clang and libclang-rt-14-dev)"

step "build the fuzz targets (clang, -fsanitize=fuzzer,address,undefined) in $build"
if [ ! -f "$build/CMakeCache.txt" ]; then
  CXX=clang++ cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1 \
    || { show_log "$build.configure.log"; fail "configuring the fuzz targets failed"; }
fi
cmake --build "$build" -j"${JOBS:-2}" >"$build.build.log" 2>&1 || { show_log "$build.build.log"; fail "building the fuzz targets failed"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/oms-fuzz.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
summary=()
for t in "${targets[@]}"; do
  step "$t for ${seconds}s"
  corpus=${OMS_FUZZ_KEEP:+$OMS_FUZZ_KEEP/$t}
  corpus=${corpus:-$work/$t}
  mkdir -p "$corpus" "$work/artifacts-$t"
  cp -n "$here/corpus/$t/"* "$corpus/" 2>/dev/null || true
  log=$work/$t.log
  if ! "$build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/artifacts-$t/" "$corpus" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    kept=$(mktemp -d "${TMPDIR:-/tmp}/oms-fuzz-crash.XXXXXX")
    cp -r "$work/artifacts-$t" "$kept/"
    fail "$t found a failure; reproducer(s) kept in $kept (run: $build/$t FILE)"
  fi
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  summary+=("$t: $execs executions, coverage $cov, corpus $(ls "$corpus" | wc -l)")
  ok "$t: $execs executions in ${seconds}s, no failure"
done
printf 'fuzz summary (%ss each): %s\n' "$seconds" "$(IFS=';'; echo "${summary[*]}")"
