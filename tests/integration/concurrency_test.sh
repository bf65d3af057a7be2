#!/usr/bin/env bash
# Several bosai processes write to one data dir at once: every command succeeds (writers wait
# for the lock), nothing is lost, and the store stays consistent.
source "$(dirname "$0")/lib.sh" "$@"

new_node d
"$BOSAI" gen residents --municipality 042021 --count 2000 --seed 4 --out r.csv
b d resident import r.csv 2>/dev/null
ids=$(sed -n '2,41p' r.csv | cut -d, -f2)
"$BOSAI" gen residents --municipality 042021 --count 30000 --seed 8 --out more.csv

b d resident import more.csv 2>/dev/null &
importer=$!
pids=()
n=0
for id in $ids; do
  n=$((n + 1))
  b d resident edit "$id" --set "phone=0225-00-$(printf %04d $n)" >/dev/null &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent edit failed"; done
wait "$importer" || fail "the concurrent import failed"
check "40 edits and an import ran at once without errors"

n=0
for id in $ids; do
  n=$((n + 1))
  b d --json resident show "$id" > shown.json
  grep -q "\"phone\":\"0225-00-$(printf %04d $n)\"" shown.json || fail "edit of $id lost"
done
check "no acknowledged edit lost"
expect_eq "$(b d resident count)" 32000 "count after concurrent work"
b d doctor >/dev/null || fail "doctor: $(b d doctor)"
check "doctor passes"

# Commands that only read never wait for a writer: with another process holding the write lock
# (as a long import does), they answer. Bounded by `timeout`, well below the 60 s busy timeout
# a command that wanted the lock would wait.
b d sync status >/dev/null  # creates the sync tables once
mkfifo lock.fifo
sqlite3 d/bosai.db < lock.fifo > lock.out &
holder=$!
exec 7> lock.fifo
echo "BEGIN IMMEDIATE; SELECT 'locked';" >&7
for _ in $(seq 1 100); do grep -q locked lock.out 2>/dev/null && break; sleep 0.05; done
grep -q locked lock.out || fail "the lock holder did not start"
kana=$(sed -n 2p r.csv | cut -d, -f5 | sed 's/　.*//')
for cmd in "resident count" "resident search --kana $kana" "state hash" "sync status" \
  "conflicts list" "sync vector --out v.bin"; do
  timeout 20 "$BOSAI" --data-dir d $cmd >/dev/null || fail "'$cmd' waited for the writer's lock"
done
echo "ROLLBACK;" >&7
exec 7>&-
wait "$holder"
check "commands that only read do not wait for another process's write lock"
