#!/usr/bin/env bash
# The command-line contract (DESIGN §8) for lines that cannot be parsed: exit code 2, nothing on
# stdout, one line on stderr naming what is wrong and the help to read, no data dir touched;
# --help still prints help and exits 0.
source "$(dirname "$0")/lib.sh" "$@"

# usage_error WHAT EXPECTED_LINE ARGS...: bosai ARGS must fail with exactly EXPECTED_LINE
usage_error() {
  local what=$1 want=$2; shift 2
  local rc=0
  "$BOSAI" --data-dir fresh "$@" > out.txt 2> err.txt || rc=$?
  expect_eq "$rc" 2 "$what: exit code"
  [ ! -s out.txt ] || fail "$what: wrote on stdout: $(cat out.txt)"
  expect_eq "$(cat err.txt)" "$want" "$what: message"
  [ ! -e fresh ] || fail "$what: created the data dir"
}

usage_error "an unknown command" \
  'bosai: unknown command "bogus"; the commands are init, keys, gen, resident, conflicts, state, doctor, serve, sync, backup, restore; see bosai --help' \
  bogus
usage_error "an unknown subcommand" \
  'bosai: unknown command "resident bogus"; the commands are import, show, search, export, count, edit; see bosai resident --help' \
  resident bogus
usage_error "an unknown subcommand after a global option" \
  'bosai: unknown command "keys node frob"; the commands are request, issue; see bosai keys node --help' \
  --json keys node frob
usage_error "no command" \
  'bosai: give a command: init, keys, gen, resident, conflicts, state, doctor, serve, sync, backup, restore; see bosai --help'
usage_error "a group without its command" \
  'bosai: give a command: import, show, search, export, count, edit; see bosai resident --help' \
  resident
usage_error "a missing argument" 'bosai: id is required; see bosai resident show --help' \
  resident show
usage_error "an option without its value" \
  'bosai: --kana: 1 required TEXT missing; see bosai resident search --help' resident search --kana
usage_error "a value that is not a number" \
  'bosai: --limit: "many" is not a whole number; see bosai resident search --help' \
  resident search --kana ア --limit many
usage_error "a value that is not a whole number" \
  'bosai: --limit: "2.5" is not a whole number; see bosai resident search --help' \
  resident search --kana ア --limit 2.5
usage_error "an unknown option" \
  'bosai: The following argument was not expected: --frob; see bosai state hash --help' \
  state hash --frob
# Lines the parser takes that are still wrong: the same contract, found before the data dir is
# opened (fresh is not created).
usage_error "a search without a criterion" \
  'bosai: give at least one of --kana, --name, --birth, --my-number, --household; see bosai resident search --help' \
  resident search --limit 5
usage_error "a limit out of range" \
  'bosai: --limit: 0 is not from 1 to 10000; see bosai resident search --help' \
  resident search --kana ア --limit 0
usage_error "a resolution that keeps nothing" \
  'bosai: give --keep shown|other or --value V; see bosai conflicts resolve --help' \
  conflicts resolve 0123
usage_error "an edit without FIELD=VALUE" \
  'bosai: --set takes FIELD=VALUE, got "phone"; see bosai resident edit --help' \
  resident edit 042021:1 --set phone
usage_error "an export in CP932 with a byte order mark" \
  'bosai: --bom is for UTF-8 (CP932 has no byte order mark); see bosai resident export --help' \
  resident export --out x.csv --encoding cp932 --bom
usage_error "a bundle for no one" \
  'bosai: give --for NODE_ID or --vector FILE; see bosai sync export --help' \
  sync export --out x.bundle
usage_error "init without a municipality" \
  'bosai: init needs --node-id and --municipality (or --enrollment); see bosai init --help' \
  init --node-id 042021-x
# A synthetic register asked with no rows, or for no municipality, leaves the file it names as it
# was.
echo "kept" > kept.csv
usage_error "a count out of range" \
  'bosai: --count: 0 is not from 1 to 50000000; see bosai gen residents --help' \
  gen residents --municipality 042021 --count 0 --out kept.csv
