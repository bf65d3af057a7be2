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
cp -a clean clean_copy
cp -a clean batched
cp -a clean bulkref

# Reference states, never interrupted; their durations place the kills mid-import.
b clean resident import small.csv 2>/dev/null
b clean resident import big.csv 2>/dev/null
want=$(b clean state hash)
t0=$(date +%s%N)
b bulkref resident import big.csv 2>/dev/null
bulk_ms=$(elapsed_ms "$t0")
b bulkref resident import small.csv 2>/dev/null
expect_eq "$(b bulkref state hash)" "$want" "bulk and batched imports reach the same state"

# Batched path: a partial register is already there, so the big file runs in batches. Kill it
# once the first batches are committed (visible in the count).
b batched resident import small.csv 2>/dev/null
"$BOSAI" --data-dir batched resident import big.csv 2>/dev/null &
pid=$!  # bosai itself, so that SIGKILL reaches it
for _ in $(seq 1 600); do
  [ "$(b batched resident count 2>/dev/null || echo 0)" -gt 6000 ] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
partial=$(b batched resident count)
[ "$partial" -gt 2000 ] && [ "$partial" -lt 120000 ] ||
  fail "the kill did not land mid-import ($partial rows held)"
b batched doctor >/dev/null || fail "doctor after kill -9 (batched): $(b batched doctor)"
check "doctor passes after kill -9 during a batched import ($partial of 120000 rows held)"
b batched resident import big.csv 2>/dev/null
b batched resident import small.csv 2>/dev/null
expect_eq "$(b batched state hash)" "$want" "re-import after kill -9 converges (batched)"

# Bulk path: the first import of a large file is one transaction: all or nothing. Nothing shows
# its progress, so kill it half-way through its reference duration, sooner if it finished.
delay_ms=$((bulk_ms / 2))
for attempt in 1 2 3 4; do
  rm -rf bulk && cp -a clean_copy bulk
  kill_after bulk big.csv "$(awk "BEGIN {print $delay_ms / 1000}")"
  [ "$(b bulk resident count)" = 0 ] && break
  delay_ms=$((delay_ms / 2))
  [ "$attempt" = 4 ] && fail "the bulk import always finished before the kill"
done
b bulk doctor >/dev/null || fail "doctor after kill -9 (bulk): $(b bulk doctor)"
check "a killed bulk import leaves nothing half-done, and doctor passes"
b bulk resident import big.csv 2>/dev/null
b bulk resident import small.csv 2>/dev/null
expect_eq "$(b bulk state hash)" "$want" "re-import after kill -9 converges (bulk)"

# Ctrl-C (SIGINT) or SIGTERM during an import: it stops at its next row, says so and what it
# kept, and exits 128 + the signal; the store is as a kill leaves it.
for sig in INT TERM; do
  delay_ms=$((bulk_ms / 2))
  for attempt in 1 2 3 4; do
    rm -rf stopped && cp -a clean_copy stopped
    "$BOSAI" --data-dir stopped resident import big.csv 2> stopped.log &
    pid=$!
    sleep "$(awk "BEGIN {print $delay_ms / 1000}")"
    kill -"$sig" "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    # (The signal may come once the import has committed, as the process ends: again, sooner.)
    [ "$rc" != 0 ] && grep -q "interrupted" stopped.log && break
    delay_ms=$((delay_ms / 2))
    [ "$attempt" = 4 ] && fail "the import always finished before SIG$sig"
  done
  expect_eq "$rc" "$((128 + $(kill -l "$sig")))" "exit code after SIG$sig"
  expect_eq "$(cat stopped.log)" "bosai: interrupted; nothing was imported" "SIG$sig message"
  expect_eq "$(b stopped resident count)" 0 "nothing imported after SIG$sig"
  b stopped doctor >/dev/null || fail "doctor after SIG$sig: $(b stopped doctor)"
done
b stopped resident import big.csv 2>/dev/null
b stopped resident import small.csv 2>/dev/null
expect_eq "$(b stopped state hash)" "$want" "re-import after an interrupted import converges"
