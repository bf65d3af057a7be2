#!/usr/bin/env bash
# A node lost with its key (a shelter laptop broken or stolen): its writes made offline and never
# synced survive in its backup. Another node takes them in (`restore --from-lost-node`), verified
# by the lost node's certificate the backup holds, and sends them on: to a peer that never met the
# lost node too. Taking them in again changes nothing. Refused, changing nothing: this node's own
# backup, a file that is no backup, and a node this node cannot verify (another root's, revoked).
source "$(dirname "$0")/lib.sh" "$@"

honcho_and_shisho
# The shelter laptop gets the register from the town hall, then works offline.
root_node h 042021-shelter-01
b h sync now "$A" > /dev/null
b h resident edit "$x" --set phone=0225-11-1111 > /dev/null
b h resident edit "$y" --set phone=0225-22-2222 > /dev/null
b h backup --out h.bak > /dev/null
b h resident edit "$x" --set phone=0225-99-9999 > /dev/null # after the backup: lost with it
rm -rf h
check "the shelter node wrote offline, was backed up, and is lost"

# shisho never met the shelter node. It takes the writes in, its daemon running, with a live
# session to a node that never met the shelter node either.
serve s
root_node t 042021-shelter-02
serve t "042021-shisho=$PORT_s"
wait_until 20 "the new node is live with shisho" same_hash t s
before=$(b s state hash)
b s restore h.bak --from-lost-node > lost.out 2> lost.err || fail "restore --from-lost-node: $(cat lost.err)"
expect_eq "$(cat lost.out)" "took in 2 ops from h.bak, the backup of lost node 042021-shelter-01#1: this node sends them on to its peers at the next sync" \
  "the writes the backup holds and this node lacks are taken in"
expect_eq "$(cat lost.err)" "" "nothing is left out"
expect_eq "$(phone s "$x") $(phone s "$y")" "0225-11-1111 0225-22-2222" "the lost node's offline writes"
[ "$(b s state hash)" != "$before" ] || fail "the state did not change"
b s restore h.bak --from-lost-node > again.out || fail "the same restore again"
expect_eq "$(cat again.out)" "took in nothing from h.bak, the backup of lost node 042021-shelter-01#1: this node held all of it already" \
  "taking the same backup in again changes nothing"

# They reach the node that never met the lost node: the daemon starts its live session again,
# to send the lost node's certificate in Hello, rather than push blocks the peer cannot verify.
wait_until 20 "a node that never met the lost node verifies its writes" same_hash t s
expect_eq "$(phone t "$x")" "0225-11-1111" "and holds them"
stop t
stop s
grep -q "event=sync.trust.learned certificates=1" s.log || fail "shisho's daemon did not learn: $(cat s.log)"
grep -q "not trusted" s.log t.log && fail "blocks refused: $(grep -h "not trusted" s.log t.log)"
check "the live session started again with the lost node's certificate"
b s doctor > /dev/null || fail "doctor after taking a lost node's writes in"
b s sync now "$A" > /dev/null || fail "sync after taking a lost node's writes in"
expect_eq "$(phone a "$x") $(phone a "$y")" "0225-11-1111 0225-22-2222" "the town hall gets them"
expect_eq "$(b a state hash)" "$(b s state hash)" "the town hall and shisho converge"

# A node that may read the register only takes in no My Number: those streams are named.
b p keys node request --node-id 042021-partner --out preq.json > /dev/null
"$BOSAI" keys node issue --root root --request preq.json --issuer-code PARTNER --write "" \
  --read 042021 --out penr.json > /dev/null
b p init --enrollment penr.json > /dev/null
b p restore h.bak --from-lost-node > p.out 2> p.err || fail "a register-only reader: $(cat p.err)"
grep -qE "^took in [0-9]+ ops from h.bak, the backup of lost node 042021-shelter-01#1: " p.out || fail "$(cat p.out)"
expect_eq "$(cat p.err)" "left out (this node may not read them, or cannot verify who wrote them): 042021-honcho#1 042021/mynumber" \
  "the streams a node may not read are left out, and named"
expect_eq "$(phone p "$x")" "0225-11-1111" "the register-only reader holds the lost node's writes"
b p --json resident show "$x" --reveal-my-number | grep -q '"my_number":"' && fail "My Number reached a register-only reader"
check "no My Number reaches a node that may not read it"
b p restore h.bak --from-lost-node > p2.out 2> /dev/null
expect_eq "$(cat p2.out)" "took in nothing from h.bak, the backup of lost node 042021-shelter-01#1: this node held all it may take of it already" \
  "taken in again by the reader: nothing, and not all of it"

# Refused, changing nothing.
hash=$(b s state hash)
refused() {  # FILE MESSAGE
  if b s restore "$1" --from-lost-node 2> refused.err; then fail "took in $1"; fi
  expect_eq "$(cat refused.err)" "bosai: $2" "taking in $1 is refused"
  expect_eq "$(b s state hash)" "$hash" "a refused restore of $1 changes nothing"
}
b s backup --out s.bak > /dev/null
refused s.bak "s.bak: a backup of this node (042021-shisho#1): \`bosai restore s.bak\` without --from-lost-node puts it back to it; nothing was restored"
refused r.csv "r.csv: sqlite: file is not a database (not a bosai backup, or a damaged one): nothing was restored"
new_node z 042021-zeta # under a root of its own
b z resident import r.csv 2> /dev/null
b z backup --out z.bak > /dev/null
refused z.bak "z.bak: this node cannot verify the writes of 042021-zeta: its certificate is refused (certificate not issued by a trusted root (node certificate is not signed by this root)); nothing was restored"
cp h.bak nocert.bak
sqlite3 nocert.bak "DELETE FROM sync_certificates"
root_node u 042021-shelter-03
if b u restore nocert.bak --from-lost-node 2> nocert.err; then fail "took in a backup without certificates"; fi
expect_eq "$(cat nocert.err)" "bosai: nocert.bak: this node cannot verify the writes of 042021-shelter-01: the backup holds no certificate of it, and it never synced with this node; nothing was restored" \
  "a backup without the lost node's certificate, on a node that never met it"
"$BOSAI" keys revoke 042021-shelter-01 --root root > /dev/null
"$BOSAI" keys trust export --root root --out trust.json > /dev/null
b s keys trust import trust.json > /dev/null
refused h.bak "h.bak: this node cannot verify the writes of 042021-shelter-01: its certificate is refused (node 042021-shelter-01 is revoked); nothing was restored"
ls s | grep -q lost-node && fail "a restore left a file: $(ls s)"
check "a lost node's backup is refused where it cannot be verified"
