#!/usr/bin/env bash
# Rewrites the generated "contracts" blocks of README.md from the plugins'
# declarations: between <!-- contracts:NAME:begin ... --> and
# <!-- contracts:NAME:end -->, the output of
#   oms-host contracts --format markdown --plugin NAME
# Usage: scripts/readme-contracts.sh [BUILD_DIR]   (default: build)
# The contracts test (tests/integration/contracts_test.cpp) fails when the
# README differs from what this script writes.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
build=${1:-build}
host=$build/host/oms-host
[ -x "$host" ] || { echo "readme-contracts: no $host (build first)" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cp README.md "$tmp"
for name in $(sed -n 's/^<!-- contracts:\([a-z0-9_]*\):begin.*/\1/p' README.md); do
  block=$(OMS_CONFIG=/dev/null OMS_DOTENV=/dev/null OMS_PLUGIN_DIR="$build/plugins" \
    "$host" contracts --format markdown --plugin "$name")
  BLOCK=$block NAME=$name awk '
    $0 ~ "^<!-- contracts:" ENVIRON["NAME"] ":begin" { print; print ENVIRON["BLOCK"]; skip = 1; next }
    $0 ~ "^<!-- contracts:" ENVIRON["NAME"] ":end" { skip = 0 }
    !skip { print }' "$tmp" >"$tmp.new"
  mv "$tmp.new" "$tmp"
done
cp "$tmp" README.md
