#!/usr/bin/env bash
# init → gen 50,000 → import → count, show, search; a bad CSV changes nothing; --skip-invalid
# writes the rejects; a correction on the node survives a re-import of the same register.
source "$(dirname "$0")/lib.sh" "$@"

new_node d
"$BOSAI" gen residents --municipality 042021 --count 50000 --seed 3 --out r.csv
expect_eq "$(wc -l < r.csv)" 50001 "gen writes a header and 50,000 rows"
"$BOSAI" gen residents --municipality 042021 --count 50000 --seed 3 --out r2.csv
cmp -s r.csv r2.csv || fail "the same seed must give the same file"
check "gen is deterministic"
# Telephone numbers as in Japan: a fixed line has ten digits whatever the length of its area code
# (0225-xx-xxxx, 096-xxx-xxxx, 03-xxxx-xxxx), a mobile one eleven (090-xxxx-xxxx).
for m in 042021 431001 131016 282049; do
  "$BOSAI" gen residents --municipality $m --count 300 --seed 5 --out phones.csv
  bad=$(awk -F, 'NR > 1 && $12 != "" {
      d = $12; gsub("-", "", d)
      mobile = $12 ~ /^0[789]0-/
      if (d !~ /^0[1-9][0-9]*$/ || length(d) != (mobile ? 11 : 10)) print $12
    }' phones.csv | head -3)
  expect_eq "$bad" "" "gen for $m: telephone numbers"
done
check "gen writes telephone numbers of the right length"
# The ages of a regional city of Tōhoku, where people who need care in a disaster are many: about
# a third 65 or older, about one in ten 80 or older and about as many children under 15 (as of
# gen's reference date, 2026-04-01).
shares=$(awk -F, 'NR > 1 {
    age = 2026 - substr($6, 1, 4) - (substr($6, 6, 5) > "04-01")
    n++; old += age >= 65; oldest += age >= 80; young += age < 15
  } END { printf "%d %d %d", 100 * old / n, 100 * oldest / n, 100 * young / n }' r.csv)
read -r old oldest young <<< "$shares"
[ "$old" -ge 30 ] && [ "$old" -le 40 ] && [ "$oldest" -ge 7 ] && [ "$oldest" -le 14 ] &&
  [ "$young" -ge 6 ] && [ "$young" -le 14 ] ||
  fail "gen's ages: ${old}% 65 or older, ${oldest}% 80 or older, ${young}% under 15"
check "gen's ages are those of a regional city"

b d resident import r.csv 2> import.log
grep -q "imported 50000, rejected 0" import.log || fail "import summary: $(cat import.log)"
expect_eq "$(b d resident count)" 50000 "count"
expect_eq "$(b d --json resident count)" '{"count":50000}' "count --json"
expect_eq "$(b d resident count --json)" '{"count":50000}' "count --json after the command"
# A first import is written through a rollback journal; the store is back in WAL mode after.
expect_eq "$(sqlite3 d/bosai.db "pragma journal_mode")" wal "WAL mode after a first import"
[ ! -e d/bosai.db-journal ] || fail "a journal is left after the import"
check "a first import leaves the store in WAL mode"

line=$(sed -n 2p r.csv)
id=$(echo "$line" | cut -d, -f2)
name=$(echo "$line" | cut -d, -f4)
kana=$(echo "$line" | cut -d, -f5)
birth=$(echo "$line" | cut -d, -f6)
mn=$(echo "$line" | cut -d, -f11)
b d --json resident show "$id" > show.json
grep -q "\"name\":\"$name\"" show.json || fail "show: $(cat show.json)"
grep -qF "\"my_number\":\"********${mn: -4}\"" show.json || fail "my number must be masked: $(cat show.json)"
# Sex and status as the register says them (what edit takes and export writes).
sex=$(echo "$line" | cut -d, -f7)
grep -qF "\"sex\":\"$sex\"" show.json && grep -qF '"status":"住民"' show.json ||
  fail "sex and status as the register says them: $(cat show.json)"
