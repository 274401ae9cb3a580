# Shared by the tests that build example plugins against an installed SDK
# (tests/abi/out_of_tree.sh, tests/package/install.sh). Source it after
# tests/support/script_lib.sh (fail, show_log).

# build_example SRC DIR CXX PREFIX [cmake args...]
# Configures and builds the plugin project SRC in DIR with compiler CXX,
# finding the SDK only in PREFIX (never the source or build tree, never a
# package registry), and checks the result: DIR/<name>.so exists (name = the
# folder name of SRC), exports oms_plugin_entry and resolves all its libraries.
build_example() {
  local src=$1 dir=$2 cxx=$3 prefix=$4
  shift 4
  local name found out
  name=$(basename "$src")
  CXX=$cxx timeout 150 cmake -S "$src" -B "$dir" \
    -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
    "$@" >"$dir.configure.log" 2>&1 \
    || { show_log "$dir.configure.log"; fail "configuring $name with $cxx against the installed SDK failed"; }
  found=$(sed -n 's/^OmsSdk_DIR:PATH=//p' "$dir/CMakeCache.txt")
  case "$found" in
    "$prefix"/*) ;;
    *) fail "$cxx build of $name found OmsSdk in '$found', not in the installed prefix $prefix" ;;
  esac
  timeout 240 cmake --build "$dir" -j2 >"$dir.build.log" 2>&1 \
    || { show_log "$dir.build.log"; fail "building $name with $cxx against the installed SDK failed"; }
  [ -f "$dir/$name.so" ] || fail "$cxx build produced no $dir/$name.so"
  # The SDK must come from the prefix, never from the source tree.
  if [ -n "${OMS_SOURCE_DIR:-}" ] && grep -rqs -e "$OMS_SOURCE_DIR/sdk/include" \
      "$dir/compile_commands.json" "$dir/CMakeFiles/$name.dir/flags.make"; then
    fail "$cxx build of $name uses the SDK headers of the OMS source tree, not the installed ones"
  fi
  # (Tool output is captured before grep -q: under pipefail an early-exiting
  # grep would turn the writer's SIGPIPE into a false result.)
  out=$(nm -D --defined-only "$dir/$name.so") || fail "nm cannot read $dir/$name.so"
  grep -qw oms_plugin_entry <<<"$out" || fail "$dir/$name.so does not export oms_plugin_entry"
  out=$(ldd "$dir/$name.so") || fail "ldd cannot read $dir/$name.so"
  if grep -q 'not found' <<<"$out"; then fail "$dir/$name.so has unresolvable library dependencies: $out"; fi
}
