#!/usr/bin/env bash
# Offline bundles (DESIGN §5): export for a node or against its vector file, import, import twice
# changes nothing; tampered, truncated, foreign and garbage bundles are refused with nothing
# applied.
source "$(dirname "$0")/lib.sh" "$@"

root_node a 042021-honcho
root_node b 042021-shisho
"$BOSAI" gen residents --municipality 042021 --count 500 --seed 3 --out r.csv
b a resident import r.csv 2>/dev/null

# Against a vector file carried from B (B has never met A).
b b sync vector --out b.vec > vec.log
grep -q "^wrote b.vec: 042021-shisho holds 0 ops in 0 streams;" vec.log || fail "sync vector says: $(cat vec.log)"
b a sync vector --out a.vec > vec.log
grep -q "^wrote a.vec: 042021-honcho holds [1-9][0-9]* ops in [1-9] streams;" vec.log ||
  fail "sync vector says: $(cat vec.log)"
b a --json sync vector --out - > a2.vec 2> vec.json
cmp -s a.vec a2.vec || fail "the vector on stdout differs from the file"
grep -q '"out":"-","streams":[1-9]' vec.json || fail "sync vector --json to stdout: $(cat vec.json)"
# To standard output (here a file the shell appends to): written to, never replaced.
echo "before" > out.log
b b sync vector --out /dev/stdout >> out.log
expect_eq "$(head -1 out.log)" "before" "a vector file to /dev/stdout is appended"
cmp -s <(tail -n +2 out.log) b.vec || fail "the vector on stdout differs: $(cat out.log)"
[ -L /dev/stdout ] || fail "/dev/stdout is no longer a link"
b a resident export --out /dev/stdout > exported.csv 2> /dev/null
expect_eq "$(wc -l < exported.csv)" 501 "a register exported to standard output"
# "-" is standard output too, as most tools read it: no file named "-".
b a resident export --out - 2> /dev/null | cmp - exported.csv || fail "export --out - differs"
b b sync vector --out - | cmp - b.vec || fail "sync vector --out - differs"
"$BOSAI" gen residents --municipality 042021 --count 5 --out - | cmp - <("$BOSAI" gen residents --municipality 042021 --count 5) ||
  fail "gen --out - differs"
[ ! -e ./- ] || fail "a file named - was written"
ln -s b.vec link.vec
b b sync vector --out link.vec
[ -L link.vec ] || fail "a vector written through a link replaced the link"
check "files written to standard output and through links"
b a --json sync export --vector b.vec --out all.bundle > ex.json
grep -q '"blocks":2' ex.json || fail "export: $(cat ex.json)"
# A bundle written to standard output is the bundle alone: what the export says goes to stderr.
b a sync export --vector b.vec --out - > piped.bundle 2> piped.log
ops=$(grep -o '"ops":[0-9]*' ex.json | cut -d: -f2)
expect_eq "$(cat piped.log)" "wrote - (standard output): 2 blocks, $ops ops, $(stat -c %s piped.bundle) bytes" \
  "export to stdout says so on stderr"
b a --json sync export --vector b.vec --out /dev/stdout > piped2.bundle 2> piped2.json
grep -q '"out":"/dev/stdout"' piped2.json || fail "export --json to stdout: $(cat piped2.json)"
empty=$(b b state hash)

# A vector file that is not one: said with where it fails to parse, or that it is far too large.
printf '{"vector": [\n  {"incarnation": "x", }\n' > bad.vec
if b a sync export --vector bad.vec --out x.bundle 2> v.err; then fail "a bad vector file"; fi
expect_eq "$(cut -c1-68 v.err)" "bosai: bad.vec: not a vector file: parse error at line 2, column 24:" \
  "a vector file that does not parse"
{ yes 042021,1 || true; } | head -c 2000000 > big.csv
if b a sync export --vector big.csv --out x.bundle 2> v.err; then fail "a register as vector file"; fi
grep -q "big.csv: not a vector file (over 1048576 bytes" v.err || fail "$(cat v.err)"
[ ! -e x.bundle ] || fail "a bundle was written against a bad vector file"
# One carried file taken for another (on a USB stick, the bundle for the vector) is named.
if b a sync export --vector all.bundle --out x.bundle 2> v.err; then fail "a bundle as vector file"; fi
grep -qF "all.bundle: not a vector file" v.err && grep -qF "; it is a sync bundle (bosai sync import)" v.err ||
  fail "a bundle as vector file: $(cat v.err)"
