#!/usr/bin/env bash
# Install test: `cmake --install` of the build tree into a scratch prefix lays
# out everything the packaging promises, the installed host finds the
# installed plugins by itself, and every plugin under examples/ builds out of
# tree against that installed SDK only (g++). The example plugins are left in
# $OMS_EXAMPLES_OUT/<name>.so for the suites that load them (audit_test).
#
#   1. cmake --install $OMS_BUILD_DIR --prefix <scratch>   (all components)
#   2. the layout: bin/oms-host, lib/oms/plugins/*.so (every plugin this tree
#      builds, no test plugin), include/oms/*, share/cmake/OmsSdk/*,
#      etc/oms/oms.conf, lib/systemd/system/oms.service, share/oms/oms.env, docs
#   3. <scratch>/bin/oms-host version / plugins with no OMS_PLUGIN_DIR: the
#      default plugin folder of an installed host is where the plugins went
#   4. build examples/*/ against <scratch> (find_package(OmsSdk) from there)
#   5. the installed host loads its plugins and the examples together
#      (`plugins`, `routes`): no name or route conflicts
#
# Environment: OMS_BUILD_DIR, OMS_SOURCE_DIR, OMS_PLUGIN_BUILD_DIR (the build
# tree's plugin folder), OMS_EXAMPLES_OUT; OMS_KEEP_TMP=1 keeps the scratch dir.
set -euo pipefail
# shellcheck source=../support/script_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/script_lib.sh"

for v in OMS_BUILD_DIR OMS_SOURCE_DIR OMS_PLUGIN_BUILD_DIR OMS_EXAMPLES_OUT; do
  [ -n "${!v:-}" ] || fail "$v is not set"
done
for tool in cmake g++ nm ldd readelf timeout; do
  command -v "$tool" >/dev/null || fail "required tool '$tool' is not installed"
done

scratch install

# The host, run the way an operator would: in an empty folder, no config
# file or .env of the caller, and no plugin settings from the caller's environment.
run_host() {   # run_host BIN ARGS... (extra environment through `env` before the call)
  (cd "$tmp/empty" && env -u OMS_PLUGIN_DIR -u OMS_PLUGINS -u OMS_ENV -u DATABASE_URL \
     OMS_CONFIG=/dev/null OMS_DOTENV=/dev/null LOG_LEVEL=warn "${HOST_ENV[@]}" timeout 30 "$@")
}
mkdir -p "$tmp/empty"
HOST_ENV=()

# --- 1. install ------------------------------------------------------------------
step "1. cmake --install into a scratch prefix"
prefix=$tmp/prefix
timeout 120 cmake --install "$OMS_BUILD_DIR" --prefix "$prefix" >"$tmp/install.log" 2>&1 \
  || { show_log "$tmp/install.log"; fail "cmake --install $OMS_BUILD_DIR --prefix $prefix failed"; }
ok "installed into $prefix"

# --- 2. layout -------------------------------------------------------------------------
step "2. the installed layout"
for f in bin/oms-host include/oms/abi.h include/oms/plugin.hpp include/oms/pagination.hpp include/oms/money.hpp \
         share/cmake/OmsSdk/OmsSdkConfig.cmake share/cmake/OmsSdk/OmsSdkConfigVersion.cmake \
         share/cmake/OmsSdk/OmsSdkTargets.cmake share/cmake/OmsSdk/OmsPlugin.cmake \
         share/cmake/OmsSdk/OmsEmbedMigrations.cmake \
         etc/oms/oms.conf lib/systemd/system/oms.service share/oms/oms.env \
         share/doc/oms/README.md share/doc/oms/examples/nginx/oms.conf share/doc/oms/examples/.env.example \
         share/doc/oms-sdk/plugin-guide.md share/doc/oms-sdk/examples/hello/hello.cpp \
         share/doc/oms-sdk/examples/audit/CMakeLists.txt; do
  [ -e "$prefix/$f" ] || fail "cmake --install does not install $f (installed: $(cd "$prefix" && find . -type f | sort | tr '\n' ' '))"
done
[ -x "$prefix/bin/oms-host" ] || fail "bin/oms-host is not executable"
cmp -s "$OMS_SOURCE_DIR/etc/oms.conf" "$prefix/etc/oms/oms.conf" || fail "etc/oms/oms.conf differs from the sample etc/oms.conf"
cmp -s "$OMS_SOURCE_DIR/etc/systemd/oms.service" "$prefix/lib/systemd/system/oms.service" \
  || fail "the installed oms.service differs from etc/systemd/oms.service"