b d resident show "$id" > show.txt
grep -qx "sex: *$sex" show.txt && grep -qx "status: *住民" show.txt || fail "show: $(cat show.txt)"
b d --json resident show "$id" --reveal-my-number > reveal.json
grep -q "\"my_number\":\"$mn\"" reveal.json || fail "reveal"
check "show masks My Number unless --reveal-my-number"
surname_kana=$(echo "$kana" | sed 's/　.*//')
# (grep -q may close the pipe early, which pipefail would count as a failure: use files.)
found() { grep -q "042021:$id" "$1" || fail "$2"; }
b d resident search --kana "$surname_kana" --limit 10000 > s1.txt; found s1.txt "search by kana prefix"
hira=$(echo "$surname_kana" | sed 's/ア/あ/g; s/イ/い/g; s/ウ/う/g; s/エ/え/g; s/オ/お/g')
b d resident search --kana "$hira" --limit 10000 > s2.txt; found s2.txt "search by hiragana"
b d resident search --birth "$birth" --limit 10000 > s3.txt; found s3.txt "search by birth"
b d resident search --name "$name" > s4.txt; found s4.txt "search by name"
b d resident search --my-number "$mn" > s5.txt; found s5.txt "search by my number"
household=$(echo "$line" | cut -d, -f3)
b d resident search --household "$household" > s6.txt; found s6.txt "search by household"
expect_eq "$(cut -d' ' -f1 s6.txt | sort)" \
  "$(awk -F, -v h="$household" '$3 == h { print "042021:" $2 }' r.csv | sort)" \
  "search by household finds its members"
if b d resident show "$household" 2> show-household.log; then fail "a household shown as a resident"; fi
expect_eq "$(cat show-household.log)" \
  "bosai: no resident 042021:$household: 042021:$household is a household; its members: bosai resident search --household 042021:$household" \
  "show of a household's id says how to list its members"
b d resident search --household "$id" > s7.txt 2> s7.log
[ ! -s s7.txt ] || fail "a resident's id searched as a household's found: $(cat s7.txt)"
expect_eq "$(cat s7.log)" \
  "no residents found: 042021:$id is a resident, not a household; its household: bosai resident search --household 042021:$household" \
  "search of a resident's id as a household's says which household is theirs"
b d resident search --household 99999 > s8.txt 2> s8.log
expect_eq "$(cat s8.log)" "no residents found: this node holds no household 042021:99999" \
  "search of a household the node does not hold says so"
check "search by kana, hiragana, birth date, name, My Number and household"

# An export is the register imported, byte for byte (in the register's order), with each
# resident's status added; My Number is left out unless asked for.
umask 022  # (as a login shell's)
b d resident export --out back.csv --reveal-my-number 2> export.log
expect_eq "$(cat export.log)" "exported 50000 residents to back.csv" "export says what it wrote"
cut -d, -f1-13 back.csv | cmp - r.csv || fail "an export differs from the register imported"
expect_eq "$(cut -d, -f14 back.csv | sort | uniq -c | tr -s ' ' | tr '\n' '|')" " 1 status| 50000 住民|" \
  "an export adds each resident's status"
check "an export is the register imported"
b d resident export --out masked.csv 2> export.log
grep -q "(50000 My Numbers left out; --reveal-my-number writes them)" export.log ||
  fail "export without My Number: $(cat export.log)"
expect_eq "$(head -1 masked.csv)" "$(head -1 back.csv | sed 's/,my_number//')" \
  "an export leaves My Number's column out unless asked"
before=$(b d state hash)
b d resident import masked.csv 2> masked.log
grep -q "(0 new or changed, 0 ops)" masked.log || fail "reading an export back: $(cat masked.log)"
expect_eq "$(b d state hash)" "$before" "an export without My Numbers read back clears none"
expect_eq "$(stat -c %a back.csv) $(stat -c %a masked.csv)" "600 644" \
  "an export with My Numbers in full is readable by its owner alone"

# A bad file changes nothing.
before=$(b d state hash)
{ head -1 r.csv; sed -n '2,5p' r.csv; echo "042021,X1,H1,名前,メイ,1990-02-31,男,世帯主,9860000,住所,,,"; } > bad.csv
if b d resident import bad.csv 2> bad.log; then fail "a bad file must fail"; fi
grep -q "bad.csv:6:6: birth_date" bad.log || fail "error must name file:line:column: $(cat bad.log)"
grep -q "nothing imported" bad.log || fail "must say nothing was imported"
expect_eq "$(b d state hash)" "$before" "a bad file changes nothing"
# --check finds the same problems, and on a clean file imports nothing either.
if b d resident import bad.csv --check 2> check.log; then fail "--check of a bad file must fail"; fi
grep -q "bad.csv:6:6: birth_date" check.log || fail "--check: $(cat check.log)"
b d resident import r.csv --check 2> check.log || fail "--check of a clean file: $(cat check.log)"
grep -q "checked 50000 rows of r.csv: no problems; nothing was imported" check.log ||
  fail "--check: $(cat check.log)"
