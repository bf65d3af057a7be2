#!/usr/bin/env bash
# A copy of a data dir checked without being changed: --read-only, or a data dir on a read-only
# mount (a backup on write-protected media, a read-only snapshot) answers every reading command,
# doctor included, refuses the writing ones with the reason, and leaves bosai.db's bytes alone.
source "$(dirname "$0")/lib.sh" "$@"

new_node d
"$BOSAI" gen residents --municipality 042021 --count 2000 --seed 5 --out r.csv
b d resident import r.csv 2>/dev/null
hash=$(b d state hash)
id=$(sed -n 2p r.csv | cut -d, -f2)
sum() { sha256sum "$1/bosai.db" | cut -d' ' -f1; }
before=$(sum d)
mkdir tmp
export TMPDIR=$WORK/tmp

# reads DIR [GLOBAL_OPTION]: every reading command answers as on the node itself
reads() {
  local d=$1; shift
  expect_eq "$(b "$d" "$@" resident count)" 2000 "$d $*: count"
  expect_eq "$(b "$d" "$@" state hash)" "$hash" "$d $*: state hash"
  b "$d" "$@" resident show "$id" | grep -q "^id: *042021:$id" || fail "$d $*: show"
  expect_eq "$(b "$d" "$@" --json conflicts list)" '{"conflicts":[],"household_heads":[],"shared_my_numbers":[]}' \
    "$d $*: conflicts list"
  b "$d" "$@" resident import r.csv --check 2> check.log || fail "$d $*: --check: $(cat check.log)"
  b "$d" "$@" doctor > doctor.txt || fail "$d $*: doctor: $(cat doctor.txt)"
  grep -q "^ok: " doctor.txt || fail "$d $*: doctor: $(cat doctor.txt)"
  expect_eq "$(ls tmp)" "" "$d $*: doctor's replay in TMPDIR is gone after it"
  if b "$d" "$@" resident edit "042021:$id" --set phone=0225-00-0000 2> edit.log; then
    fail "$d $*: an edit succeeded"
  fi
  grep -q "the store is open read-only" edit.log || fail "$d $*: edit: $(cat edit.log)"
  if b "$d" "$@" resident import r.csv 2> import.log; then fail "$d $*: an import succeeded"; fi
  grep -q "the store is open read-only.*nothing was imported" import.log ||
    fail "$d $*: import: $(cat import.log)"
  # From standard input: refused before it is read through (the writer is still writing).
  if timeout -s KILL 3 "$BOSAI" --data-dir "$d" "$@" resident import - 2> stdin.log \
    < <(head -1 r.csv; sleep 6); then
    fail "$d $*: an import from standard input succeeded"
  fi
  grep -q "the store is open read-only.*nothing was imported" stdin.log ||
    fail "$d $*: import from standard input: $(cat stdin.log)"
  check "$d $*: writing commands refused with the reason"
}

reads d --read-only
expect_eq "$(sum d)" "$before" "--read-only leaves bosai.db's bytes as they were"
[ ! -e d/doctor-replay.db ] && [ ! -e d/doctor-replay.db-lock ] || fail "doctor wrote in the data dir"

# Commands that write the data dir without its store refuse --read-only too, and write nothing.
if b fresh --read-only init --node-id 042021-x --municipality 042021 2> init.log; then
  fail "--read-only init succeeded"
fi
grep -q "init writes the data dir, and --read-only was given" init.log || fail "$(cat init.log)"
[ ! -e fresh ] || fail "--read-only init made the data dir"
if b fresh --read-only keys node request --node-id 042021-x --out req.json 2> req.log; then
  fail "--read-only keys node request succeeded"
fi
[ ! -e fresh ] && [ ! -e req.json ] || fail "--read-only keys node request wrote"
check "init and keys node request refuse --read-only"

# The same on a read-only mount, in a mount namespace of this test's own.
b d doctor >/dev/null  # leaves its lock file, as it does on a node
rm -f d/bosai.db-wal d/bosai.db-shm d/doctor-replay.db-lock
cp -a d copy
mkdir media
if unshare -rm true 2>/dev/null; then
  export -f reads expect_eq check fail b sum
  export BOSAI WORK hash id
  unshare -rm bash -c '
    set -euo pipefail
    mount --bind copy media && mount -o remount,ro,bind media
    touch media/x 2>/dev/null && fail "the mount is writable"
    reads media
    printf "[node]\ndata_dir = \"media\"\n[sync]\nlisten = \"127.0.0.1:0\"\n" > media.toml
    if timeout 10 "$BOSAI" serve --config media.toml 2> serve.log; then fail "serve ran"; fi
    grep -q "media cannot be written: the daemon stores what its peers send" serve.log ||
      fail "serve: $(cat serve.log)"
    if "$BOSAI" serve --config media.toml --check > check.log 2>&1; then
      fail "serve --check passed"
    fi
    grep -q "media cannot be written: the daemon stores what its peers send" check.log ||
      fail "serve --check: $(cat check.log)"
    check "the daemon, and its check, refuse a data dir it cannot write"
    expect_eq "$(ls media)" "$(printf "bosai.db\nkeys")" "nothing written beside the store"'
  expect_eq "$(sum copy)" "$before" "the copy on the read-only mount is unchanged"
else
  echo "not checked here: a read-only mount (this machine allows no mount namespace)"
fi
