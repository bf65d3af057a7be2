#!/usr/bin/env bash
# bosai backup and restore (DESIGN §3, §8): a restore puts the node back as the backup had it,
# under a new epoch. Its writes from then on, even before it syncs, go to new streams; the writes
# it made after the backup come back from its peers. Nothing is lost, and nothing is refused as a
# fork (compare restored_test: a data dir put back by a plain copy). Bad backups, another node's,
# and a restore under a running daemon are refused and change nothing. A backup sealed with a
# passphrase holds nothing in the clear and opens with that passphrase only.
source "$(dirname "$0")/lib.sh" "$@"

honcho_and_shisho
b s resident edit "$x" --set phone=0225-11-1111 > /dev/null
b s sync now "$A" > /dev/null

b s backup --out s.bak > backup.out
grep -qE "^wrote s.bak: 042021-shisho#1 as of now \([0-9]+ ops, [0-9]+ bytes\); \`bosai restore s.bak\` puts the node back to it, under a new epoch$" backup.out ||
  fail "backup: $(cat backup.out)"
expect_eq "$(stat -c %a s.bak)" "600" "a backup is its owner's alone"
[ ! -e s.bak-wal ] && [ ! -e s.bak.partial ] || fail "a backup is one file"
if b s backup --out s.bak 2> again.err; then fail "a backup written over"; fi
expect_eq "$(cat again.err)" "bosai: s.bak: exists already, and is never written over" "a backup is never written over"
if b s backup --out - 2> stdout.err; then fail "a backup to standard output"; fi
expect_eq "$(cat stdout.err)" "bosai: a backup is written to a file (a database), not to standard output" \
  "a backup to standard output is refused"

# After the backup: two writes, sent to A. Then the restore, and a write before any sync.
b s resident edit "$x" --set phone=0225-22-2222 > /dev/null
b s resident edit "$y" --set phone=0225-33-3333 > /dev/null
b s sync now "$A" > /dev/null
b s restore s.bak > restore.out
expect_eq "$(cat restore.out)" "restored s.bak into s as 042021-shisho#2 ($(b s --json sync status | sed -n 's/.*"ops":\([0-9]*\).*/\1/p') ops): writes from now on go to the new epoch; \`bosai sync now\` (or the daemon) brings back from the peers what the node wrote after the backup" \
  "restore says the node's new incarnation"
expect_eq "$(phone s "$x")" "0225-11-1111" "the node is as the backup had it"
b s resident edit "$y" --set phone=0225-44-4444 > /dev/null
b s sync now "$A" > /dev/null || fail "the restored node syncs"
expect_eq "$(b s state hash)" "$(b a state hash)" "the restored node and its peer converge"
expect_eq "$(phone s "$x") $(phone a "$x")" "0225-22-2222 0225-22-2222" \
  "the writes made after the backup come back from the peer"
expect_eq "$(phone a "$y")" "0225-44-4444" "the write made after the restore reaches the peer"
# (it did not see the write of y made after the backup: the two are kept as a conflict)
b a conflicts list --record "042021:$y" > c.txt
grep -qF 'phone: shown "0225-44-4444", other "0225-33-3333"' c.txt || fail "the conflict: $(cat c.txt)"
b s doctor > /dev/null || fail "doctor after the restore"

# Refused, changing nothing: a file that is no backup, a damaged one, one without a node,
# another node's, none at all, and a restore while a daemon runs on the data dir.
hash=$(b s state hash)
refused() {  # FILE MESSAGE
  if b s restore "$1" 2> refused.err; then fail "restored $1"; fi
  expect_eq "$(cat refused.err)" "bosai: $2" "restore of $1 is refused"
  expect_eq "$(b s state hash)" "$hash" "a refused restore of $1 changes nothing"
}
refused r.csv "r.csv: sqlite: file is not a database (not a bosai backup, or a damaged one): nothing was restored"
head -c 20000 s.bak > cut.bak
refused cut.bak "cut.bak: sqlite: database disk image is malformed (not a bosai backup, or a damaged one): nothing was restored"
b a backup --out a.bak > /dev/null
refused a.bak "a.bak: the backup of 042021-honcho#1, whose key is not this data dir's (s/keys/node.key): a backup is restored into its own node's data dir (\`--from-lost-node\` takes the writes of a node that is lost into this one); nothing was restored"
refused none.bak "none.bak: no such file"
if b nodir restore s.bak 2> nodir.err; then fail "restored into a data dir with no node"; fi
expect_eq "$(cat nodir.err)" "bosai: nodir holds no node key (keys/node.key): a backup is restored into its own node's data dir, whose keys are there" \
  "a restore into a data dir with no node is refused"
[ ! -e nodir ] || fail "a refused restore made a data dir"
serve s
refused s.bak "a daemon runs on s (s/sync-status.json): stop it first, then restore, then start it again"
stop s
ls s | grep -q restore && fail "a refused restore left a file: $(ls s)"
check "bad backups and a restore under a daemon are refused"

# A store too damaged to open: moved aside, the backup put in its place. The epoch the node had
# is unknown then: the new one is the clock's seconds, above any an earlier restore took.
echo "not a database" > s/bosai.db
rm -f s/bosai.db-wal s/bosai.db-shm
b s restore s.bak > damaged.out 2> damaged.err || fail "restore over a damaged store: $(cat damaged.err)"
grep -qE "^the database that could not be opened is kept as s/bosai.db.damaged-[0-9]+$" damaged.err ||
  fail "the damaged store set aside: $(cat damaged.err)"