usage_error "a seed that is not a number" \
  'bosai: --seed: "-1" is not a whole number; see bosai gen residents --help' \
  gen residents --municipality 042021 --count 5 --seed -1 --out kept.csv
rc=0
"$BOSAI" gen residents --municipality 042020 --count 5 --out kept.csv 2> err.txt || rc=$?
expect_eq "$rc/$(cat err.txt)" \
  '1/bosai: --municipality: municipality code "042020" has a wrong check digit (expected 1)' \
  "gen for a municipality code with a wrong check digit"
expect_eq "$(cat kept.csv)" "kept" "gen with a bad option leaves its --out file as it was"

"$BOSAI" resident search --help > help.txt
grep -q -- "--kana" help.txt || fail "search --help: $(cat help.txt)"
# Import's help lists the columns a register may have, and their Japanese names.
"$BOSAI" resident import --help > import-help.txt
grep -q "^  name \*              氏名, 名前" import-help.txt || fail "import --help: $(cat import-help.txt)"
grep -q "^  address_building    方書, " import-help.txt || fail "import --help: $(cat import-help.txt)"
# Help names the command as it is typed, not the path the binary was started by.
expect_eq "$(sed -n 2p help.txt)" "Usage: bosai resident search [OPTIONS]" "search --help: usage line"
check "--help prints the command's help and exits 0"
"$BOSAI" --data-dir fresh resident count > out.txt 2> err.txt && fail "count on no data dir succeeded"
grep -q "holds no node: run .bosai init" err.txt || fail "count on no data dir: $(cat err.txt)"
[ ! -e fresh ] || fail "count created the data dir"
check "a command that fails (not a usage error) still exits non-zero and creates nothing"
echo "not a directory" > afile
for args in "--data-dir afile resident count" "--data-dir afile init --node-id 042021-x --municipality 042021"; do
  rc=0
  # shellcheck disable=SC2086
  "$BOSAI" $args > out.txt 2> err.txt || rc=$?
  expect_eq "$rc/$(cat err.txt)" "1/bosai: afile is a file, not a data dir" "$args"
done
rc=0
"$BOSAI" --data-dir "" resident count > out.txt 2> err.txt || rc=$?
expect_eq "$rc/$(cat err.txt)" "1/bosai: the data dir is empty (--data-dir or BOSAI_DATA_DIR)" \
  "an empty --data-dir"
check "a data dir that is a file, or empty, is named"

# A search option given empty is refused as empty (exit 1), not taken as not given.
"$BOSAI" --data-dir node init --node-id 042021-x --municipality 042021 > /dev/null 2>&1
for case in "--kana/--kana is empty" "--name/--name is empty" "--birth/--birth: empty date" \
  "--my-number/--my-number: My Number must be 12 digits"; do
  rc=0
  "$BOSAI" --data-dir node resident search "${case%%/*}" "" > out.txt 2> err.txt || rc=$?
  expect_eq "$rc/$(cat err.txt)" "1/bosai: ${case#*/}" "search ${case%%/*} \"\""
  [ ! -s out.txt ] || fail "search ${case%%/*} \"\": wrote on stdout: $(cat out.txt)"
done
check "a search option given empty says so"

# The operator a change is recorded under (--as): a name of its characters and length only.
long=$(printf 'k%.0s' $(seq 1 65))
for case in "/empty operator name" "tanaka hanako/operator names use A-Z, a-z, 0-9, '.', '_' and '-'" \
  "$long/an operator name has at most 64 characters"; do
  rc=0
  "$BOSAI" --data-dir node --as "${case%%/*}" resident count > out.txt 2> err.txt || rc=$?
  expect_eq "$rc/$(cat err.txt)" "2/bosai: --as: ${case#*/}; see bosai resident count --help" \
    "--as \"${case%%/*}\""
done
"$BOSAI" --data-dir node --as "${long:1}" resident count > /dev/null || fail "--as of 64 characters"
check "an operator's name is checked"
