#!/usr/bin/env bash
# Package test: `cpack -G DEB` of the built tree makes the `oms` and `oms-sdk`
# packages; both are inspected with dpkg-deb (-I: control fields, maintainer
# scripts, conffiles, dependencies; -c: files), extracted into a scratch root
# with dpkg-deb -x (nothing is installed on this machine, no root needed), and
# the extracted host is run from there.
#
#   1. cpack -G DEB --config $OMS_BUILD_DIR/CPackConfig.cmake into a scratch dir
#   2. oms: Package/Version/Architecture; Depends covers adduser and the Debian
#      package of every shared library oms-host and the plugins need;
#      postinst creates the `oms` user and enables/starts nothing; conffiles
#   3. oms: the files (/usr/bin/oms-host, /usr/lib/oms/plugins/*.so,
#      /etc/oms/oms.conf, the systemd unit, /usr/share/oms/oms.env, docs); no SDK
#   4. oms-sdk: Architecture all, headers and the CMake package, depends on
#      nlohmann-json3-dev
#   5. dpkg-deb -x both; <root>/usr/bin/oms-host version, and plugins with
#      OMS_PLUGIN_DIR=<root>/usr/lib/oms/plugins and with no OMS_PLUGIN_DIR
#      (the default must be that same folder); find_package(OmsSdk) from <root>/usr
#
# Environment: OMS_BUILD_DIR, OMS_SOURCE_DIR; OMS_KEEP_TMP=1 keeps the scratch dir.
set -euo pipefail
# shellcheck source=../support/script_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/script_lib.sh"

for v in OMS_BUILD_DIR OMS_SOURCE_DIR; do
  [ -n "${!v:-}" ] || fail "$v is not set"
done
for tool in cpack cmake dpkg-deb dpkg dpkg-shlibdeps readelf ldd timeout; do
  command -v "$tool" >/dev/null || fail "required tool '$tool' is not installed (./dev deps installs dpkg-dev)"
done
[ -f "$OMS_BUILD_DIR/CPackConfig.cmake" ] || fail "no $OMS_BUILD_DIR/CPackConfig.cmake (configure the tree first)"

scratch deb

# --- 1. build the packages --------------------------------------------------------
step "1. cpack -G DEB"
# cpack first builds whatever is out of date (its "preinstall" step). A test
# must not rebuild the tree under the other tests' feet: package the tree as
# built, or say so.
stale=$(cmake --build "$OMS_BUILD_DIR" -- -n 2>/dev/null | grep -E 'Building|Linking' | head -n 5 || true)
[ -z "$stale" ] || fail "the build tree $OMS_BUILD_DIR is not up to date (run cmake --build first); would build: $stale"
timeout 240 cpack -G DEB --config "$OMS_BUILD_DIR/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 \
  || { show_log "$tmp/cpack.log"; fail "cpack -G DEB failed"; }
arch=$(dpkg --print-architecture)
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$OMS_BUILD_DIR/CPackConfig.cmake")
[ -n "$version" ] || fail "no CPACK_PACKAGE_VERSION in CPackConfig.cmake"
deb=$tmp/pkg/oms_${version}-1_${arch}.deb
sdk_deb=$tmp/pkg/oms-sdk_${version}-1_all.deb
[ -f "$deb" ] || fail "cpack made no $(basename "$deb") (made: $(cd "$tmp/pkg" && ls -- *.deb 2>/dev/null | tr '\n' ' '))"
[ -f "$sdk_deb" ] || fail "cpack made no $(basename "$sdk_deb") (made: $(cd "$tmp/pkg" && ls -- *.deb 2>/dev/null | tr '\n' ' '))"
ok "$(basename "$deb") ($(du -h "$deb" | cut -f1)), $(basename "$sdk_deb")"

field() { dpkg-deb -f "$1" "$2"; }   # field DEB NAME

# --- 2. oms: control -------------------------------------------------------------------
step "2. oms: control fields and maintainer scripts"
dpkg-deb -I "$deb" >"$tmp/info.txt" || fail "dpkg-deb -I cannot read $deb"
sed 's/^/  /' "$tmp/info.txt"
[ "$(field "$deb" Package)" = oms ] || fail "Package is '$(field "$deb" Package)', not oms"
[ "$(field "$deb" Version)" = "$version-1" ] || fail "Version is '$(field "$deb" Version)', not $version-1"
[ "$(field "$deb" Architecture)" = "$arch" ] || fail "Architecture is '$(field "$deb" Architecture)', not $arch"
depends=$(field "$deb" Depends)
# Depends as a list of package names (alternatives and versions dropped).
dep_names=$(tr ',|' '\n\n' <<<"$depends" | sed 's/(.*)//; s/:any//; s/[[:space:]]//g' | grep -v '^$' | sort -u)
grep -qx adduser <<<"$dep_names" || fail "Depends lacks adduser (postinst creates the oms user): $depends"

