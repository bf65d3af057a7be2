#!/usr/bin/env bash
# Replication between real bosai daemons on loopback (DESIGN §5):
#  - A and C both dial hub B and never meet: A's register reaches C through B (relay);
#  - a commit by a CLI process on a serving node's data dir is pushed live within seconds;
#  - writes on all three sides while C is down (C's CLI keeps writing), then heal: equal hashes;
#  - an op with a field this version does not know survives relay A -> B -> C;
#  - kill -9 of a receiver mid-transfer, restart: converges, nothing applied twice (doctor);
#  - a shelter node without read scope for My Number never receives it;
#  - sync now / status / clean shutdown on SIGTERM.
source "$(dirname "$0")/lib.sh" "$@"
FUTURE=$TOOLS/future_field

root_node a 042021-honcho
root_node b 042021-hub
root_node c 042021-shisho
"$BOSAI" gen residents --municipality 042021 --count 3000 --seed 5 --out r.csv
b a resident import r.csv 2>/dev/null

serve b
# A's config lists A itself among its peers (one list shared by every node): left out, said.
serve a 042021-hub="$PORT_b" 042021-honcho=9
serve c 042021-hub="$PORT_b"
wait_until 60 "A's register reaches C through B (relay)" count_is c 3000
grep -q 'event=sync.peer.self peer=042021-honcho address=127.0.0.1:9 hint="remove it from \[\[peers\]\]"' a.log &&
  ! grep -q "cannot sync with itself\|127.0.0.1:9" <(grep -v sync.peer.self a.log) ||
  fail "a node listed as its own peer: $(grep -i 'self\|:9' a.log | head -3)"
check "a node listed among its own peers is left out, and the daemon says so"
indexes_built() {
  [ "$(sqlite3 c/bosai.db "select count(*) from record_keys where entity = 1")" = 3000 ] &&
    [ "$(sqlite3 c/bosai.db "select count(*) from record_index where kind = 1")" = 3000 ] &&
    [ "$(sqlite3 c/bosai.db "select count(*) from record_index where kind = 2")" = 3000 ]
}
wait_until 10 "C's record keys and index, built once at the end of its first sync, are there" indexes_built
b c resident search --kana "$(sed -n 2p r.csv | cut -d, -f5 | cut -c1-3)" --limit 1 > found.txt
[ -s found.txt ] || fail "search on C after its first sync"
grep -q "event=sync.bootstrap.begin" c.log && grep -q "event=sync.bootstrap.end status=ok" c.log ||
  fail "C's first sync was a bootstrap: $(grep bootstrap c.log)"
wait_until 30 "A, B and C converge" bash -c "[ \"\$($BOSAI --data-dir a state hash)\" == \"\$($BOSAI --data-dir c state hash)\" ] && [ \"\$($BOSAI --data-dir a state hash)\" == \"\$($BOSAI --data-dir b state hash)\" ]"

# Live push of another process's commit on a serving node.
id1=$(sed -n 2p r.csv | cut -d, -f2)
id2=$(sed -n 3p r.csv | cut -d, -f2)
id3=$(sed -n 4p r.csv | cut -d, -f2)
b a resident edit "$id1" --set phone=0225-11-1111 >/dev/null
shows() { b "$1" --json resident show "$2" | grep -q "\"$3\":\"$4\""; }
wait_until 10 "an edit on A's data dir reaches C while all run" shows c "$id1" phone 0225-11-1111

# A field from a newer version, relayed A -> B -> C unchanged.
"$FUTURE" a write "042021:$id1" "次の版の項目"
wait_until 10 "an unknown field survives relay" bash -c "[ \"\$($FUTURE c read 042021:$id1)\" == 次の版の項目 ]"

# C goes down; all three write; C's edits wait on its disk.
stop c
b a resident edit "$id2" --set address=本庁で訂正 >/dev/null
b b resident edit "$id3" --set phone=0225-22-2222 >/dev/null
b c resident edit "$id3" --set address=支所で訂正 >/dev/null
b c resident edit "$id2" --set phone=0225-33-3333 >/dev/null
wait_until 10 "A's edit reaches B while C is down" shows b "$id2" address 本庁で訂正
serve c 042021-hub="$PORT_b"
wait_until 30 "after healing, A and C agree" same_hash a c
wait_until 30 "after healing, B and C agree" same_hash b c
shows a "$id3" address 支所で訂正 && shows c "$id3" phone 0225-22-2222 && shows a "$id2" phone 0225-33-3333 \
  || fail "every side's edits everywhere"
check "writes from all sides while apart are all kept"

# The hub restarts on its port: A and C redial (jittered backoff) and carry on by themselves.
hub_port=$PORT_b
stop b
b a resident edit "$id1" --set address=ハブ停止中の訂正 >/dev/null
refused() { grep -q "event=sync.connection.closed peer=042021-hub.*cannot connect to" a.log; }
wait_until 10 "A redials the hub while it is down, and is refused" refused
LISTEN_PORT=$hub_port serve b
wait_until 30 "after the hub restarts, A redials and C receives A's edit" shows c "$id1" address ハブ停止中の訂正
grep -q "event=sync.connection.closed peer=042021-hub" a.log || fail "A saw the hub go: $(tail -3 a.log)"
# Caught up again, A's status shows no error (its refused dials are in its log).
hub_fine() { b a --json sync status > a-status.json &&
  grep -q '"last_error":"","peer":"042021-hub","state":"live"' a-status.json; }
