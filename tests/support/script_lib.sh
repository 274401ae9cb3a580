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
