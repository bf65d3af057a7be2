#!/usr/bin/env bash
# A damaged store (README: "A damaged store"): every command says the store is damaged and where
# to look; doctor lists what SQLite finds and exits non-zero; and the way back the README gives
# works: a new node synced from a peer holds everything the damaged one replicated.
source "$(dirname "$0")/lib.sh" "$@"

root_node a 042021-honcho
root_node p 042021-shisho
"$BOSAI" gen residents --municipality 042021 --count 2000 --seed 5 --out r.csv
b a resident import r.csv 2>/dev/null
serve a
b p sync now "127.0.0.1:$PORT_a" > now.txt || fail "sync now: $(cat now.txt)"
stop a
hash=$(b a state hash)
expect_eq "$(b p state hash)" "$hash" "the peer holds what the node replicated"

# damage DIR HOW: the store's file, its WAL folded in first, cut to half or its pages overwritten
damage() {
  sqlite3 "$1/bosai.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  local size
  size=$(stat -c %s "$1/bosai.db")
  case $2 in
    cut) truncate -s $((size / 2)) "$1/bosai.db" ;;
    garble) printf 'not a database at all, just text that replaced it%.0s' $(seq 1 40) > "$1/bosai.db" ;;
  esac
}
cp -r a a-garbled
damage a cut
damage a-garbled garble

for d in a a-garbled; do
  rc=0
  b "$d" resident count > out.txt 2> err.txt || rc=$?
  expect_eq "$rc" 1 "$d: a command on a damaged store fails"
  grep -q "the store is damaged: \`bosai doctor\` lists what SQLite finds in it, and the README's \"A damaged store\" says how to rebuild the node from its peers" err.txt ||
    fail "$d: count: $(cat err.txt)"
  rc=0
  b "$d" doctor > doctor.txt 2> doctor.err || rc=$?
  expect_eq "$rc" 1 "$d: doctor exits non-zero"
  grep -q "^problem: .*sqlite: " doctor.txt || fail "$d: doctor: $(cat doctor.txt doctor.err)"
  expect_eq "$(tail -1 doctor.txt)" "DAMAGED: the store cannot be read; the README's \"A damaged store\" says how to rebuild the node from its peers" \
    "$d: doctor says the store is damaged, and where the way back is"
  rc=0
  b "$d" --json doctor > doctor.json || rc=$?
  expect_eq "$rc" 1 "$d: doctor --json exits non-zero"
  grep -q '^{"ok":false,"problems":\["' doctor.json || fail "$d: doctor --json: $(cat doctor.json)"
done
grep -q "file is not a database" doctor.txt || fail "garbled: $(cat doctor.txt)"

# The way back: the damaged data dir set aside, a new node under the same root syncs from the peer.
mv a a.damaged
root_node a2 042021-honcho2
serve p
b a2 sync now "127.0.0.1:$PORT_p" > now.txt || fail "sync now: $(cat now.txt)"
expect_eq "$(b a2 state hash)" "$hash" "a node rebuilt from a peer holds what the damaged one replicated"
expect_eq "$(b a2 resident count)" 2000 "its residents"
b a2 doctor > doctor.txt || fail "the rebuilt node's doctor: $(cat doctor.txt)"
check "the rebuilt node's doctor passes"
