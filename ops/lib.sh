# Shared helpers for ops/ scripts (sourced, not run).
# BOSAI_BIN names a bosai binary to use; otherwise ops/build makes one in build/.

ops_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

# Configures and builds the Release tree in build/ (ccache when available).
ops_build() {
  local root; root=$(ops_root)
  local jobs; jobs=$(nproc 2>/dev/null || echo 2)
  cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" --parallel "$jobs" "$@"
}

# Prints the path of the bosai binary, building it if BOSAI_BIN is not set.
ops_bosai_bin() {
  if [ -n "${BOSAI_BIN:-}" ]; then
    echo "$BOSAI_BIN"
    return
  fi
  ops_build --target bosai >&2
  echo "$(ops_root)/build/cli/bosai"
}