# Every plugin this tree builds is installed, and nothing else (no test plugin).
built=$(cd "$OMS_PLUGIN_BUILD_DIR" && ls -1 -- *.so 2>/dev/null | sort) || true
installed=$(cd "$prefix/lib/oms/plugins" && ls -1 -- *.so 2>/dev/null | sort) || true
[ -n "$installed" ] || fail "no plugin installed in lib/oms/plugins"
for so in $installed; do
  grep -qx -- "$so" <<<"$built" || fail "lib/oms/plugins/$so is installed but is not a plugin of this build ($OMS_PLUGIN_BUILD_DIR)"
done
for so in users.so inventory.so orders.so; do
  grep -qx -- "$so" <<<"$installed" || fail "the $so plugin is not installed in lib/oms/plugins"
done
for so in $(find "$prefix" -name '*.so' ! -path "$prefix/lib/oms/plugins/*"); do
  fail "a shared object outside lib/oms/plugins: $so"
done
# Installed binaries carry no path into the build tree.
for f in "$prefix/bin/oms-host" "$prefix"/lib/oms/plugins/*.so; do
  rp=$(readelf -d "$f" | grep -E 'RPATH|RUNPATH' || true)
  [ -z "$rp" ] || fail "$f keeps a run path: $rp"
done
ok "layout: bin, lib/oms/plugins ($(tr '\n' ' ' <<<"$installed")), include/oms, share/cmake/OmsSdk, etc/oms, systemd unit, docs"

# --- 3. the installed host finds the installed plugins ------------------------------------
step "3. the installed oms-host"
out=$(run_host "$prefix/bin/oms-host" version) || fail "installed oms-host version failed: $out"
want=$("$OMS_BUILD_DIR/host/oms-host" version)
[ "$out" = "$want" ] || fail "installed oms-host version says '$out', the build tree's says '$want'"
echo "  $out"
out=$(run_host "$prefix/bin/oms-host" plugins 2>&1) || fail "installed oms-host plugins (default OMS_PLUGIN_DIR) failed: $out"
echo "$out" | sed 's/^/  /'
for so in $installed; do
  grep -q -- " $prefix/lib/oms/plugins/$so\$" <<<"$out" \
    || fail "oms-host plugins without OMS_PLUGIN_DIR did not load $prefix/lib/oms/plugins/$so: the host's default plugin folder and the install layout disagree"
done
ok "without OMS_PLUGIN_DIR the installed host loads $prefix/lib/oms/plugins"

# --- 4. build the examples against the installed SDK ------------------------------------
# shellcheck source=../abi/example_lib.sh
. "$OMS_SOURCE_DIR/tests/abi/example_lib.sh"
rm -rf -- "$OMS_EXAMPLES_OUT"
mkdir -p "$OMS_EXAMPLES_OUT"
names=()
for src in "$OMS_SOURCE_DIR"/examples/*/; do
  src=${src%/}
  [ -f "$src/CMakeLists.txt" ] || continue
  name=$(basename "$src")
  step "4. build examples/$name against the installed SDK (g++)"
  build_example "$src" "$tmp/build-$name" g++ "$prefix"
  cp "$tmp/build-$name/$name.so" "$OMS_EXAMPLES_OUT/$name.so"
  names+=("$name")
  ok "examples/$name -> $OMS_EXAMPLES_OUT/$name.so"
done
[ ${#names[@]} -ge 2 ] || fail "expected at least examples/hello and examples/audit, built: ${names[*]}"

# --- 5. load them with the installed plugins --------------------------------------------------
step "5. the installed plugins and the examples together"
all=$tmp/all-plugins
mkdir -p "$all"
cp "$prefix"/lib/oms/plugins/*.so "$OMS_EXAMPLES_OUT"/*.so "$all/"
HOST_ENV=(OMS_PLUGIN_DIR="$all")
out=$(run_host "$prefix/bin/oms-host" plugins 2>&1) || fail "oms-host plugins with the examples failed: $out"
for name in "${names[@]}" users inventory orders; do
  grep -q "^$name " <<<"$out" || fail "plugin $name is not loaded: $out"
done
out=$(run_host "$prefix/bin/oms-host" routes 2>&1) || fail "oms-host routes with the examples failed: $out"
grep -Eq '^GET +/audit +role:admin +[^ ]+ +audit ' <<<"$out" || fail "GET /audit (role:admin, plugin audit) is not routed: $out"
grep -Eq '^GET +/hello/:name +public +[^ ]+ +hello ' <<<"$out" || fail "GET /hello/:name (public, plugin hello) is not routed: $out"
ok "loaded: ${names[*]} beside $(tr '\n' ' ' <<<"$installed")"

echo "PASS: cmake --install lays out host, plugins, SDK, config and docs; examples build against the installed SDK"