if b b sync import b.vec 2> v.err; then fail "a vector file imported as a bundle"; fi
expect_eq "$(cat v.err)" "bosai: b.vec: not a bosai bundle (magic at offset 0); it is a vector file (bosai sync export --vector)" \
  "a vector file imported as a bundle"
check "a file that is not a vector file is said as such"

# Damaged bundles first: nothing applied.
cp all.bundle tampered.bundle
size=$(stat -c %s all.bundle)
printf '\x55' | dd of=tampered.bundle bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
if b b sync import tampered.bundle 2> t.err; then fail "tampered bundle imported"; fi
grep -q "signature of 042021-honcho#1 does not verify" t.err || fail "tampered: $(cat t.err)"
# A byte of the exporter's certificate (text) made one that is not UTF-8: the body does not
# parse, said in one line (not protobuf's own log line beside it).
cp all.bundle mangled.bundle
printf '\xff' | dd of=mangled.bundle bs=1 seek=80 conv=notrunc 2>/dev/null
if b b sync import mangled.bundle 2> m.err; then fail "mangled bundle imported"; fi
expect_eq "$(cat m.err)" "bosai: mangled.bundle: body does not parse: the file is damaged (export \
it again from the node that wrote it)" "a bundle whose body does not parse"
head -c $((size - 100)) all.bundle > short.bundle
if b b sync import short.bundle 2> s.err; then fail "truncated bundle imported"; fi
grep -q "truncated" s.err || fail "truncated: $(cat s.err)"
{ printf 'BOSAI-BUNDLE-v1\n'; printf '\x00\x00\x00\x00\x7f\xff\xff\xff'; head -c 100 /dev/urandom; } > liar.bundle
if b b sync import liar.bundle 2> l.err; then fail "a bundle declaring 2 GiB imported"; fi
grep -q "truncated: 100 of 2147483711 bytes" l.err || fail "declared length: $(cat l.err)"
head -c 1000 /dev/urandom > junk.bundle
if b b sync import junk.bundle 2> j.err; then fail "garbage imported"; fi
grep -q "not a bosai bundle" j.err || fail "garbage: $(cat j.err)"
: > empty.bundle
if b b sync import empty.bundle 2> e.err; then fail "an empty file imported"; fi
grep -qF "empty.bundle: the file is empty, not a bosai bundle" e.err || fail "empty: $(cat e.err)"
if b b sync import . 2> d.err; then fail "a directory imported"; fi
grep -qF ".: is a directory, not a file" d.err || fail "directory: $(cat d.err)"
if b b sync import missing.bundle 2> m.err; then fail "a missing file imported"; fi
grep -qF "missing.bundle: No such file or directory" m.err || fail "missing: $(cat m.err)"
b f init --node-id 042021-fake --municipality 042021 >/dev/null   # a foreign (development) root
b f resident import r.csv 2>/dev/null
b f sync export --vector b.vec --out foreign.bundle >/dev/null
if b b sync import foreign.bundle 2> f.err; then fail "foreign bundle imported"; fi
grep -q "exporter certificate: certificate not issued by a trusted root" f.err || fail "foreign: $(cat f.err)"
expect_eq "$(b b state hash)" "$empty" "damaged and foreign bundles apply nothing"

# Through standard input ("-"), damaged ones are refused as files are, naming it.
if b b sync import - < short.bundle 2> s.err; then fail "a truncated bundle piped in imported"; fi
grep -qF "bosai: standard input: truncated: " s.err || fail "truncated on stdin: $(cat s.err)"
if b b sync import - < /dev/null 2> e.err; then fail "nothing piped in imported"; fi
grep -qF "standard input: the file is empty, not a bosai bundle" e.err || fail "empty stdin: $(cat e.err)"
if b b sync import - < b.vec 2> v.err; then fail "a vector file piped in imported"; fi
grep -qF "standard input: not a bosai bundle (magic at offset 0); it is a vector file" v.err ||
  fail "a vector file on stdin: $(cat v.err)"