expect_eq "$(cat s/bosai.db.damaged-*)" "not a database" "the damaged store is kept"
epoch=$(sed -n 's/.* as 042021-shisho#\([0-9]*\) .*/\1/p' damaged.out)
[ "${epoch:-0}" -gt 1000000000 ] || fail "the epoch after a restore over a damaged store: $(cat damaged.out)"
b s resident edit "$x" --set phone=0225-55-5555 > /dev/null
b s sync now "$A" > /dev/null || fail "the node restored over a damaged store syncs"
expect_eq "$(b s state hash)" "$(b a state hash)" "and converges with its peer"
expect_eq "$(phone a "$x") $(phone s "$y")" "0225-55-5555 0225-44-4444" \
  "its new write reaches the peer; its writes since the backup come back"
expect_eq "$(ls s | grep -c restore)" "0" "nothing of the restore is left beside the store"
check "a restore over a damaged store"

# A backup sealed with a passphrase: nothing of it in the clear (a plain one holds the names),
# opened only with that passphrase, whole; restored as a plain one is, or taken in from a node
# that is lost.
name=$(sed -n 2p r.csv | cut -d, -f4)
echo "石巻市 防災 2026 バックアップ" > pass.txt
echo "short" > short.txt
if b s backup --out short.bak --passphrase-file short.txt 2> short.err; then fail "sealed with a short passphrase"; fi
expect_eq "$(cat short.err)" "bosai: short.txt: a passphrase of 5 characters; one that seals a file has at least 12" \
  "a short passphrase does not seal"
[ ! -e short.bak ] || fail "a refused backup left a file"
b s backup --out plain.bak > /dev/null 2> plain.err
grep -qF "(not sealed: whoever has the file reads residents' names and addresses; --passphrase-file seals it)" plain.err ||
  fail "a backup not sealed says so: $(cat plain.err)"
grep -qaF "$name" plain.bak || fail "the plain backup holds the name $name"
b s backup --out s.sealed --passphrase-file pass.txt > sealed.out
grep -qE "^wrote s.sealed: 042021-shisho#[0-9]+ as of now \([0-9]+ ops, [0-9]+ bytes, sealed\); \`bosai restore s.sealed --passphrase-file pass.txt\` puts the node back to it, under a new epoch$" sealed.out ||
  fail "sealed backup: $(cat sealed.out)"
grep -qaF "$name" s.sealed && fail "the sealed backup holds the name $name in the clear"
expect_eq "$(stat -c %a s.sealed)" "600" "a sealed backup is its owner's alone"
ls s | grep -q "bosai.db.backup" && fail "the clear copy was left in the data dir: $(ls s)"
check "a sealed backup holds nothing in the clear"
hash=$(b s state hash)
refused s.sealed "s.sealed: a backup sealed with a passphrase: give it with --passphrase-file FILE; nothing was restored"
echo "another passphrase entirely" > wrong.txt
if b s restore s.sealed --passphrase-file wrong.txt 2> wrong.err; then fail "opened with a wrong passphrase"; fi
expect_eq "$(cat wrong.err)" "bosai: s.sealed: the passphrase does not open it (or the file was altered); nothing was restored" \
  "a wrong passphrase opens nothing"
head -c $(( $(stat -c %s s.sealed) - 100 )) s.sealed > cut.sealed
if b s restore cut.sealed --passphrase-file pass.txt 2> cut.err; then fail "a cut sealed backup restored"; fi
grep -qE "^bosai: cut.sealed: cut short at byte [0-9]+; nothing was restored$" cut.err || fail "$(cat cut.err)"
expect_eq "$(b s state hash)" "$hash" "refused sealed backups change nothing"
b s resident edit "$x" --set phone=0225-66-6666 > /dev/null
b s restore s.sealed --passphrase-file pass.txt > unsealed.out || fail "restore of the sealed backup"
grep -q "^restored s.sealed into s as 042021-shisho#" unsealed.out || fail "$(cat unsealed.out)"
expect_eq "$(b s state hash)" "$hash" "the sealed backup restores the node as it was"
ls s | grep -q restore && fail "the opened copy was left in the data dir: $(ls s)"
root_node t 042021-shelter-04
b t restore s.sealed --from-lost-node --passphrase-file pass.txt > lost.out || fail "a sealed backup taken in"
grep -q "^took in [0-9]* ops from s.sealed, the backup of lost node 042021-shisho#" lost.out || fail "$(cat lost.out)"
check "a sealed backup is opened with its passphrase only"
# The passphrase from standard input: piped, or typed at a terminal (twice to seal, not shown).
b s backup --out piped.sealed --passphrase-file - < pass.txt > /dev/null 2>&1 || fail "a passphrase piped"
b t restore piped.sealed --from-lost-node --passphrase-file pass.txt > /dev/null || fail "sealed with the piped passphrase"
printf 'typed at a terminal 1\ntyped at a terminal 1\n' |
  script -qec "$BOSAI --data-dir s backup --out typed.sealed --passphrase-file -" /dev/null > typed.out
grep -q "wrote typed.sealed: .*, sealed)" typed.out || fail "a passphrase typed: $(cat typed.out)"
echo "typed at a terminal 1" > typed.txt
b t restore typed.sealed --from-lost-node --passphrase-file typed.txt > /dev/null || fail "sealed with the typed passphrase"
printf 'typed at a terminal 1\ntyped at a terminal 2\n' |
  script -qec "$BOSAI --data-dir s backup --out mistyped.sealed --passphrase-file -" /dev/null > mistyped.out || true
grep -q "bosai: the two passphrases typed differ" mistyped.out || fail "two passphrases typed: $(cat mistyped.out)"
[ ! -e mistyped.sealed ] || fail "sealed with passphrases that differ"
check "a passphrase piped, or typed twice at a terminal"
