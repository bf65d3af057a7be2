#!/usr/bin/env bash
# A CP932 (Shift_JIS, CRLF) file imports exactly like its UTF-8 twin, and so does what Excel saves
# as "Unicode text" (UTF-16 with a byte order mark, tab-separated, CRLF).
source "$(dirname "$0")/lib.sh" "$@"

new_node a
cp -a a b  # the same node identity and data key, so sealed My Numbers compare equal
cp -a a u
cp -a a p
"$BOSAI" gen residents --municipality 042021 --count 3000 --seed 9 --out utf8.csv
iconv -f UTF-8 -t CP932 utf8.csv | sed 's/$/\r/' > sjis.csv
cmp -s utf8.csv sjis.csv && fail "the twin must differ in bytes"
b a resident import utf8.csv 2>/dev/null
b b --json resident import sjis.csv > sjis.json 2>/dev/null
grep -q '"encoding":"cp932"' sjis.json || fail "auto must detect CP932: $(cat sjis.json)"
expect_eq "$(b b state hash)" "$(b a state hash)" "CP932 twin gives the same state"
# So does the CP932 twin piped in: its encoding is found in what standard input brought.
b p --json resident import - < sjis.csv > piped.json 2>/dev/null
grep -q '"encoding":"cp932","file":"standard input"' piped.json || fail "CP932 on stdin: $(cat piped.json)"
expect_eq "$(b p state hash)" "$(b a state hash)" "the CP932 twin from standard input gives the same state"
# Forcing the wrong encoding is refused with the line of the first bad byte.
new_node c
if b c resident import sjis.csv --encoding utf-8 2> wrong.log; then fail "must refuse"; fi
grep -Eq "sjis.csv:2:4: byte 0x[0-9A-F]{2} is not UTF-8 text" wrong.log || fail "$(cat wrong.log)"
expect_eq "$(b c resident count)" 0 "nothing imported under the wrong encoding"

grep -q $'[\t"]' utf8.csv && fail "the twin below needs a file without tabs or quotes"
{ printf '\xFF\xFE'; tr ',' '\t' < utf8.csv | sed 's/$/\r/' | iconv -f UTF-8 -t UTF-16LE; } > excel.txt
b u --json resident import excel.txt > excel.json 2>/dev/null
grep -q '"encoding":"utf-16"' excel.json || fail "auto must detect UTF-16: $(cat excel.json)"
expect_eq "$(b u state hash)" "$(b a state hash)" "UTF-16, tab-separated twin gives the same state"

# A file separated by something else is refused with a hint, and nothing is imported.
new_node e
tr ',' ';' < utf8.csv > semicolons.csv
if b e resident import semicolons.csv 2> semi.log; then fail "must refuse"; fi
grep -q "semicolons.csv:1: required column resident_code is missing; the header row is one column: its fields are separated by neither commas nor tabs (save the file as CSV)" semi.log || fail "$(cat semi.log)"
expect_eq "$(b e resident count)" 0 "nothing imported from a semicolon-separated file"
