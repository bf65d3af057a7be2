# Helpers for integration tests that drive real bosai processes (sourced).
# Usage in a test: source lib.sh "$@"  (first argument: the bosai binary)
set -euo pipefail
BOSAI=${1:?usage: $0 BOSAI_BIN [TOOLS_DIR]}
TOOLS=${2:-}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bosai-it.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() { echo "FAIL: $*" >&2; exit 1; }
check() { echo "ok: $*"; }
# expect_eq ACTUAL EXPECTED WHAT
expect_eq() { [ "$1" == "$2" ] || fail "$3: got '$1', want '$2'"; check "$3"; }
# bosai DIR ARGS...: runs bosai on a data dir
b() { local d=$1; shift; "$BOSAI" --data-dir "$d" "$@"; }
new_node() { b "$1" init --node-id "${2:-042021-honcho}" --municipality 042021 >/dev/null; }
json_field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }
