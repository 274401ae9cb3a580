#!/usr/bin/env bash
# systemd unit test: etc/systemd/oms.service passes `systemd-analyze verify`
# without a single warning, carries the hardening and settings the
# deployment relies on, stops within the host's shutdown timeout, and keeps
# systemd's own exposure score low.
#
# verify needs ExecStart's binary to exist, so it checks a copy whose
# /usr/bin/oms-host (the packaged path) is replaced by $OMS_HOST_BIN.
#
# Environment: OMS_SOURCE_DIR, OMS_HOST_BIN.
set -euo pipefail
# shellcheck source=../support/script_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/script_lib.sh"

for v in OMS_SOURCE_DIR OMS_HOST_BIN; do
  [ -n "${!v:-}" ] || fail "$v is not set"
done
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (./dev deps installs systemd)"
unit=$OMS_SOURCE_DIR/etc/systemd/oms.service
[ -f "$unit" ] || fail "no $unit"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/oms-unit.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

# --- the settings the package and the docs rely on ----------------------------------
grep -q '^ExecStart=/usr/bin/oms-host ' "$unit" || fail "ExecStart does not run the packaged /usr/bin/oms-host"
for line in 'User=oms' 'Group=oms' 'EnvironmentFile=/etc/oms/oms.env' 'Restart=on-failure' \
            'RestartPreventExitStatus=2' \
            'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' \
            'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' 'ProtectKernelLogs=yes' \
            'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'SystemCallFilter=@system-service' \
            'CapabilityBoundingSet=' 'MemoryDenyWriteExecute=yes' 'LockPersonality=yes' 'RestrictNamespaces=yes' \
            'WantedBy=multi-user.target'; do
  grep -qxF -- "$line" "$unit" || fail "the unit lacks the line '$line'"
done
grep -q -- '--config /etc/oms/oms.conf' "$unit" || fail "ExecStart does not name /etc/oms/oms.conf"
ok "directives present"

# TimeoutStopSec leaves the host its OMS_SHUTDOWN_TIMEOUT_MS (the sample
# config's default) to drain, plus a margin, before SIGKILL.
drain_ms=$(sed -n 's/^# *OMS_SHUTDOWN_TIMEOUT_MS=\([0-9]*\)$/\1/p' "$OMS_SOURCE_DIR/etc/oms.conf")
[ -n "$drain_ms" ] || fail "etc/oms.conf documents no OMS_SHUTDOWN_TIMEOUT_MS default"
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$unit")
[ -n "$stop_s" ] || fail "the unit sets no TimeoutStopSec in seconds"
(( stop_s * 1000 >= drain_ms + 2000 )) \
  || fail "TimeoutStopSec=${stop_s}s leaves no margin over OMS_SHUTDOWN_TIMEOUT_MS=$drain_ms"
(( stop_s * 1000 <= drain_ms + 30000 )) || fail "TimeoutStopSec=${stop_s}s is far above OMS_SHUTDOWN_TIMEOUT_MS=$drain_ms"
ok "TimeoutStopSec=${stop_s}s covers OMS_SHUTDOWN_TIMEOUT_MS=$drain_ms"

# --- systemd-analyze verify: no error, no warning ----------------------------------------
[ -x "$OMS_HOST_BIN" ] || fail "OMS_HOST_BIN=$OMS_HOST_BIN is not executable"
sed "s|/usr/bin/oms-host|$OMS_HOST_BIN|" "$unit" >"$tmp/oms.service"
rc=0
out=$(SYSTEMD_LOG_LEVEL=notice timeout 60 systemd-analyze verify "$tmp/oms.service" 2>&1) || rc=$?
[ -z "$out" ] || echo "$out"
[ "$rc" = 0 ] || fail "systemd-analyze verify exited $rc"
if grep -q 'oms.service' <<<"$out"; then fail "systemd-analyze verify warns about the unit (above)"; fi
ok "systemd-analyze verify: clean"

# --- exposure, as systemd rates it (10 = unprotected; "OK" is below 3) ----------------------
rc=0
out=$(timeout 60 systemd-analyze security --offline=yes --no-pager "$tmp/oms.service" 2>&1) || rc=$?
score=$(sed -n 's/.*Overall exposure level for oms.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || { echo "$out"; fail "systemd-analyze security printed no exposure level (exit $rc)"; }
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { echo "$out"; fail "exposure level $score is above 2.0"; }
ok "systemd-analyze security: exposure $score"

echo "PASS: etc/systemd/oms.service verifies cleanly, hardened (exposure $score)"
