#!/usr/bin/env bash
# A node put back from an older copy of its data dir (a restored VM snapshot, a backup, a copied
# folder) with the epoch it had: its streams go on from numbers its peers may hold already. (A
# data dir copied to a second computer that runs as the same node is found the same way.)
#  - If it wrote nothing since the copy, it gets its own writes back from a peer.
#  - If it wrote again, its new writes took numbers its peers hold for other writes: the peer
#    that holds them and the node itself both find the fork (Hello tips, then ApplyBlock) and
#    refuse to sync, saying why; nothing is applied on either side. Before, the two sides each
#    took the other's writes under those numbers as held, and parted without a word.
#  - Its fork relayed by a node that held less of its stream: that node and a peer holding the
#    original sync all the rest, but not that stream, and say why.
source "$(dirname "$0")/lib.sh" "$@"

honcho_and_shisho
root_node c 042021-hub
b s resident edit "$x" --set phone=0225-11-1111 > /dev/null
b s sync now "$A" > /dev/null
cp -a s copy   # no process has s open
b s resident edit "$x" --set phone=0225-22-2222 > /dev/null
b s resident edit "$y" --set phone=0225-33-3333 > /dev/null
b s sync now "$A" > /dev/null
hash=$(b a state hash)

put_back() { rm -rf s && cp -a copy s; }
put_back
b s sync now "$A" > healed.out || fail "a node put back that wrote nothing since: $(cat healed.out)"
expect_eq "$(phone s "$x") $(phone s "$y")" "0225-22-2222 0225-33-3333" \
  "a node put back that wrote nothing since gets its own writes back"
expect_eq "$(b s state hash)" "$hash" "and holds what its peer holds"
b s doctor > /dev/null || fail "doctor after the writes came back"
b s resident edit "$x" --set phone=0225-55-5555 > /dev/null
b s sync now "$A" > /dev/null || fail "a write after the writes came back"
expect_eq "$(phone a "$x")" "0225-55-5555" "its next write goes on after them, and reaches the peer"
rm -rf copy && cp -a s copy   # the copy the node is put back from below: seq 4 its last
b c sync now "$A" > /dev/null  # C holds S's writes up to the copy (below: S's fork reaches it)
b s resident edit "$x" --set phone=0225-66-6666 > /dev/null
b s resident edit "$y" --set phone=0225-77-7777 > /dev/null
b s sync now "$A" > /dev/null
hash=$(b a state hash)

# Wrote again since the copy: fewer writes than it lost (the peer finds it by the node's tip),
# as many, and more (the node finds it by the peer's tip of the node's stream).
said() {  # WHO EVIDENCE: what the sync of a node put back that wrote again says
  local who=$1 evidence=$2
  if [ "$who" = "that" ]; then
    echo "bosai: Error frame from 042021-honcho#1: peer reports: Hello frame from peer: 042021-shisho#1 wrote again after its data dir was put back from an older copy (a restored snapshot or backup) or copied to another computer: $evidence. Its writes since the copy took numbers its peers hold for other writes, and are refused: make that node again under a new node id from a peer, and enter again what was written there since the copy"
  else
    echo "bosai: Hello frame from peer: this node wrote again after its data dir was put back from an older copy (a restored snapshot or backup) or copied to another computer: $evidence. Its writes since the copy took numbers its peers hold for other writes, and cannot reach them: make this node again under a new node id from a peer, and enter again what was written here since the copy"
  fi
}
for n in 1 2 3; do
  put_back
  for i in $(seq "$n"); do b s resident edit "$y" --set phone=0225-44-000$i > /dev/null; done
  mine=$(b s state hash)
  if b s sync now "$A" 2> forked.err; then fail "a node put back that made $n edits synced"; fi
  if [ "$n" = 1 ]; then
    want=$(said that "042021-shisho#1 and this node hold different blocks of 042021-shisho#1 042021 under seq 5")
  else
    want=$(said this "042021-honcho#1 and this node hold different blocks of 042021-shisho#1 042021 under seq 6")
  fi
  expect_eq "$(cat forked.err)" "$want" "a node put back that made $n edits is refused, and told why"
  expect_eq "$(b a state hash) $(b s state hash)" "$hash $mine" "neither side applied anything ($n)"
  expect_eq "$(phone a "$x") $(phone a "$y")" "0225-66-6666 0225-77-7777" \
    "the peer keeps the writes made before the copy ($n)"
done
grep -qF "error=\"Hello frame from peer: 042021-shisho#1 wrote again after its data dir was put back" a.log ||
  fail "the peer's log: $(tail -3 a.log)"
check "the peer's log names the node put back"

# S's fork reaches C, which held less of S's stream, and C meets A: C finds the fork by A's tip
# of S's stream and sends A none of it. The rest goes on; both say so in their logs.
serve c
b s sync now "127.0.0.1:$PORT_c" > /dev/null || fail "the fork did not reach C"
b c resident edit "$x" --set address="石巻市中央一丁目1番1号" > /dev/null
c_hash=$(b c state hash)
b c sync now "$A" > relayed.out 2> relayed.err || fail "C and A stopped syncing: $(cat relayed.err)"
forked="042021-shisho#1 wrote again after its data dir was put back from an older copy (a restored snapshot or backup) or copied to another computer: 042021-honcho#1 and this node hold different blocks of 042021-shisho#1 042021 under seq 6. Its writes since the copy took numbers its peers hold for other writes, and are refused: make that node again under a new node id from a peer, and enter again what was written there since the copy"
expect_eq "$(cat relayed.err)" "warning: not sent: $forked" "C says why it holds back S's stream"
grep -qF "event=sync.stream.forked peer=042021-hub" a.log && fail "A found a fork it does not hold"
expect_eq "$(phone a "$x") $(phone a "$y")" "0225-66-6666 0225-77-7777" "A gets none of S's fork through C"
expect_eq "$(b a resident show "$x" | sed -n 's/^address: *//p')" "石巻市中央一丁目1番1号" \
  "C's own write reaches A all the same"

# The peer goes on serving others.
root_node d 042021-kita
b d sync now "$A" > /dev/null || fail "the peer stopped serving others"
expect_eq "$(b d state hash)" "$(b a state hash)" "another node syncs with the peer"