wait_until 10 "A's status shows the hub live, without the error of a dial while it was down" hub_fine

# sync status of a serving node.
status_lists() { b b --json sync status > status.json && grep -q '"daemon":"running"' status.json &&
  grep -q '"peer":"042021-honcho","state":"live"' status.json; }
wait_until 10 "sync status lists the live peers" status_lists

# kill -9 of a receiver in the middle of a transfer (large enough to take a good part of a
# second on a fast machine: the kill must land before its end).
root_node e 042021-shisho2
"$BOSAI" gen residents --municipality 042021 --count 100000 --seed 6 --out big.csv
b a resident import big.csv 2>/dev/null
serve e 042021-honcho="$PORT_a"
for _ in $(seq 1 1500); do
  n=$(sqlite3 e/bosai.db "select coalesce(sum(last_seq),0) from streams" 2>/dev/null || echo 0)
  [ "$n" -gt 0 ] && break
  sleep 0.01
done
kill -9 "$PID_e"; wait "$PID_e" 2>/dev/null || true
partial=$(sqlite3 e/bosai.db "select coalesce(sum(last_seq),0) from streams")
total=$(sqlite3 a/bosai.db "select coalesce(sum(last_seq),0) from streams")
[ "$partial" -lt "$total" ] || fail "the receiver was killed after the transfer ($partial of $total ops)"
check "receiver killed mid-transfer ($partial of $total ops held)"
# The receiver was bootstrapping: the next process to open its store (here doctor) finishes it.
[ "$(sqlite3 e/bosai.db "select count(*) from meta where k = 'bootstrap'")" = 1 ] ||
  fail "the killed receiver was bootstrapping"
b e doctor >/dev/null || fail "doctor after kill -9: $(b e doctor)"
[ "$(sqlite3 e/bosai.db "select count(*) from meta where k = 'bootstrap'")" = 0 ] ||
  fail "doctor's open finished the cut-short bootstrap"
[ "$(b e resident count)" -gt 0 ] || fail "the ops held before the kill are materialized"
serve e 042021-honcho="$PORT_a"
wait_until 60 "the restarted receiver converges" same_hash a e
b e doctor >/dev/null || fail "doctor after resume (nothing applied twice)"
check "doctor passes after resume"

# A shelter laptop: write 042021 only, no My Number scope and no data key.
b shelter keys node request --node-id 042021-shelter-01 --out req.json >/dev/null
"$BOSAI" keys node issue --root root --request req.json --issuer-code SHELTER01 --write 042021 \
  --out enr.json >/dev/null
b shelter init --enrollment enr.json >/dev/null
b shelter sync now "127.0.0.1:$PORT_b" > now.txt || fail "sync now: $(cat now.txt)"
grep -q "caught up with 042021-hub" now.txt || fail "sync now output: $(cat now.txt)"
expect_eq "$(b shelter resident count)" 103000 "the shelter holds the register"
expect_eq "$(sqlite3 shelter/bosai.db "select count(*) from streams where scope like '%mynumber'")" 0 \
  "the shelter holds no My Number stream"
b a --json resident show "$id1" --reveal-my-number | grep -q '"my_number":"[0-9]\{12\}"' || fail "A reads My Number"
mn=$(sed -n 2p r.csv | cut -d, -f11)
if grep -a -q "$mn" shelter/bosai.db shelter/bosai.db-wal 2>/dev/null; then fail "My Number on the shelter"; fi
b shelter --json resident show "$id1" > sh.json
grep -q '"my_number"' sh.json && ! grep -q '"my_number":null' sh.json && fail "shelter shows My Number: $(cat sh.json)"
check "the shelter never receives My Number"

# Two nodes that list each other: both dial, one session per pair is kept, and the dropped side
# does not keep redialling.
root_node f 042021-kita
root_node g 042021-minami
serve f
serve g 042021-kita="$PORT_f"
port_f=$PORT_f
stop f
mv f.log f-first.log
"$BOSAI" gen residents --municipality 042021 --count 200 --seed 9 --out small.csv
b f resident import small.csv 2>/dev/null
LISTEN_PORT=$port_f serve f 042021-minami="$PORT_g"
wait_until 60 "two nodes that list each other converge" count_is g 200
sleep 3
starts_f=$(grep -c "event=sync.session.start" f.log || true)
starts_g=$(grep -c "event=sync.session.start" g.log || true)
sleep 3
[ "$(grep -c "event=sync.session.start" f.log || true)" = "$starts_f" ] &&
  [ "$(grep -c "event=sync.session.start" g.log || true)" = "$starts_g" ] ||
  fail "sessions keep starting: $(grep -h "session" f.log g.log | tail -6)"
open_sessions() { echo $(( $(grep -c "event=sync.session.start" "$1.log" || true) - $(grep -c "event=sync.session.end" "$1.log" || true) )); }
expect_eq "$(open_sessions f)/$(open_sessions g)" "1/1" "one session per pair of nodes that list each other"

# Clean shutdown.
stop a
grep -q "event=node.stop node=042021-honcho status=ok" a.log || fail "clean stop: $(tail -3 a.log)"
check "SIGTERM stops the daemon cleanly"
