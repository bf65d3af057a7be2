#!/usr/bin/env bash
# A data dir on a full disk (a clerk's laptop whose disk has filled up). Every reading command
# still answers, with a warning; doctor replays into TMPDIR; a writing command fails at once,
# saying the disk is full, and changes nothing; the daemon refuses to start. With room again,
# writes go on. The disk is a small tmpfs in a mount namespace the test makes itself (`unshare`);
# the unit tests Store.AFullDiskIsStillReadAndSaysWhyNothingIsWritten and
# ResidentTest.OnAFullDiskTheRegisterIsReadAndAnImportSaysTheDiskIsFull check the same without one.
source "$(dirname "$0")/lib.sh" "$@"

if ! unshare -rm true 2>/dev/null; then
  echo "not checked here: this machine allows no mount namespace for a small disk"
  exit 77
fi
"$BOSAI" gen residents --municipality 042021 --count 2000 --seed 9 --out r.csv
"$BOSAI" gen residents --municipality 042021 --count 3000 --seed 9 --out r2.csv
mkdir disk tmp
export TMPDIR=$WORK/tmp
export -f expect_eq check fail b new_node
export BOSAI WORK
unshare -rm bash -c '
  set -euo pipefail
  mount -t tmpfs -o size=24m tmpfs disk
  new_node disk/d
  b disk/d resident import r.csv 2>/dev/null
  hash=$(b disk/d state hash)
  id=042021:$(sed -n 2p r.csv | cut -d, -f2)
  dd if=/dev/zero of=disk/fill bs=64k 2>/dev/null || true  # until the disk is full
  expect_eq "$(df --output=avail -k disk | tail -1 | tr -d " ")" 0 "the disk is full"

  warned() { grep -q "^bosai: warning: the disk that holds disk/d is full: the store is open to read only" "$1"; }
  expect_eq "$(b disk/d resident count 2> w.log)" 2000 "count on a full disk"
  warned w.log || fail "count: no warning: $(cat w.log)"
  expect_eq "$(b disk/d state hash 2> /dev/null)" "$hash" "state hash on a full disk"
  # (grep -q may close a pipe early, which pipefail would count as a failure: use files.)
  b disk/d resident show "$id" > show.txt 2> /dev/null
  grep -q "^id: *$id" show.txt || fail "show: $(cat show.txt)"
  check "show on a full disk"
  b disk/d resident search --kana "$(sed -n 2p r.csv | cut -d, -f5)" > search.txt 2> /dev/null
  grep -q "^$id " search.txt || fail "search: $(cat search.txt)"
  check "search on a full disk"
  b disk/d resident import --check r2.csv 2> check.log || fail "import --check: $(cat check.log)"
  check "import --check on a full disk"
  b disk/d doctor > doctor.txt 2> /dev/null || fail "doctor: $(cat doctor.txt)"
  grep -q "^ok: " doctor.txt || fail "doctor: $(cat doctor.txt)"
  expect_eq "$(ls tmp)" "" "doctor on a full disk replays into TMPDIR, gone after it"

  full="bosai: the disk that holds the data dir is full; free some space and run the command again"
  # At once: not after a minute of waiting for a lock that this process holds itself.
  if timeout 20 "$BOSAI" --data-dir disk/d resident import r2.csv 2> import.log; then
    fail "an import succeeded"
  fi
  expect_eq "$(tail -1 import.log)" "$full; nothing was imported" "import on a full disk"
  if timeout 20 "$BOSAI" --data-dir disk/d resident edit "$id" --set phone=0225-00-0000 \
      2> edit.log; then
    fail "an edit succeeded"
  fi
  expect_eq "$(tail -1 edit.log)" "$full" "edit on a full disk"
  printf "[node]\ndata_dir = \"disk/d\"\n[sync]\nlisten = \"127.0.0.1:0\"\n" > d.toml
  if timeout 20 "$BOSAI" serve --config d.toml 2> serve.log; then fail "serve ran"; fi
  grep -q "the disk that holds the data dir is full" serve.log || fail "serve: $(cat serve.log)"
  check "the daemon refuses to start on a full disk"
  expect_eq "$(b disk/d state hash 2> /dev/null)" "$hash" "nothing changed on a full disk"

  # Room for the store, not for a second one: doctor replays into TMPDIR.
  rm disk/fill
  size_kb=$(du -k disk/d/bosai.db | cut -f1)
  avail_kb=$(df --output=avail -k disk | tail -1)
  dd if=/dev/zero of=disk/fill bs=1k count=$((avail_kb - size_kb / 2)) 2>/dev/null
  b disk/d doctor > doctor.txt 2> /dev/null || fail "doctor: $(cat doctor.txt)"
  grep -q "^ok: " doctor.txt || fail "doctor: $(cat doctor.txt)"
  [ ! -e disk/d/doctor-replay.db ] || fail "doctor replayed into the data dir"
  expect_eq "$(ls tmp)" "" "doctor with little room replays into TMPDIR, gone after it"

  rm disk/fill
  b disk/d resident edit "$id" --set phone=0225-00-0000 > /dev/null 2> edit.log ||
    fail "edit with room again: $(cat edit.log)"
  [ -z "$(cat edit.log)" ] || fail "a warning with room again: $(cat edit.log)"
  b disk/d resident import r2.csv 2> /dev/null
  expect_eq "$(b disk/d resident count)" 3000 "with room again, writes go on"
  b disk/d doctor > doctor.txt || fail "doctor: $(cat doctor.txt)"
  check "doctor passes after it all"
'