expect_eq "$(b d state hash)" "$before" "--check changes nothing"
# --dry-run says what the import would do, and keeps nothing.
b d resident import r.csv --dry-run 2> dry.log || fail "--dry-run: $(cat dry.log)"
expect_eq "$(cat dry.log)" "dry run: would import 50000 rows (0 new or changed, 0 ops); nothing was imported" \
  "--dry-run of the register held"
{ head -1 r.csv; sed -n 2p r.csv | sed 's/,[^,]*$/,2001-04-01/'; } > moved.csv
b d resident import moved.csv --dry-run 2> dry.log || fail "--dry-run: $(cat dry.log)"
expect_eq "$(cat dry.log)" "dry run: would import 1 row (1 new or changed, 1 op); nothing was imported" \
  "--dry-run of a changed row"
expect_eq "$(b d state hash)" "$before" "--dry-run changes nothing"

# A first import of a large file writes while it validates (one transaction): a bad row near
# the end, or a resident code repeated, and a fresh node still holds nothing.
new_node big
{ cat r.csv; echo "042021,X1,H1,名前,メイ,1990-02-31,男,世帯主,9860000,住所,,,"; } > bad-end.csv
if b big resident import bad-end.csv 2> bad-end.log; then fail "a large bad file must fail"; fi
grep -q "bad-end.csv:50002:6: birth_date" bad-end.log || fail "large bad file: $(cat bad-end.log)"
{ cat r.csv; sed -n 2p r.csv; } > dup-end.csv
if b big resident import dup-end.csv 2> dup-end.log; then fail "a repeated code must fail"; fi
grep -q "dup-end.csv:50002:2: resident_code: duplicate of line 2" dup-end.log ||
  fail "repeated code: $(cat dup-end.log)"
# A second 世帯主 writes its household twice: pass 1's problem is reported, not the write's.
household=$(sed -n 2p r.csv | cut -d, -f3)
{ cat r.csv; echo "042021,X1,$household,名前,メイ,1990-02-01,男,世帯主,9860000,住所,,,"; } > head-end.csv
if b big resident import head-end.csv 2> head-end.log; then fail "a second 世帯主 must fail"; fi
grep -q "head-end.csv:50002:8: relationship: a second 世帯主 in the household (first on line 2)" \
  head-end.log || fail "second 世帯主: $(cat head-end.log)"
expect_eq "$(b big resident count)/$(sqlite3 big/bosai.db "select count(*) from blocks")" "0/0" \
  "a large first import with a bad row imports nothing"
# Households whose 世帯主 row comes after their members are written from the 世帯主 row.
{ head -1 r.csv; tail -n +2 r.csv | tac; } > reversed.csv
b big resident import reversed.csv 2>/dev/null
households() { b "$1" state dump > "dump-$1.txt"; grep "^record 2 " "dump-$1.txt"; }
households d > hh-d.txt
households big > hh-big.txt
[ "$(wc -l < hh-d.txt)" -gt 1000 ] || fail "the dump must hold the households: $(head -2 dump-d.txt)"
cmp -s hh-d.txt hh-big.txt || fail "households from a reversed file differ: $(diff hh-d.txt hh-big.txt | head -4)"
check "households are the same whatever the order of their rows"

# --skip-invalid imports the valid rows and writes the rejected ones with their reasons.
new_node s
b s resident import bad.csv --skip-invalid rejects.csv 2> skip.log
grep -q "imported 4, rejected 1" skip.log || fail "skip summary: $(cat skip.log)"
expect_eq "$(b s resident count)" 4 "--skip-invalid imports the valid rows"
grep -q '^6,.*birth_date' rejects.csv || fail "rejects: $(cat rejects.csv)"
expect_eq "$(stat -c %a rejects.csv)" 600 "the rejects (My Numbers as the register had them) are the owner's"
check "--skip-invalid writes the rejects"
# From standard input ("-", as from iconv or zcat): the same register, the same state; errors and
# rejects name it as standard input.
new_node p
gzip -c r.csv | gunzip -c | b p resident import - 2> piped.log
grep -q "^imported $(($(wc -l < r.csv) - 1)), rejected 0" piped.log || fail "piped import: $(cat piped.log)"
b p resident export --out p.csv 2>/dev/null
b d resident export --out d.csv 2>/dev/null
cmp -s p.csv d.csv || fail "a register piped in differs from the file's: $(diff p.csv d.csv | head -4)"
check "a register piped in is imported as the file is"
if b p resident import - < bad.csv 2> piped-bad.log; then fail "a bad register piped in was imported"; fi
grep -q "^standard input:6:[0-9]*: birth_date" piped-bad.log &&
  grep -q "problems\{0,1\} in 1 row of standard input; nothing imported" piped-bad.log ||
  fail "a bad register piped in: $(cat piped-bad.log)"
