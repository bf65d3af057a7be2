#!/usr/bin/env bash
# A network that fails silently (reference: reliability, "T4 partitions"): two daemons in network
# namespaces of their own, a town hall and a shelter, joined through a third, a radio link (a
# bridge). The link going down drops frames without a word (no reset, no carrier lost, unlike a
# stopped process on loopback): each side must find the session dead by its silence (stall_s),
# a redial must not wait on a connection attempt the dead link swallowed, each keeps writing, and
# once the link is back redial and converge, however long the link was down and however often it
# flapped; a daemon killed while the link is down (its peer keeps a half-open connection) changes
# nothing; a daemon stopped (SIGSTOP: its kernel still acknowledges heartbeats) is found dead all
# the same. First, over a slow link with deep buffers, a session whose peer's frames queue behind
# its own data must not be taken for a silent one. The namespaces are the test's own and removed
# at its end; no traffic leaves them.
source "$(dirname "$0")/lib.sh" "$@"

ns_a=bosai-pa-$$  # the town hall
ns_b=bosai-pb-$$  # the shelter
ns_r=bosai-pr-$$  # the radio between them: a bridge
if ! ip netns add "$ns_a" 2>/dev/null; then
  echo "not checked here: this machine allows no network namespace (ip netns add, as root)"
  exit 77
