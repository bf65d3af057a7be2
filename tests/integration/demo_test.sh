#!/usr/bin/env bash
# The first of the two commands (README): `ops/run` makes the demo node (石巻市 042021, 10,000
# synthetic residents), prints commands to try and runs the daemon. Every command it prints
# works as printed on the demo it made: each exits 0, each search finds residents (the one by
# 髙橋 and a 和暦 date a 高橋 the demo holds), and the second node syncs the whole register from
# the daemon. A mistyped or taken listener is refused, not saved. A second start keeps the data
# dir it made.
ops_run=$(cd "$(dirname "$0")/../.." && pwd)/ops/run
source "$(dirname "$0")/lib.sh"

# run_demo LOG: starts ops/run on ./data (named relative to here), listening on a free port, and
# waits for its daemon; sets RUN_PID and RUN_PORT
run_demo() {
  rm -f data/sync-status.json
  BOSAI_BIN=$BOSAI BOSAI_DATA_DIR=data BOSAI_LISTEN=127.0.0.1:0 TMPDIR=$WORK \
    "$ops_run" > "$1" 2>&1 &
  RUN_PID=$!
  DAEMONS+=("$RUN_PID")
  RUN_PORT=""
  for _ in $(seq 1 1200); do
    RUN_PORT=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' data/sync-status.json 2>/dev/null || true)
    [ -n "$RUN_PORT" ] && [ "$RUN_PORT" != 0 ] && break
    kill -0 "$RUN_PID" 2>/dev/null || fail "ops/run ended: $(tail -20 "$1")"
    sleep 0.1
  done
  [ -n "$RUN_PORT" ] && [ "$RUN_PORT" != 0 ] || fail "ops/run's daemon did not start: $(tail -20 "$1")"
  check "ops/run started its daemon (port $RUN_PORT)"
}

run_demo run1.log
grep -q '^creating the demo node in ' run1.log || fail "ops/run did not create the demo node"
grep -q "^bosai node ready: 10000 residents in $WORK/data\$" run1.log ||
  fail "ops/run did not say the demo is ready: $(cat run1.log)"
grep -q 'sync listener on 127.0.0.1:0;' run1.log || fail "ops/run did not name its listener"

# The commands it prints, a line each (a line that ends in \ goes on on the next); the daemon
# listens on a port of its choosing here, not on the one a new data dir is given.
awk '/^Try:$/ { on = 1; next } on && /^  / { print }' run1.log |
  sed 's/^  //' | sed -e ':a' -e '/\\$/N; s/\\\n *//; ta' |
  sed "s/127\\.0\\.0\\.1:0\$/127.0.0.1:$RUN_PORT/" > commands.txt
[ "$(wc -l < commands.txt)" -ge 15 ] || fail "ops/run printed too few commands: $(cat commands.txt)"
n=0
while IFS= read -r line; do
  n=$((n + 1))
  case $line in
    export\ *) eval "$line"; continue ;;
  esac
  eval "$line" > "out$n.txt" 2> "err$n.txt" < /dev/null ||
    fail "printed command failed: $line: $(cat "err$n.txt")"
  case $line in
    *"resident search"*)
      [ -s "out$n.txt" ] || fail "printed search found no resident: $line: $(cat "err$n.txt")" ;;
  esac
  check "as printed: ${line#"$BOSAI" }"
done < commands.txt

# The search by 髙橋 and a 和暦 date finds a 高橋 (the variant folded) born that day.
line=$(grep -n -- '--name 髙橋 --birth S' commands.txt | cut -d: -f1)
[ -n "$line" ] || fail "ops/run printed no search by name and 和暦 date"
born=$(sed -n 's/.*--birth S\([0-9]*\)\.\([0-9]*\)\.\([0-9]*\)$/\1 \2 \3/p' commands.txt)
read -r y m d <<< "$born"
iso=$(printf '%04d-%02d-%02d' $((y + 1925)) "$m" "$d")
grep -q "  高橋　.*  $iso  " "out$line.txt" || fail "the search by 髙橋 and S$y.$m.$d found: $(cat "out$line.txt")"
check "search --name 髙橋 --birth S$y.$m.$d finds a 高橋 born $iso"

# The second node has the register from the daemon.
expect_eq "$(tail -1 "out$n.txt")" "10000" "the second node synced the demo register"
expect_eq "$(b shisho state hash)" "$(b data state hash)" "the second node has the demo's state"

