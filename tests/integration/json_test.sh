#!/usr/bin/env bash
# docs/json.md stays true: every key that each command's --json document holds is named on that
# command's line of the document (or in the shapes it names: resident, conflict, peer, household
# head problem), and each document is one line of JSON on stdout.
source "$(dirname "$0")/lib.sh" "$@"
doc=$(cd "$(dirname "$0")/../.." && pwd)/docs/json.md
[ -f "$doc" ] || fail "no $doc"

# documented COMMAND-AS-IN-THE-DOC OUTPUT-FILE: each key of the output is on the command's line
# of the document, or in a shape the document defines below its tables.
shapes=$(grep -E '^(A \*\*|"|`\{)' "$doc" | tr '\n' ' ')
documented() {
  local line
  line=$(grep -F "| \`$1\` |" "$doc") || fail "docs/json.md has no line for \`$1\`"
  [ "$(wc -l < "$2")" -eq 1 ] || fail "$1: not one line: $(cat "$2")"
  for key in $(grep -oE '"[a-z_]+":' "$2" | sort -u | tr -d '":'); do
    grep -qF "\"$key\"" <<< "$line $shapes" || fail "$1: \"$key\" is not in docs/json.md: $(cat "$2")"
  done
  check "docs/json.md names every key of \`$1\`"
}

root_node a 042021-honcho
root_node b 042021-shisho
"$BOSAI" gen residents --municipality 042021 --count 30 --seed 4 --out r.csv
"$BOSAI" --json gen residents --municipality 042021 --count 3 --out g.csv > o.json
documented "gen residents --out F" o.json
b a --json resident import r.csv > o.json 2>/dev/null; documented "resident import" o.json
b a --json resident import r.csv --check > o.json 2>/dev/null; documented "resident import --check" o.json
id=$(sed -n 2p r.csv | cut -d, -f2)
hh=$(sed -n 2p r.csv | cut -d, -f3)
b a --json resident show "$id" > o.json; documented "resident show ID" o.json
b a --json resident search --household "$hh" > o.json 2>/dev/null; documented "resident search" o.json
b a --json resident count > o.json; documented "resident count" o.json
b a --json resident edit "$id" --set phone=0225-10-1010 > o.json; documented "resident edit" o.json
b a --json resident export --out x.csv > o.json; documented "resident export --out F" o.json
b a --json state hash > o.json; documented "state hash" o.json
b a --json doctor > o.json; documented "doctor" o.json
b b --json sync vector --out b.vec > o.json; documented "sync vector --out F" o.json
b a --json sync export --vector b.vec --out ab.bundle > o.json; documented "sync export --out F" o.json
b b --json sync import ab.bundle > o.json; documented "sync import F…" o.json
b a --json resident edit "$id" --set address=本庁 > /dev/null
b b --json resident edit "$id" --set address=支所 > /dev/null
b b sync vector --out b.vec > /dev/null
b a sync export --vector b.vec --out ab2.bundle > /dev/null
b b sync import ab2.bundle > /dev/null
b b --json conflicts list > o.json; documented "conflicts list" o.json
grep -q '"other_version":{' o.json || fail "no conflict to check: $(cat o.json)"
cid=$(grep -o '"id":"[0-9a-f]*"' o.json | head -1 | cut -d'"' -f4)
b b --json conflicts show "$cid" > o.json; documented "conflicts show ID" o.json
b b --json conflicts resolve "$cid" --keep shown > o.json; documented "conflicts resolve ID" o.json
b b --json conflicts show "$cid" > o.json; documented "conflicts show ID" o.json  # settled
b b --json conflicts resolve --all --keep shown > o.json; documented "conflicts resolve ID ID… / --all" o.json
b b --json sync status > o.json; documented "sync status" o.json
serve b
b a --json sync now "127.0.0.1:$PORT_b" > o.json; documented "sync now" o.json
printf '[node]\ndata_dir = "a"\n[sync]\nlisten = "127.0.0.1:0"\n' > a.toml
"$BOSAI" --json serve --config a.toml --check > o.json; documented "serve --check" o.json
"$BOSAI" --json keys trust export --root root --out t.json > o.json; documented "keys trust export" o.json
b a --json keys trust import t.json > o.json; documented "keys trust import" o.json
b a --json keys revoke 042021-gone > o.json 2>/dev/null; documented "keys revoke NODE" o.json
"$BOSAI" --json keys revoke 042021-gone --root root > o.json 2>/dev/null
documented "keys revoke NODE --root DIR" o.json
"$BOSAI" --json keys root init --municipality 131016 --out partner-root > o.json
documented "keys root init" o.json
b a --json keys add partner-root/root.crt > o.json; documented "keys add" o.json
b c --json keys node request --node-id 042021-shelter-07 --out req.json > o.json
documented "keys node request" o.json
"$BOSAI" --json keys node issue --root root --request req.json --issuer-code S7 --out enr.json > o.json
documented "keys node issue" o.json
b c --json init --enrollment enr.json > o.json; documented "init" o.json
b a --json backup --out a.bak > o.json; documented "backup --out F" o.json
b b --json restore a.bak --from-lost-node > o.json; documented "restore F --from-lost-node" o.json