new_node ps
b ps resident import - --skip-invalid piped-rejects.csv < bad.csv 2> piped-skip.log
grep -q "imported 4, rejected 1" piped-skip.log && cmp -s rejects.csv piped-rejects.csv ||
  fail "--skip-invalid from standard input: $(cat piped-skip.log; diff rejects.csv piped-rejects.csv)"
b ps resident export --out ps.csv 2>/dev/null
b s resident export --out s.csv 2>/dev/null
cmp -s ps.csv s.csv || fail "--skip-invalid from standard input differs: $(diff ps.csv s.csv | head -4)"
check "a register is imported from standard input"
# CP932 for Excel: an address typed on Unix (U+2212 MINUS SIGN) is written in CP932's form, said.
first=$(sed -n 2p bad.csv | cut -d, -f2)
b s resident edit "042021:$first" --set "address=中央1−2−3" >/dev/null
b s resident export --out sjis.csv --encoding cp932 2> sjis.log
expect_eq "$(tail -2 sjis.log)" "2 characters written in the form CP932 holds, as the file reads back and as Windows shows it:
  − (U+2212) as － (U+FF0D): 2" "a CP932 export says which characters it wrote in CP932's form"
LC_ALL=C grep -c $'\x92\x86\x89\x9B1\x81\x7C2\x81\x7C3,' sjis.csv > minus.count || true
expect_eq "$(cat minus.count)" 1 "the address in CP932's form"
# An export that cannot be written says why, once, and writes nothing.
if b s resident export --out missing/x.csv 2> missing.log; then
  fail "export into a missing folder"
fi
expect_eq "$(cat missing.log)" \
  "bosai: missing/x.csv: cannot create: No such file or directory; nothing was written" \
  "an export that cannot create its file names it once"
# One stopped by a resident CP932 cannot hold: a file is not written; a pipe has the rows before.
b s resident edit "042021:$first" --set "name=𠮷田　花子" >/dev/null
if b s resident export --out kept.csv --encoding cp932 2> cp932.log; then fail "𠮷 in CP932"; fi
grep -q "U+20BB7.*; kept.csv was not written$" cp932.log || fail "export stopped: $(cat cp932.log)"
[ ! -e kept.csv ] || fail "a stopped export left its file"
if b s resident export --out - --encoding cp932 2> cp932-pipe.log > piped.csv; then fail "𠮷 in CP932 to a pipe"; fi
grep -q "U+20BB7.*; the residents before it went to standard output$" cp932-pipe.log ||
  fail "export to a pipe stopped: $(cat cp932-pipe.log)"
check "an export stopped by a resident says what became of its file"
# A household whose 世帯主 row is rejected is written from its first valid row.
new_node sk
{ head -1 r.csv
  echo "042021,R1,HA,名前一,メイ,1990-02-01,男,世帯主,9860000,住所A,,,"
  echo "042021,R1,HB,名前二,メイ,1990-02-01,男,世帯主,9860000,住所B,,,"
  echo "042021,R2,HB,名前三,メイ,2010-02-01,女,子,9860000,住所B,,,"; } > head-rejected.csv
b sk resident import head-rejected.csv --skip-invalid rejects2.csv 2> skip2.log
grep -q "imported 2, rejected 1" skip2.log || fail "skip summary: $(cat skip2.log)"
expect_eq "$(sqlite3 sk/bosai.db "select count(*) from records where entity = 2 and key = '042021:HB'")" 1 \
  "a household whose 世帯主 row is rejected is written from its other rows"
check "--skip-invalid keeps the households of the rows it imports"

# A correction on the node survives a re-import of the unchanged register.
b d resident edit "$id" --set address=訂正された住所 >/dev/null
b d resident import r.csv 2> again.log
grep -q "(0 new or changed, 0 ops)" again.log || fail "unchanged register must produce no ops: $(cat again.log)"
b d --json resident show "$id" > after.json
grep -q '"address":"訂正された住所"' after.json || fail "correction reverted"
check "a correction survives re-import of an unchanged register"
# The same correction again writes nothing, and says so; with another field, only that one.
expect_eq "$(b d resident edit "$id" --set address=訂正された住所)" \
  "042021:$id holds these values already: nothing written" "an edit of the value held"
expect_eq "$(b d --json resident edit "$id" --set address=訂正された住所 --set phone=0225-99-0000)" \
  "{\"households_without_head\":[],\"id\":\"042021:$id\",\"unchanged\":[\"address\"],\"updated\":[\"phone\"]}" \
  "an edit of a value held and a new one"
b d doctor > doctor.log || fail "doctor: $(cat doctor.log)"
check "doctor passes"