# The config it wrote passes the daemon's check, which names what it serves.
"$BOSAI" serve --config data/bosai.toml --check > check.txt ||
  fail "serve --check: $(cat check.txt)"
grep -q "^  data dir data: node 042021-honcho of 042021\$" check.txt &&
  grep -q "^  sync listener on 127.0.0.1:0\$" check.txt ||
  fail "serve --check said: $(cat check.txt)"
check "serve --check names the node and the listener of the config ops/run wrote"

# A peer whose host cannot be looked up now is a warning (the daemon keeps trying), named in the
# JSON by its kind; an IP address needs no lookup.
printf '[node]\ndata_dir = "data"\n[[peers]]\nid = "042021-gone"\naddress = "no-such-host.invalid:7400"\n[[peers]]\nid = "042021-near"\naddress = "127.0.0.1:7401"\n[[peers]]\nid = "042021-honcho"\naddress = "127.0.0.1:7402"\n' > peers.toml
"$BOSAI" --json serve --config peers.toml --check > peers.json || fail "serve --check: $(cat peers.json)"
grep -q '"warnings":\[{"kind":"peer_unresolved","message":"peer 042021-gone: cannot resolve no-such-host.invalid: [^"]*: the daemon keeps trying' peers.json ||
  fail "serve --check --json: $(cat peers.json)"
expect_eq "$(grep -o '"kind":"[a-z_]*"' peers.json | tr '\n' ' ')" '"kind":"peer_unresolved" "kind":"peer_is_self" "kind":"development_root" ' \
  "serve --check warns of the unresolved peer, of the node itself listed as a peer, and of the development root"
grep -qF "peer 042021-honcho at 127.0.0.1:7402 is this node: the daemon leaves it out" peers.json ||
  fail "a node listed as its own peer: $(cat peers.json)"
"$BOSAI" serve --config peers.toml --check > peers.txt || fail "serve --check: $(cat peers.txt)"
grep -q "^  warning: peer 042021-gone: cannot resolve no-such-host.invalid" peers.txt ||
  fail "serve --check: $(cat peers.txt)"
check "serve --check warns of a peer whose host cannot be looked up"

# A mistyped listener for a new data dir stops ops/run with the config's error, and is not kept:
# the next start, with a listener that works, writes its own.
if BOSAI_BIN=$BOSAI BOSAI_DATA_DIR=typo BOSAI_LISTEN=127.0.0.1:74000 TMPDIR=$WORK \
  "$ops_run" > typo.log 2>&1; then
  fail "ops/run started with the listener 127.0.0.1:74000"
fi
grep -q "bosai.toml.new:4:10: listen: address '127.0.0.1:74000': port out of range" typo.log ||
  fail "ops/run did not say why it stopped: $(tail -5 typo.log)"
[ ! -e typo/bosai.toml ] && [ ! -e typo/bosai.toml.new ] || fail "the mistyped config was kept"
check "a mistyped BOSAI_LISTEN stops ops/run, named, and is not kept"
# So does a port another program listens on (here the demo's daemon, on its own port).
if BOSAI_BIN=$BOSAI BOSAI_DATA_DIR=typo BOSAI_LISTEN=127.0.0.1:$RUN_PORT TMPDIR=$WORK \
  "$ops_run" > taken.log 2>&1; then
  fail "ops/run started with the listener 127.0.0.1:$RUN_PORT, which the demo holds"
fi
grep -q "^ops/run: cannot listen on 127.0.0.1:$RUN_PORT: Address already in use" taken.log &&
  grep -q "^ops/run: set BOSAI_LISTEN to a free address" taken.log ||
  fail "ops/run did not say the port is taken: $(tail -5 taken.log)"
[ ! -e typo/bosai.toml ] || fail "the config with a taken port was kept"
check "a port another program holds stops ops/run, named, and is not kept"

# A second start keeps the node and its residents.
kill "$RUN_PID"
wait "$RUN_PID" 2>/dev/null || true
before=$(b data state hash)
run_demo run2.log
grep -q "^using the existing node in $WORK/data\$" run2.log || fail "ops/run did not keep the node"
expect_eq "$(b data state hash)" "$before" "a second start keeps the demo's state"