fi
ip netns add "$ns_b"
ip netns add "$ns_r"
netns_cleanup() {
  cleanup  # the daemons first, then their namespaces
  for ns in "$ns_a" "$ns_b" "$ns_r"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap netns_cleanup EXIT
ip link add va netns "$ns_a" type veth peer name ra netns "$ns_r"
ip link add vb netns "$ns_b" type veth peer name rb netns "$ns_r"
ip -n "$ns_r" link add br0 type bridge
ip -n "$ns_a" addr add 10.77.0.1/24 dev va
ip -n "$ns_b" addr add 10.77.0.2/24 dev vb
for ns in "$ns_a" "$ns_b" "$ns_r"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set va up
ip -n "$ns_b" link set vb up
for port in ra rb; do ip -n "$ns_r" link set "$port" master br0 up; done
ip -n "$ns_r" link set br0 up
# link up|down: the radio carries the shelter's frames, or drops them without a word (every
# interface stays up: neither end sees a carrier lost or a route gone, only silence).
link() {
  if [ "$1" = down ]; then
    ip -n "$ns_r" link set rb nomaster
  else
    ip -n "$ns_r" link set rb master br0
  fi
}

root_node a 042021-honcho
root_node b 042021-shelter
"$BOSAI" gen residents --municipality 042021 --count 2000 --seed 11 --out r.csv
b a resident import r.csv 2>/dev/null

# serve_in NS DIR LISTEN [PEER_ID=ADDRESS]: a daemon in a namespace; sets PID_<DIR>
serve_in() {
  local ns=$1 d=$2 listen=$3 peer=${4:-}
  {
    printf '[node]\ndata_dir = "%s"\n[sync]\nlisten = "%s"\n' "$WORK/$d" "$listen"
    printf 'heartbeat_s = 1\nstall_s = 3\nbackoff_max_s = 2\n'
    [ -z "$peer" ] || printf '[[peers]]\nid = "%s"\naddress = "%s"\n' "${peer%=*}" "${peer#*=}"
  } > "$d.toml"
  ip netns exec "$ns" "$BOSAI" serve --config "$WORK/$d.toml" 2>> "$d.log" &
  printf -v "PID_$d" '%s' "$!"
  DAEMONS+=("$!")
}
# First over a slow link (256 kbit/s each way): a block of the first sync takes longer to cross
# than stall_s, and a session that receives its bytes is not silent.
slow=yes
for port in ra rb; do
  tc -n "$ns_r" qdisc add dev "$port" root tbf rate 256kbit burst 16kb latency 10s 2>/dev/null ||
    slow=no
done
[ "$slow" = yes ] || echo "the slow link is not checked here: this kernel has no tbf qdisc"
serve_in "$ns_b" b 10.77.0.2:7400
serve_in "$ns_a" a 10.77.0.1:7400 042021-shelter=10.77.0.2:7400
wait_until 90 "the shelter gets the register over the link" count_is b 2000
wait_until 30 "both ends agree" same_hash a b
stalled() { grep -q "event=sync.session.stalled" "$1.log"; }
stalled a || stalled b && fail "a session receiving a slow block was taken for a silent one"
grep -q "event=sync.session.start" b.log && [ "$(grep -c "event=sync.session.start" a.log)" = 1 ] ||
  fail "the first sync took more than one session: $(grep event=sync.session a.log)"
check "the first sync crossed the link in one session"
for port in ra rb; do tc -n "$ns_r" qdisc del dev "$port" root 2>/dev/null || true; done

codes=($(cut -d, -f2 r.csv | sed -n '2,41p'))
shows() { b "$1" --json resident show "$2" | grep -q "\"$3\":\"$4\""; }

# The link goes down without a word; both sides write on.
link down
b a resident edit "${codes[0]}" --set phone=0225-10-0000 >/dev/null
b b resident edit "${codes[1]}" --set address=避難所で確認 >/dev/null
wait_until 15 "the town hall finds the silent session dead" stalled a
wait_until 15 "the shelter finds the silent session dead" stalled b
shows b "${codes[0]}" phone 0225-10-0000 && fail "an edit crossed a link that was down"
# Long enough for the kernel to space its tries of a connection attempt the link swallows by
# many seconds: bosai gives such an attempt up after stall_s and dials again.
sleep 20
link up
wait_until 10 "once the link is back, both ends agree within seconds" same_hash a b
shows b "${codes[0]}" phone 0225-10-0000 && shows a "${codes[1]}" address 避難所で確認 ||
  fail "each side's edit on the other"
check "edits made while the link was down cross once it is back"

# The link flaps: down and up at random, edits on both sides all along. BOSAI_FLAPS sets how
# often (ops/partition flaps it more); each flap's edits go to two of 26 residents.
flaps=${BOSAI_FLAPS:-6}
flapped() { echo "${codes[$((2 + ($1 % 13) * 2 + $2))]}"; }  # flapped FLAP SIDE: a resident
for i in $(seq 1 "$flaps"); do
  link down
  b a resident edit "$(flapped "$i" 0)" --set phone="$(printf '0225-20-%04d' "$i")" >/dev/null
  b b resident edit "$(flapped "$i" 1)" --set phone="$(printf '0225-30-%04d' "$i")" >/dev/null
  sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
  [ $((RANDOM % 2)) = 0 ] && sleep 4  # sometimes long enough for a stall
  link up
  sleep "0.$((RANDOM % 10))"
done
wait_until 30 "after the link flapped, both ends agree" same_hash a b
for i in $(seq $((flaps > 13 ? flaps - 12 : 1)) "$flaps"); do  # the last edit of each resident
  shows b "$(flapped "$i" 0)" phone "$(printf '0225-20-%04d' "$i")" &&
    shows a "$(flapped "$i" 1)" phone "$(printf '0225-30-%04d' "$i")" ||
    fail "flap $i: an edit is missing"
done
check "no edit made while the link flapped $flaps times is lost"

# The shelter's daemon dies while the link is down: the town hall's connection is half-open.
# The shelter restarts (its CLI wrote meanwhile), then the link comes back.
link down
b a resident edit "${codes[30]}" --set phone=0225-40-0000 >/dev/null
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null || true
b b resident edit "${codes[31]}" --set phone=0225-50-0000 >/dev/null
serve_in "$ns_b" b 10.77.0.2:7400
sleep 2
link up
wait_until 30 "after the shelter's daemon died with the link down, both ends agree" same_hash a b
shows b "${codes[30]}" phone 0225-40-0000 && shows a "${codes[31]}" phone 0225-50-0000 ||
  fail "edits on both sides of a half-open connection"
# The shelter's daemon stops (SIGSTOP: its kernel still acknowledges the town hall's heartbeats,
# its process answers nothing): the town hall finds the session dead all the same; once the
# daemon goes on, they meet again.
stalls=$(grep -c "event=sync.session.stalled" a.log || true)
kill -STOP "$PID_b"
b a resident edit "${codes[32]}" --set phone=0225-60-0000 >/dev/null
more_stalls() { [ "$(grep -c "event=sync.session.stalled" a.log)" -gt "$stalls" ]; }
wait_until 15 "the town hall finds a stopped shelter's session dead" more_stalls
kill -CONT "$PID_b"
wait_until 30 "once the shelter's daemon goes on, both ends agree" same_hash a b
for d in a b; do b "$d" doctor > "doctor-$d.txt" || fail "doctor on $d: $(cat "doctor-$d.txt")"; done
check "doctor passes on both ends"
