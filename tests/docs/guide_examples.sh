#!/usr/bin/env bash
# The plugin guide's C++ examples compile (issue 19, item 5).
#
#   tests/docs/guide_examples.sh [GUIDE.md]      (default: docs/plugin-guide.md)
#
# Every ```cpp block of the guide is compiled with
#   g++ -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I sdk/include
# and, when clang++ with libc++ is installed, with clang++ -stdlib=libc++ too
# (the guide promises both toolchains). Nothing is linked or run: no database.
#
# Most blocks are fragments. The line just before a block (blank lines
# between are allowed) may say how to compile it, as an HTML comment that
# readers of the rendered guide never see:
#
#   <!-- example: file -->           a whole source file, compiled as it is
#   <!-- example: declarations -->   namespace-scope code (functions, OMS_PLUGIN)
#                                    after the preamble below
#   <!-- example: statements -->     the body of a function returning void
#                                    (setup, a job, a command) after the preamble
#   <!-- example: handler -->        the body of a route handler: a function
#                                    returning oms::Response, after the preamble
#   <!-- example: skip (REASON) -->  not compiled; the reason is required
#
# A block without a marker is compiled as a whole file, as it is, so a new
# example can never escape the test: it compiles or the test fails. A marker
# that is not followed by a C++ block, an unknown kind, or a skip without a
# reason fails the test too.
#
# The preamble (end of this file's set-up) holds what the prose implies and
# the guide does not repeat in every block: the SDK's headers, the `p` of a
# setup function, the `req` and `tx` of a handler, the handlers and helpers
# the examples name. Fragment blocks see only those names and the SDK.
# Fragments may leave variables unused (`int64_t id = row.get<...>` shows a
# call, nothing more), so -Wunused-variable and -Wunused-but-set-variable are
# off in them, and only in them; every other warning is an error.
#
# Fragments are compiled together, in one translation unit per compiler:
# statements and handler blocks one function each, declarations blocks one
# namespace each (so each may define its own setup; its OMS_PLUGIN's entry
# point is renamed after the block). A declarations block therefore holds no
# #include: a block that needs its own includes is a file. File blocks are
# compiled alone, without the preamble.
# Every block is preceded by a #line directive, so the compiler's messages
# name the guide's own lines. On failure the test prints each failing block's
# line in the guide, its kind, and the compiler's message.
#
# Environment: OMS_SOURCE_DIR (the source tree; default: two levels up),
# OMS_SDK_INCLUDE (default: $OMS_SOURCE_DIR/sdk/include), OMS_GXX (g++),
# OMS_CLANGXX (clang++; "none" skips it), OMS_JOBS (parallel compilers;
# default: the number of CPUs), OMS_KEEP_TMP=1 keeps the generated sources.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script=$here/$(basename "${BASH_SOURCE[0]}")
root=${OMS_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
# shellcheck source-path=SCRIPTDIR source=../support/script_lib.sh
. "$here/../support/script_lib.sh"

guide=${1:-$root/docs/plugin-guide.md}
[ -f "$guide" ] || fail "no guide at $guide"
guide=$(cd "$(dirname "$guide")" && pwd)/$(basename "$guide")
case "$guide" in
  "$root"/*) guide_name=${guide#"$root"/} ;;   # as the messages show it
  *) guide_name=$guide ;;
esac
sdk_include=${OMS_SDK_INCLUDE:-$root/sdk/include}
[ -f "$sdk_include/oms/plugin.hpp" ] || fail "no SDK headers in $sdk_include"
gxx=${OMS_GXX:-g++}
clangxx=${OMS_CLANGXX:-clang++}
jobs=${OMS_JOBS:-$(nproc 2>/dev/null || echo 2)}
started=$SECONDS

tmp=""
scratch guide-examples   # sets $tmp, removed at exit

# --- the preamble of declarations and statements blocks -----------------------
preamble_line=$((LINENO + 2))
cat >"$tmp/preamble.hpp" <<'EOF'
#include <oms/plugin.hpp>
#include <oms/pagination.hpp>
#include <oms/money.hpp>
#include <oms/bulkhead.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// In setup (§2): the plugin being described.
extern oms::Plugin& p;
// In a handler (§4, §7): the request, its transaction and the values the
// prose works with (ids and names from the path or the body, a CSV text, an
// order document, a list of items, a page's items).
extern oms::Request& req;
extern oms::Tx& tx;
extern std::string id, name, email, csv;
extern oms::json order, items, data;

// The route handlers of §4.
oms::Response create(oms::Request& req);
oms::Response show(oms::Request& req);
oms::Response destroy(oms::Request& req);
oms::Response import(oms::Request& req);
oms::Response batch(oms::Request& req);
oms::Response list(oms::Request& req);

// The orders plugin's helpers of §7 (plugins/orders/order_json.hpp).
oms::Pending load_order_later(oms::Tx& tx, const std::string& order_id);
std::string payments_of(oms::Tx& tx, const std::string& order_id);
struct OrderText {
    std::string customer_id, body;
};
std::optional<OrderText> order_from(const oms::Result& rows);

// Subscribers of §8.
void on_any_order_event(oms::Tx& tx, std::string_view event, const oms::json& payload);
void record(oms::Tx& tx, std::string_view event, const oms::json& payload);

// "Your client" of §10's task.
struct Mailer {
    void send(const std::string& to, const std::string& idempotency_key);
};
extern Mailer mailer;

// A plugin's setup function (§2, §14).
void setup(oms::Plugin& p);
EOF
{ echo "#line $preamble_line \"$script\""; cat "$tmp/preamble.hpp"; } >"$tmp/preamble.hpp.new"
mv "$tmp/preamble.hpp.new" "$tmp/preamble.hpp"

# --- extraction ------------------------------------------------------------------
# Writes blocks/N.cpp (the code, fence indentation removed) and a manifest line
# "N FIRST_CODE_LINE FENCE_LINE LAST_CODE_LINE KIND REASON" per C++ block.
# Fences follow CommonMark: ``` or ~~~, closed by the same character, at least as long.
mkdir "$tmp/blocks"
awk -v out="$tmp/blocks" -v manifest="$tmp/manifest" -v guide="$guide_name" '
function problem(line, msg) { printf "%s:%d: %s\n", guide, line, msg > "/dev/stderr"; bad = 1 }
function is_cpp(info) { info = tolower(info); return info == "cpp" || info == "c++" || info == "cxx" || info == "cc" || info == "hpp" }
BEGIN { n = 0; infence = 0; marker = ""; marker_line = 0; bad = 0 }
{
  line = $0
  if (infence) {
    if (line ~ /^ *(```+|~~~+)[ \t]*$/) {
      fence = line; sub(/^ */, "", fence); sub(/[ \t]*$/, "", fence)
      if (substr(fence, 1, 1) == fchar && length(fence) >= flen) {
        infence = 0
        if (cpp) { close(file); printf "%d %d %d %d %s\n", n, fence_line + 1, fence_line, NR - 1, kind_line > manifest }
        next
      }
    }
    if (cpp) {
      code = line
      for (i = 0; i < indent && substr(code, 1, 1) == " "; i++) code = substr(code, 2)
      print code > file
    }
    next
  }
  if (line ~ /^ *(```+|~~~+)/) {
    indent = 0; while (substr(line, indent + 1, 1) == " ") indent++
    rest = substr(line, indent + 1)
    fchar = substr(rest, 1, 1); flen = 0
    while (substr(rest, flen + 1, 1) == fchar) flen++
    info = substr(rest, flen + 1); sub(/^[ \t]*/, "", info); sub(/[ \t{].*$/, "", info)
    infence = 1; fence_line = NR; cpp = is_cpp(info)
    if (cpp) {
      n++; file = out "/" n ".cpp"; printf "" > file
      kind_line = (marker == "") ? "unmarked" : marker
    } else if (marker != "") {
      problem(marker_line, "the marker \"" marker "\" is followed by a " (info == "" ? "plain" : info) " block, not a C++ one")
    }
    marker = ""
    next
  }
  if (line ~ /^[ \t]*<!--[ \t]*example:/) {
    m = line; sub(/^[ \t]*<!--[ \t]*example:[ \t]*/, "", m)
    if (!sub(/[ \t]*-->[ \t]*$/, "", m)) { problem(NR, "a marker is one line: <!-- example: KIND -->"); next }
    if (marker != "") problem(marker_line, "the marker \"" marker "\" is followed by another marker, not a C++ block")
    if (m ~ /^(file|declarations|statements|handler)$/) { }
    else if (m ~ /^skip[ \t]*\(.*[^ \t].*\)$/) { }
    else if (m ~ /^skip/) { problem(NR, "a skip gives its reason: <!-- example: skip (why this block cannot compile) -->"); m = "" }
    else { problem(NR, "unknown example kind \"" m "\" (file, declarations, statements, handler or skip (reason))"); m = "" }
    marker = m; marker_line = NR
    next
  }
  if (line ~ /^[ \t]*$/) next
  if (marker != "") { problem(marker_line, "the marker \"" marker "\" is not followed by a C++ block"); marker = "" }
}
END {
  if (infence) problem(fence_line, "this code block is never closed")
  if (marker != "") problem(marker_line, "the marker \"" marker "\" is not followed by a C++ block")
  exit bad
}' "$guide" || fail "the examples of $guide_name are not all marked correctly (see above)"
touch "$tmp/manifest"

# --- translation units -----------------------------------------------------------
# fragments.cpp: the preamble, then every statements and handler block (a
# function each) and declarations block (a namespace each); every file or
# unmarked block: a translation unit of its own.
total=0; skipped=0
declare -A count=([file]=0 [declarations]=0 [statements]=0 [handler]=0 [unmarked]=0)
declare -A block_kind=() block_fence=() block_last=()
skips=()
units=()
fragments=$tmp/fragments.cpp
echo "#include \"$tmp/preamble.hpp\"" >"$fragments"
have_fragments=0
while read -r n first fence last kind; do
  total=$((total + 1))
  block_fence[$n]=$fence
  block_last[$n]=$last
  block_kind[$n]=$kind
  line_directive="#line $first \"$guide_name\""
  case "$kind" in
    skip*)
      skipped=$((skipped + 1))
      reason=${kind#skip}
      skips+=("$guide_name:$fence ${reason# }")
      continue ;;
    statements | handler)
      count[$kind]=$((count[$kind] + 1))
      have_fragments=1
      if [ "$kind" = handler ]; then ret=oms::Response; else ret=void; fi
      {
        echo '#pragma GCC diagnostic push'
        echo '#pragma GCC diagnostic ignored "-Wunused-variable"'
        echo '#pragma GCC diagnostic ignored "-Wunused-but-set-variable"'
        echo "$ret guide_example_line_$fence() {"
        echo "$line_directive"
        cat "$tmp/blocks/$n.cpp"
        echo "}"
        echo '#pragma GCC diagnostic pop'
      } >>"$fragments" ;;
    declarations)
      # In a namespace of its own, so blocks may each define a setup or a
      # helper; each OMS_PLUGIN defines an entry point of its own name.
      count[$kind]=$((count[$kind] + 1))
      have_fragments=1
      {
        echo "#define oms_plugin_entry guide_example_line_${fence}_entry"
        echo "namespace guide_example_line_$fence {"
        echo "$line_directive"
        cat "$tmp/blocks/$n.cpp"
        echo "}"
        echo "#undef oms_plugin_entry"
      } >>"$fragments" ;;
    file | unmarked)
      count[$kind]=$((count[$kind] + 1))
      { echo "$line_directive"; cat "$tmp/blocks/$n.cpp"; } >"$tmp/block_$n.cpp"
      units+=("$tmp/block_$n.cpp") ;;
  esac
done <"$tmp/manifest"
[ "$total" -gt 0 ] || fail "$guide_name has no C++ block: is this the plugin guide?"
# The fragments first: the longest compile starts first.
if [ "$have_fragments" = 1 ]; then units=("$fragments" ${units[@]+"${units[@]}"}); fi

# --- compilers -------------------------------------------------------------------
command -v "$gxx" >/dev/null || fail "$gxx not found (the guide promises g++)"
compilers=("$gxx")
declare -A flags=(["$gxx"]="")
clang_note=""
if [ "$clangxx" = none ]; then
  clang_note="OMS_CLANGXX=none: compiled with g++ only"
elif command -v "$clangxx" >/dev/null; then
  if echo '#include <string>' | "$clangxx" -std=c++20 -stdlib=libc++ -fsyntax-only -x c++ - 2>/dev/null; then
    compilers+=("$clangxx")
    flags[$clangxx]="-stdlib=libc++"
  else
    clang_note="$clangxx has no libc++ here: compiled with g++ only"
  fi
else
  clang_note="no $clangxx here: compiled with g++ only"
fi

# --- compile, in parallel ----------------------------------------------------------
# One job per (compiler, unit); the output of job J goes to out/J.log, its
# status to out/J.rc.
mkdir "$tmp/out"
job=0
declare -A job_unit=() job_cxx=()
for cxx in "${compilers[@]}"; do
  for unit in "${units[@]}"; do
    job=$((job + 1))
    job_unit[$job]=$unit
    job_cxx[$job]=$cxx
    # shellcheck disable=SC2086  # flags are words
    ( rc=0
      "$cxx" -std=c++20 -Wall -Wextra -Werror -fsyntax-only ${flags[$cxx]} -I "$sdk_include" \
        -fdiagnostics-color=never "$unit" >"$tmp/out/$job.log" 2>&1 || rc=$?
      echo "$rc" >"$tmp/out/$job.rc" ) &
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  done
done
wait

# --- report ------------------------------------------------------------------------
# The blocks a compiler's message names (by the guide's line numbers).
blocks_named_in() {
  local log=$1 n l lines
  lines=$(grep -oE "$(printf '%s' "$guide_name" | sed 's/[].[\*^$+?(){}|]/\\&/g'):[0-9]+" "$log" | sed 's/.*://' | sort -nu) || true
  for n in "${!block_fence[@]}"; do
    for l in $lines; do
      if [ "$l" -gt "${block_fence[$n]}" ] && [ "$l" -le "${block_last[$n]}" ]; then
        echo "$n"
        break
      fi
    done
  done | sort -n
}

failed=0
for j in $(seq 1 "$job"); do
  rc=$(cat "$tmp/out/$j.rc" 2>/dev/null || echo 1)
  [ "$rc" = 0 ] && continue
  failed=1
  cxx=${job_cxx[$j]}
  unit=${job_unit[$j]}
  echo "=== $cxx -std=c++20 -Wall -Wextra -Werror -fsyntax-only ${flags[$cxx]} -I $sdk_include" >&2
  named=$(blocks_named_in "$tmp/out/$j.log")
  if [ -z "$named" ]; then
    echo "FAIL: a unit of the guide's examples does not compile, outside any block's lines (the preamble in $script, or the SDK headers):" >&2
  fi
  for n in $named; do
    kind=${block_kind[$n]}
    hint=""
    [ "$kind" = unmarked ] && hint=" (no <!-- example: ... --> marker before it, so it was compiled as a whole file)"
    echo "FAIL: the example at $guide_name:${block_fence[$n]} ($kind) does not compile with $cxx$hint" >&2
  done
  echo "--- $cxx says:" >&2
  sed "s|$tmp/||g" "$tmp/out/$j.log" | head -n 80 >&2
  lines=$(wc -l <"$tmp/out/$j.log")
  [ "$lines" -gt 80 ] && echo "... ($((lines - 80)) more lines)" >&2
done

summary="$total C++ blocks in $guide_name: ${count[file]} file, ${count[unmarked]} unmarked (as files), ${count[declarations]} declarations, ${count[statements]} statements, ${count[handler]} handler, $skipped skipped"
for s in "${skips[@]}"; do summary+=$'\n'"  skipped $s"; done
[ -n "$clang_note" ] && summary+=$'\n'"note: $clang_note"
names=$(printf '%s, ' "${compilers[@]}")
if [ "$failed" = 1 ]; then
  echo "$summary" >&2
  fail "the guide's examples do not all compile (with ${names%, }); the messages above name the guide's lines"
fi
echo "$summary"
ok "every compiled example compiles with ${names%, } ($((SECONDS - started)) s, ${#units[@]} units per compiler)"
