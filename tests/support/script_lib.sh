# Shared by the shell-script tests (tests/abi, tests/package). Source it:
#   . "$(dirname "${BASH_SOURCE[0]}")/../support/script_lib.sh"
fail() {   # fail MESSAGE: one FAIL line, exit 1
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- $*"; }
ok() { echo "ok: $*"; }
show_log() {   # show_log FILE: its last lines, for the failure report
  [ -f "$1" ] || return 0
  echo "----- last lines of $1" >&2
  tail -n 40 "$1" >&2 || true
  echo "-----" >&2
}
# scratch NAME: a new temporary directory in $tmp, removed at exit unless
# OMS_KEEP_TMP=1 (then its path is printed). Sets the EXIT trap.
scratch() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/oms-$1.XXXXXX")
  trap '_scratch_cleanup' EXIT
}
_scratch_cleanup() {
  local rc=$?
  if [ "${OMS_KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf -- "$tmp"; fi
  exit "$rc"
}