mkdir -p "$tmp/control"
dpkg-deb -e "$deb" "$tmp/control" || fail "dpkg-deb -e failed"
for s in postinst prerm postrm conffiles; do
  [ -f "$tmp/control/$s" ] || fail "the oms package has no $s"
done
for s in postinst prerm postrm; do
  [ -x "$tmp/control/$s" ] || fail "$s is not executable"
  sh -n "$tmp/control/$s" || fail "$s is not valid sh"
done
grep -q 'adduser --system' "$tmp/control/postinst" || fail "postinst does not create a system user"
grep -Eq -- '--group .*oms$|oms$' "$tmp/control/postinst" || fail "postinst does not create the oms user"
# (Commands only: comments and the echoed hint to the operator may name them.)
if grep -Ev '^[[:space:]]*(#|echo )' "$tmp/control/postinst" \
    | grep -Eq 'systemctl +(enable|start)|deb-systemd-helper +enable|deb-systemd-invoke +start'; then
  fail "postinst enables or starts the service; it must wait for a DATABASE_URL"
fi
grep -qx /etc/oms/oms.conf "$tmp/control/conffiles" || fail "/etc/oms/oms.conf is not a conffile: $(cat "$tmp/control/conffiles")"

# Every shared library oms-host and the plugins link directly (NEEDED; what
# dpkg-shlibdeps looks at) comes from a package in Depends.
dpkg-deb -x "$deb" "$tmp/root"
missing=()
for f in "$tmp/root/usr/bin/oms-host" "$tmp"/root/usr/lib/oms/plugins/*.so; do
  # "libx.so => /path (addr)", or the dynamic loader as "/lib64/ld-linux-x86-64.so.2 (addr)".
  resolved=$(ldd "$f" | awk '$2 == "=>" { print $1, ($3 == "not" ? "" : $3) }
                            $1 ~ /^\// { n = split($1, p, "/"); print p[n], $1 }') || fail "ldd cannot read $f"
  for lib in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p'); do
    path=$(awk -v l="$lib" '$1 == l { print $2; exit }' <<<"$resolved")
    [ -n "$path" ] || fail "$(basename "$f") needs $lib, which ldd cannot find"
    pkg=
    for candidate in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
      pkg=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$pkg" ] && break
    done
    [ -n "$pkg" ] || fail "no Debian package owns $path ($lib, needed by $(basename "$f"))"
    # The package itself, or a virtual package it provides (libspdlog1.10 provides
    # libspdlog1.10-fmt9, the name its shlibs file gives dpkg-shlibdeps).
    names=$(printf '%s\n' "$pkg"; dpkg-query -W -f='${Provides}' "$pkg" 2>/dev/null | tr ',' '\n' \
              | sed 's/(.*)//; s/[[:space:]]//g')
    grep -qxFf <(grep -v '^$' <<<"$names") <<<"$dep_names" || missing+=("$pkg (for $lib of $(basename "$f"))")
  done
done
[ ${#missing[@]} -eq 0 ] || fail "Depends ($depends) lacks: ${missing[*]}"
ok "Depends covers adduser and every library: $depends"

# --- 3. oms: files ---------------------------------------------------------------------------
step "3. oms: files"
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' | sort >"$tmp/files.txt"
sed 's/^/  /' "$tmp/files.txt"
for f in /usr/bin/oms-host /usr/lib/oms/plugins/users.so /usr/lib/oms/plugins/inventory.so \
         /usr/lib/oms/plugins/orders.so /etc/oms/oms.conf /usr/lib/systemd/system/oms.service \
         /usr/share/oms/oms.env /usr/share/doc/oms/README.md /usr/share/doc/oms/examples/nginx/oms.conf; do
  grep -qx -- "$f" "$tmp/files.txt" || fail "the oms package lacks $f"
done
for so in "$OMS_BUILD_DIR"/plugins/*.so; do
  grep -qx -- "/usr/lib/oms/plugins/$(basename "$so")" "$tmp/files.txt" \
    || fail "the plugin $(basename "$so") of this build is not in the oms package"
done
if grep -Eq '^/usr/include/|^/usr/etc/|^/usr/local/|/test-plugins|probe' "$tmp/files.txt"; then
  fail "the oms package carries files it should not: $(grep -E '^/usr/include/|^/usr/etc/|^/usr/local/|/test-plugins|probe' "$tmp/files.txt" | tr '\n' ' ')"
fi
owners=$(dpkg-deb -c "$deb" | awk '{print $2}' | sort -u)
[ "$owners" = root/root ] || fail "files are not owned by root/root in the package: $owners"
cmp -s "$tmp/root/usr/lib/systemd/system/oms.service" "$OMS_SOURCE_DIR/etc/systemd/oms.service" \
  || fail "the packaged unit differs from etc/systemd/oms.service"
grep -q '^ExecStart=/usr/bin/oms-host ' "$tmp/root/usr/lib/systemd/system/oms.service" \
  || fail "the unit's ExecStart does not run the packaged /usr/bin/oms-host"
ok "files: host, $(cd "$tmp/root/usr/lib/oms/plugins" && ls | tr '\n' ' ')config, unit, docs"

# --- 4. oms-sdk -----------------------------------------------------------------------------------
step "4. oms-sdk"
[ "$(field "$sdk_deb" Package)" = oms-sdk ] || fail "Package is '$(field "$sdk_deb" Package)', not oms-sdk"
[ "$(field "$sdk_deb" Architecture)" = all ] || fail "oms-sdk is not Architecture: all"
field "$sdk_deb" Depends | grep -q nlohmann-json3-dev || fail "oms-sdk does not depend on nlohmann-json3-dev"
dpkg-deb -c "$sdk_deb" | awk '{print $NF}' | sed 's|^\./|/|' | sort >"$tmp/sdk-files.txt"
for f in /usr/include/oms/abi.h /usr/include/oms/plugin.hpp /usr/include/oms/pagination.hpp \
         /usr/share/cmake/OmsSdk/OmsSdkConfig.cmake /usr/share/cmake/OmsSdk/OmsPlugin.cmake \
         /usr/share/doc/oms-sdk/plugin-guide.md /usr/share/doc/oms-sdk/examples/audit/audit.cpp; do
  grep -qx -- "$f" "$tmp/sdk-files.txt" || fail "the oms-sdk package lacks $f"
done
if grep -q '\.so$\|^/usr/bin/' "$tmp/sdk-files.txt"; then fail "oms-sdk carries binaries"; fi
ok "oms-sdk: $(field "$sdk_deb" Depends)"

# --- 5. run what was extracted ---------------------------------------------------------------------
step "5. run the extracted host"
dpkg-deb -x "$sdk_deb" "$tmp/root"
mkdir -p "$tmp/empty"
run() {   # run [VAR=value...] -- ARGS: the extracted host in an empty folder, no caller config
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  (cd "$tmp/empty" && env -u OMS_PLUGIN_DIR -u OMS_PLUGINS -u OMS_ENV -u DATABASE_URL \
     OMS_CONFIG=/dev/null OMS_DOTENV=/dev/null LOG_LEVEL=warn "${vars[@]}" \
     timeout 30 "$tmp/root/usr/bin/oms-host" "$@")
}
out=$(run -- version) || fail "extracted oms-host version failed: $out"
[ "$out" = "$("$OMS_BUILD_DIR/host/oms-host" version)" ] || fail "extracted oms-host version says '$out'"
echo "  $out"
plugdir=$tmp/root/usr/lib/oms/plugins
for mode in explicit default; do
  if [ $mode = explicit ]; then
    out=$(run OMS_PLUGIN_DIR="$plugdir" -- plugins 2>&1) || fail "oms-host plugins (OMS_PLUGIN_DIR=$plugdir) failed: $out"
  else
    out=$(run -- plugins 2>&1) || fail "oms-host plugins (default OMS_PLUGIN_DIR) failed: $out"
  fi
  echo "$out" | sed 's/^/  /'
  for so in "$plugdir"/*.so; do
    grep -q -- " $so\$" <<<"$out" || fail "oms-host plugins ($mode plugin folder) did not load $so"
  done
done
ok "the extracted host loads the packaged plugins, with OMS_PLUGIN_DIR and by default"

# The packaged SDK is found by find_package from the extracted /usr.
mkdir -p "$tmp/probe"
cat >"$tmp/probe/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.22)
project(probe_sdk CXX)
find_package(OmsSdk 1 REQUIRED)
if(NOT COMMAND oms_add_plugin OR NOT TARGET OmsSdk::sdk)
  message(FATAL_ERROR "OmsSdk brought no oms_add_plugin() or OmsSdk::sdk")
endif()
message(STATUS "OmsSdk_DIR=${OmsSdk_DIR} version ${OmsSdk_VERSION}")
EOF
timeout 60 cmake -S "$tmp/probe" -B "$tmp/probe/build" -DCMAKE_PREFIX_PATH="$tmp/root/usr" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$tmp/probe.log" 2>&1 \
  || { show_log "$tmp/probe.log"; fail "find_package(OmsSdk) from the extracted oms-sdk failed"; }
grep -q "OmsSdk_DIR=$tmp/root/usr/share/cmake/OmsSdk" "$tmp/probe.log" \
  || { show_log "$tmp/probe.log"; fail "find_package(OmsSdk) did not use the extracted package"; }
ok "find_package(OmsSdk) works from the extracted oms-sdk"

echo "PASS: cpack builds oms and oms-sdk .debs with their files, dependencies and scripts; the extracted host runs"