expect_eq "$(b b state hash)" "$empty" "damaged bundles piped in apply nothing"
check "damaged bundles on standard input are refused, naming it"

b b --json sync import all.bundle > im.json
grep -q '"exporter":"042021-honcho#1"' im.json || fail "import: $(cat im.json)"
expect_eq "$(b b state hash)" "$(b a state hash)" "the bundle brings B level with A"
b b sync import all.bundle > again.txt
grep -q "0 new ops" again.txt || fail "second import: $(cat again.txt)"
expect_eq "$(b b state hash)" "$(b a state hash)" "importing twice changes nothing"

# --for NODE: above what that node last acknowledged (it synced once), only what it may read.
id=$(sed -n 2p r.csv | cut -d, -f2)
b a resident edit "$id" --set phone=0225-99-0000 >/dev/null
serve b
b a sync now "127.0.0.1:$PORT_b" >/dev/null
member=$(awk -F, 'NR > 1 && $8 != "世帯主" { print $2; exit }' r.csv)  # (a 世帯主's address
b a resident edit "$member" --set address=避難所で確認 >/dev/null     # is their household's too)
b a --json sync export --for 042021-shisho --out inc.bundle > inc.json
grep -q '"ops":1,' inc.json || fail "--for exports only what B lacks: $(cat inc.json)"
b b sync import inc.bundle >/dev/null
expect_eq "$(b b state hash)" "$(b a state hash)" "an incremental bundle for B"
if b a sync export --for 042021-nobody --out x.bundle 2> nobody.err; then fail "--for unknown node"; fi
grep -q "knows no certificate of 042021-nobody" nobody.err || fail "$(cat nobody.err)"
# A node fed through pipes alone (as over ssh): its vector to the exporter, the bundle back.
root_node p 042021-pipe
b p sync vector --out - 2> /dev/null | b a sync export --vector - --out - 2> /dev/null |
  b p sync import - > pipe.txt
grep -q "^imported from 042021-honcho#1: [1-9][0-9]* blocks" pipe.txt || fail "piped import: $(cat pipe.txt)"
expect_eq "$(b p state hash)" "$(b a state hash)" "a node fed through pipes holds what A holds"
# Several bundles at once (a USB stick from two shelters): each applied on its own; one that fails
# leaves the others applied, is named, and the exit says so.
b p resident edit "$id" --set phone=0225-98-7654 >/dev/null
root_node q 042021-multi
b q sync vector --out q.vec
b a sync export --vector q.vec --out qa.bundle > /dev/null
b p sync export --vector q.vec --out qp.bundle > /dev/null
if b q sync import qa.bundle junk.bundle qp.bundle > multi.txt 2> multi.err; then
  fail "a stick with a damaged bundle imported without an error"
fi
grep -q "^imported from 042021-honcho#1 (qa.bundle): [1-9][0-9]* blocks" multi.txt &&
  grep -q "^imported from 042021-pipe#1 (qp.bundle): [1-9][0-9]* blocks, 1 new op$" multi.txt ||
  fail "several bundles: $(cat multi.txt)"
grep -qF "bosai: junk.bundle: not a bosai bundle" multi.err &&
  grep -qF "bosai: 1 of 3 bundles not imported: junk.bundle" multi.err || fail "several: $(cat multi.err)"
expect_eq "$(b q state hash)" "$(b p state hash)" "the bundles beside a damaged one are applied"
b q --json sync import qa.bundle qp.bundle > multi.json
grep -q '"bundles":\[{"blocks":[0-9]*,"exporter":"042021-honcho#1","file":"qa.bundle","held":0,"ops":0},' multi.json ||
  fail "several bundles, --json: $(cat multi.json)"
check "several bundles imported at once, each on its own"
b b doctor >/dev/null || fail "doctor"
check "doctor passes"
