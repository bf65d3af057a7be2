# Helpers for integration tests that drive real bosai processes (sourced).
# Usage in a test: source lib.sh "$@"  (first argument: the bosai binary)
set -euo pipefail
BOSAI=${1:?usage: $0 BOSAI_BIN [TOOLS_DIR]}
TOOLS=${2:-}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bosai-it.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# fail WHAT: ends the test, with the end of each daemon's log
fail() {
  echo "FAIL: $*" >&2
  for f in *.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -20 "$f" >&2; }; done
  exit 1
}
check() { echo "ok: $*"; }
# expect_eq ACTUAL EXPECTED WHAT
expect_eq() { [ "$1" == "$2" ] || fail "$3: got '$1', want '$2'"; check "$3"; }
# bosai DIR ARGS...: runs bosai on a data dir
b() { local d=$1; shift; "$BOSAI" --data-dir "$d" "$@"; }
new_node() { b "$1" init --node-id "${2:-042021-honcho}" --municipality 042021 >/dev/null; }
json_field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"; }

# ---- nodes of one municipality root, and daemons
# root_init: the municipality root in ./root (once per test)
root_init() { [ -f root/root.key ] || "$BOSAI" keys root init --municipality 042021 --out root >/dev/null; }
# root_node DIR NODE_ID: a node enrolled under ./root with full scopes
root_node() { root_init; b "$1" init --node-id "$2" --municipality 042021 --root-key root/root.key >/dev/null; }

# honcho_and_shisho: node a (042021-honcho) imports 50 residents (r.csv) and serves at $A; node s
# (042021-shisho) has synced with it. Sets A, and x and y, the first two residents' ids.
honcho_and_shisho() {
  root_node a 042021-honcho
  root_node s 042021-shisho
  "$BOSAI" gen residents --municipality 042021 --count 50 --seed 1 --out r.csv
  b a resident import r.csv 2>/dev/null
  serve a
  A="127.0.0.1:$PORT_a"
  b s sync now "$A" > /dev/null
  x=$(sed -n 2p r.csv | cut -d, -f2)
  y=$(sed -n 3p r.csv | cut -d, -f2)
}
# phone DIR ID: the phone number a node shows for a resident
phone() { b "$1" resident show "$2" | sed -n 's/^phone: *//p'; }

# serve DIR [PEER_ID=PORT ...]: starts a daemon listening on a free port (or on $LISTEN_PORT);
# sets PORT_<DIR>, PID_<DIR>
serve() {
  local d=$1; shift
  {
    printf '[node]\ndata_dir = "%s"\n[sync]\nlisten = "127.0.0.1:%s"\nheartbeat_s = 1\nstall_s = 5\nbackoff_max_s = 1\n' "$d" "${LISTEN_PORT:-0}"
    for p in "$@"; do printf '[[peers]]\nid = "%s"\naddress = "127.0.0.1:%s"\n' "${p%=*}" "${p#*=}"; done
  } > "$d.toml"
  rm -f "$d/sync-status.json"
  "$BOSAI" serve --config "$d.toml" 2>> "$d.log" &
  local pid=$!
  local port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$d/sync-status.json" 2>/dev/null || true)
    [ -n "$port" ] && [ "$port" != 0 ] && break
    sleep 0.1
  done
  [ -n "$port" ] && [ "$port" != 0 ] || fail "daemon on $d did not start: $(cat "$d.log")"
  printf -v "PORT_$d" '%s' "$port"
  printf -v "PID_$d" '%s' "$pid"
  DAEMONS+=("$pid")
}
DAEMONS=()
stop() { local v="PID_$1"; kill "${!v}" 2>/dev/null || true; wait "${!v}" 2>/dev/null || true; }
# cleanup: ends every daemon (resuming one a test stopped) and removes the work dir; at exit
cleanup() {
  for p in "${DAEMONS[@]}"; do
    kill -CONT "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
# wait_until SECONDS WHAT CMD...: polls CMD until it succeeds
wait_until() {
  local t=$1 what=$2; shift 2
  for _ in $(seq 1 $((t * 10))); do "$@" >/dev/null 2>&1 && { check "$what"; return 0; }; sleep 0.1; done
  fail "$what (after ${t}s)"
}
same_hash() { [ "$(b "$1" state hash)" == "$(b "$2" state hash)" ]; }
count_is() { [ "$(b "$1" resident count)" == "$2" ]; }
