#!/usr/bin/env bash
# kill -9 during an import leaves a consistent store (doctor passes); re-running the import
# converges to the state of an import that was never interrupted. Both import paths: the bulk
# first import (one transaction) and batched re-imports.
source "$(dirname "$0")/lib.sh" "$@"

"$BOSAI" gen residents --municipality 042021 --count 120000 --seed 5 --out big.csv
head -2001 big.csv > small.csv

# kill_after DIR FILE SECONDS: starts an import and kills it with SIGKILL after SECONDS.
kill_after() {
  "$BOSAI" --data-dir "$1" resident import "$2" 2>/dev/null &
  local pid=$!  # bosai itself, so that SIGKILL reaches it
  sleep "$3"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
elapsed_ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

new_node clean
cp -a clean bulk
cp -a clean batched
cp -a clean bulkref

# Reference states, never interrupted; their durations place the kills mid-import.
b clean resident import small.csv 2>/dev/null
t0=$(date +%s%N)
b clean resident import big.csv 2>/dev/null
batched_ms=$(elapsed_ms "$t0")
want=$(b clean state hash)
t0=$(date +%s%N)
b bulkref resident import big.csv 2>/dev/null
bulk_ms=$(elapsed_ms "$t0")
b bulkref resident import small.csv 2>/dev/null
expect_eq "$(b bulkref state hash)" "$want" "bulk and batched imports reach the same state"

# Batched path: a partial register is already there, so the big file runs in batches.
b batched resident import small.csv 2>/dev/null
kill_after batched big.csv "$(awk "BEGIN {print $batched_ms / 2000}")"
partial=$(b batched resident count)
[ "$partial" -gt 2000 ] && [ "$partial" -lt 120000 ] ||
  fail "the kill did not land mid-import ($partial rows held)"
b batched doctor >/dev/null || fail "doctor after kill -9 (batched): $(b batched doctor)"
check "doctor passes after kill -9 during a batched import ($partial of 120000 rows held)"
b batched resident import big.csv 2>/dev/null
b batched resident import small.csv 2>/dev/null
expect_eq "$(b batched state hash)" "$want" "re-import after kill -9 converges (batched)"

# Bulk path: the first import of a large file is one transaction: all or nothing.
kill_after bulk big.csv "$(awk "BEGIN {print $bulk_ms / 2000}")"
expect_eq "$(b bulk resident count)" 0 "a killed bulk import leaves nothing half-done"
b bulk doctor >/dev/null || fail "doctor after kill -9 (bulk): $(b bulk doctor)"
check "doctor passes after kill -9 during a bulk import"
b bulk resident import big.csv 2>/dev/null
b bulk resident import small.csv 2>/dev/null
expect_eq "$(b bulk state hash)" "$want" "re-import after kill -9 converges (bulk)"
