#!/usr/bin/env bash
# Two nodes edit the same field while apart; after exchanging blocks both show the same value
# and the same conflict; resolving it on one node clears it on both.
# Blocks travel by `bosai sync now` to B's daemon.
source "$(dirname "$0")/lib.sh" "$@"

root_node a 042021-honcho
root_node b 042021-shisho
serve b
exchange() { b a sync now "127.0.0.1:$PORT_b" >/dev/null; }
# Both nodes' `conflicts list --json` (a's in ca.json) are the same: check $1.
both_list() {
  b a --json conflicts list > ca.json
  b b --json conflicts list > cb.json
  expect_eq "$(cat ca.json)" "$(cat cb.json)" "$1"
}
"$BOSAI" gen residents --municipality 042021 --count 200 --seed 2 --out r.csv
b a resident import r.csv 2>/dev/null
exchange
expect_eq "$(b b resident count)" 200 "b holds a's register after the exchange"
id=$(sed -n 2p r.csv | cut -d, -f2)

b a resident edit "$id" --set address=本庁で訂正 >/dev/null
sleep 0.01
b b resident edit "$id" --set address=支所で訂正 >/dev/null
exchange
expect_eq "$(b a state hash)" "$(b b state hash)" "both nodes converge"
both_list "both nodes list the same conflict"
grep -q '"field":"address"' ca.json || fail "conflict: $(cat ca.json)"
grep -q '"shown":"支所で訂正"' ca.json || fail "the newer write is shown: $(cat ca.json)"
cid=$(json_field id < ca.json)
b a doctor > doctor.txt || fail "doctor fails on an open conflict: $(cat doctor.txt)"
open=$(grep -o '"other_version"' ca.json | wc -l)  # (the 世帯主's address, and the household's)
grep -qxF "warning: $open conflicts wait for an officer to resolve (bosai conflicts list)" doctor.txt ||
  fail "doctor does not say $open conflicts wait: $(cat doctor.txt)"
b a conflicts show "$cid" > show.txt
grep -q "本庁で訂正" show.txt || fail "show"
# Who wrote each value, and when: local time in show, UTC and the HLC (as a string, whole in
# JavaScript) in --json.
grep -qE '^  other:  "本庁で訂正" \(by 042021-[a-z]+#1:[0-9]+, 20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\)$' show.txt ||
  fail "show names who and when: $(cat show.txt)"
grep -qE '"hlc":"[0-9]{15,}","value":"本庁で訂正","written_at":"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"' ca.json ||
  fail "conflicts list --json: when each value was written: $(cat ca.json)"
if b a conflicts resolve "$cid" 2>/dev/null; then fail "resolve needs --keep or --value"; fi
b a --as tanaka conflicts resolve "$cid" --keep other >/dev/null  # an operator, for the record
if b a conflicts resolve "$cid" --keep shown 2> again.err; then fail "a settled conflict resolved again"; fi
grep -qE "^bosai: conflict $cid is settled already: household 042021:[0-9]+ address \"本庁で訂正\" \(by 042021-honcho#1:[0-9]+, 20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9:]{8}; user:tanaka\) \(bosai conflicts show $cid\)$" again.err ||
  fail "a settled conflict resolved again: $(cat again.err)"
check "a settled conflict resolved again says who settled it"
if b a conflicts resolve 0123456789abcdef --keep shown 2> none.err; then fail "an id no write names resolved"; fi
expect_eq "$(cat none.err)" "bosai: no open conflict 0123456789abcdef: settled already, or mistyped (bosai conflicts list lists those open)" \
  "an id no write names is said to be none open"
exchange
expect_eq "$(b b --json conflicts list)" '{"conflicts":[],"household_heads":[],"shared_my_numbers":[]}' \
  "resolved on both nodes"
# A settled conflict shows what it set aside and who settled it, when, to what: on both nodes
# (a's value was set aside, and a kept it).
for n in a b; do
  b "$n" conflicts show "$cid" > settled-$n.txt || fail "show of a settled conflict on $n"
  grep -qxF "conflict $cid is settled" settled-$n.txt || fail "settled on $n: $(cat settled-$n.txt)"
  grep -qE '^  set aside: "本庁で訂正" \(by 042021-honcho#1:[0-9]+, 20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9:]{8}\)$' settled-$n.txt ||
    fail "what was set aside, on $n: $(cat settled-$n.txt)"
  grep -qE "^  settled:   \"本庁で訂正\" \(by 042021-honcho#1:[0-9]+, 20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9:]{8}; user:tanaka\)$" settled-$n.txt ||
    fail "who settled it, on $n: $(cat settled-$n.txt)"
done
b b --json conflicts show "$cid" > settled.json
grep -q '"other":"本庁で訂正"' settled.json && grep -q '"settled":"本庁で訂正"' settled.json &&
  grep -q '"author":"user:tanaka"' settled.json || fail "settled --json: $(cat settled.json)"
if b a conflicts show 0123456789abcdef 2> none.err; then fail "show of an id no write names"; fi
grep -q "no open conflict 0123456789abcdef: settled already, or mistyped" none.err || fail "$(cat none.err)"
check "a settled conflict shows who settled it"
b b --json resident show "$id" > kept.json
grep -q '"address":"本庁で訂正"' kept.json || fail "kept value"
expect_eq "$(b a state hash)" "$(b b state hash)" "converged after resolution"
b a doctor > doctor.txt && b b doctor >/dev/null || fail "doctor"
! grep -q "conflict" doctor.txt || fail "doctor still says a conflict waits: $(cat doctor.txt)"
check "doctor passes on both"

# A new register changes a field that a clerk on b had corrected: on both nodes the register's
# value is shown and the clerk's correction is kept as a conflict, not dropped.
line=$(sed -n 3p r.csv)
id2=$(echo "$line" | cut -d, -f2)
b b resident edit "$id2" --set phone=090-1234-5678 >/dev/null
exchange
awk -F, -v OFS=, -v id="$id2" '$2 == id { $12 = "0225-99-9999" } { print }' r.csv > r2.csv
b a resident import r2.csv 2> import.log
grep -qx "1 field changed both by this register and on a node since its last import: the register's value is shown, the node's kept as a conflict (bosai conflicts list)" import.log ||
  fail "the import says it made a conflict: $(cat import.log)"
grep -qx "  042021:$id2 phone: the register's \"0225-99-9999\", the node's \"090-1234-5678\"" import.log ||
  fail "the import lists the conflict: $(cat import.log)"
exchange
both_list "both nodes list the register's conflict"
for want in "\"key\":\"042021:$id2\"" '"field":"phone"' '"shown":"0225-99-9999"' \
  '"other":"090-1234-5678"'; do
  grep -qF "$want" ca.json || fail "the register's value shown, the correction kept: $(cat ca.json)"
done
check "the register's value is shown, the clerk's correction kept as a conflict"
expect_eq "$(b a state hash)" "$(b b state hash)" "converged after the register's import"
b b resident show "$id2" > shown.txt
grep -qF 'conflict:       phone also "090-1234-5678"' shown.txt || fail "show: $(cat shown.txt)"
b b --json resident show "$id2" > shown.json
grep -qF '"other":"090-1234-5678"' shown.json || fail "show --json: $(cat shown.json)"
check "resident show lists the resident's conflict"

# While apart, each node gives the same My Number to another resident (each refuses it for a
# second resident of its own): together, both list it, show it with each, and doctor warns.
id3=$(sed -n 4p r.csv | cut -d, -f2)
id4=$(sed -n 5p r.csv | cut -d, -f2)
b a resident edit "$id3" --set my_number=983205673214 >/dev/null
if b a resident edit "$id4" --set my_number=983205673214 2> dup.err; then fail "a My Number twice"; fi
expect_eq "$(cat dup.err)" "bosai: my_number: already registered to resident 042021:$id3" \
  "an edit refuses a My Number another resident holds"
b b resident edit "$id4" --set my_number=983205673214 >/dev/null
exchange
both_list "both nodes list the same shared My Number"
first=$(printf '%s\n' "042021:$id3" "042021:$id4" | sort | head -1)
second=$(printf '%s\n' "042021:$id3" "042021:$id4" | sort | tail -1)
grep -qF "\"shared_my_numbers\":[{\"my_number\":\"********3214\",\"residents\":[\"$first\",\"$second\"]}]" ca.json ||
  fail "shared My Number: $(cat ca.json)"
b a conflicts list > list.txt 2> list.err
expect_eq "$(tail -1 list.txt)" "My Number ********3214 held by 2 residents: $first, $second" \
  "conflicts list says which residents share a My Number"
grep -q "correct the My Number of all but one" list.err || fail "list: $(cat list.err)"
b b resident show "$id3" > shown.txt
grep -qF "conflict:       my_number also held by 042021:$id4" shown.txt || fail "show: $(cat shown.txt)"
b a doctor > doctor.txt || fail "doctor fails: $(cat doctor.txt)"
grep -qF "warning: a My Number is held by more than one resident (bosai conflicts list)" doctor.txt ||
  fail "doctor: $(cat doctor.txt)"
b b resident edit "$id4" --set my_number= >/dev/null
exchange
for n in a b; do
  b $n --json conflicts list > c.json
  grep -qF '"shared_my_numbers":[]' c.json || fail "still shared on $n: $(cat c.json)"
done
check "a My Number corrected on one node is no longer shared on either"
check "a My Number given twice while apart is found on both nodes until corrected"

# A 世帯主 dies: the edit says the household needs a new one, both nodes list it and doctor warns,
# until another resident of it is made 世帯主 on the other node; the dead one does not block that.
hh=$(awk -F, 'NR > 5 && $8 == "世帯主" { head[$3] = $2 } NR > 5 { n[$3]++; member[$3] = $2 }
  END { for (h in head) if (n[h] > 1) { print h, head[h], member[h]; exit } }' r.csv)
read -r hcode head member <<< "$hh"
[ -n "$member" ] && [ "$member" != "$head" ] || fail "no household of two in r.csv"
b a resident edit "$head" --set status=死亡 > /dev/null 2> died.err
expect_eq "$(cat died.err)" "household 042021:$hcode has no 世帯主 now: make one of its residents 世帯主 (bosai resident search --household 042021:$hcode lists them; bosai resident edit ID --set relationship=世帯主)" \
  "an edit that ends a 世帯主 says the household needs one"
b a resident search --household "$hcode" > members.txt 2> members.err
expect_eq "$(grep -c "世帯主（死亡）" members.txt)" 1 "a household's listing says who died"
expect_eq "$(cat members.err)" "household 042021:$hcode has no 世帯主 among its residents (its record still names 042021:$head)" \
  "and that it has no 世帯主"
exchange
both_list "both nodes list the household without a 世帯主"
grep -qF "\"household_heads\":[{\"heads\":[],\"household\":\"042021:$hcode\",\"named\":\"042021:$head\"}]" ca.json ||
  fail "household without a 世帯主: $(cat ca.json)"
b b conflicts list > list.txt 2> list.err
expect_eq "$(tail -1 list.txt)" "household 042021:$hcode has no 世帯主 among its residents (its record still names 042021:$head)" \
  "conflicts list says which household has no 世帯主"
grep -q "make one resident of each 世帯主" list.err || fail "list: $(cat list.err)"
b b doctor > doctor.txt || fail "doctor fails: $(cat doctor.txt)"
grep -qF "warning: a household has no 世帯主, more than one, or one its record does not name (bosai conflicts list)" doctor.txt ||
  fail "doctor: $(cat doctor.txt)"
b b --json resident edit "$member" --set relationship=世帯主 > made.json
grep -qF '"households_without_head":[]' made.json || fail "edit: $(cat made.json)"
b b --json resident search --household "$hcode" > members.json
grep -qF '"household_heads":[]' members.json || fail "search: $(cat members.json)"
exchange
for n in a b; do
  b $n --json conflicts list > c.json
  grep -qF '"household_heads":[]' c.json || fail "still without a 世帯主 on $n: $(cat c.json)"
done
expect_eq "$(b a state hash)" "$(b b state hash)" "converged after the new 世帯主"
check "a household whose 世帯主 died is found on both nodes until another is made 世帯主"

# After a long partition, many conflicts: listed by record or field, settled several at once.
ids=$(awk -F, 'NR >= 10 && NR <= 12 { print $2 }' r.csv)
for id in $ids; do
  b a resident edit "$id" --set phone=0225-11-0001 --set address=本庁 >/dev/null
done
sleep 0.01
for id in $ids; do
  b b resident edit "$id" --set phone=0225-22-0002 --set address=支所 >/dev/null
done
exchange
one=$(echo "$ids" | head -1)
expect_eq "$(b a conflicts list --field phone 2>/dev/null | grep -c ' phone: shown "0225-22-0002", other "0225-11-0001"$')" 3 \
  "conflicts list --field phone lists the three phones"
expect_eq "$(b a conflicts list --record "$one" 2>/dev/null | grep -c " 042021:$one ")" 2 \
  "conflicts list --record lists one resident's two"
b a --json conflicts list --record "$one" > one.json
grep -q '"conflicts":\[{' one.json && ! grep -q shared_my_numbers one.json ||
  fail "conflicts list --record --json: $(cat one.json)"
if b a conflicts list --field adress 2> field.err; then fail "a field no record has"; fi
grep -qF 'bosai: no record has a field "adress" (a resident'"'"'s: household, name' field.err ||
  fail "a mistyped field: $(cat field.err)"
phones=$(b a conflicts list --field phone 2>/dev/null | wc -l)  # (the register's one above too)
b a conflicts resolve --all --field phone --keep other > phones.txt
expect_eq "$(tail -1 phones.txt)" "resolved $phones conflicts" "resolve --all --field phone settles them all"
expect_eq "$(b a conflicts list --field phone 2>&1)" "no conflicts of that record or field" "no phone conflict is left"
if b a conflicts resolve --all --value X 2>/dev/null; then fail "--value for all"; fi
if b a conflicts resolve --field address --keep shown 2> nofilter.err; then fail "--field without --all"; fi
grep -qF -- "--record and --field choose conflicts with --all" nofilter.err || fail "$(cat nofilter.err)"
addresses=$(b a --json conflicts list --field address | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
# (three residents', and the households of those who are 世帯主: their address is the household's)
[ "$(echo "$addresses" | wc -l)" -ge 3 ] || fail "address conflicts: $addresses"
first=$(echo "$addresses" | head -1)
b a --json conflicts resolve $addresses "$first" --keep shown > addresses.json
# Each is resolved or was settled by one before it (a 世帯主's address settles the household's);
# the one given twice is no longer open the second time.
grep -qE "\"not_open\":\[[^]]*\"$first\"" addresses.json &&
  grep -qE "\"resolved\":\[\"$first\"" addresses.json || fail "several ids resolved: $(cat addresses.json)"
for a in $addresses; do grep -qF "\"$a\"" addresses.json || fail "$a not said: $(cat addresses.json)"; done
expect_eq "$(b a conflicts list --field address 2>&1)" "no conflicts of that record or field" \
  "no address conflict is left"
exchange
for n in a b; do
  b $n --json conflicts list > c.json
  grep -qF '"conflicts":[]' c.json || fail "conflicts left on $n: $(cat c.json)"
  b $n --json resident show "$one" > one.json
  grep -qF '"phone":"0225-11-0001"' one.json && grep -qF '"address":"支所"' one.json ||
    fail "the values kept on $n: $(cat one.json)"
done
expect_eq "$(b a state hash)" "$(b b state hash)" "converged after settling several at once"
check "conflicts listed by record and field, settled several at once, on both nodes"

# A settlement can reach a node before the value it set aside: the two are in different streams
# (here the settling write is a's, the value set aside b's), and a bundle made for a node that
# says it holds b's stream carries a's alone. show says the value is not held there yet.
id3=$(sed -n 5p r.csv | cut -d, -f2)
b b resident edit "$id3" --set phone=0225-77-0001 > /dev/null
sleep 0.01
b a resident edit "$id3" --set phone=0225-77-0002 > /dev/null
exchange
b a --json conflicts list --record "042021:$id3" --field phone > c3.json
cid3=$(json_field id < c3.json)
b a conflicts resolve "$cid3" --keep shown > /dev/null
root_node c 042021-kita
b c sync vector --out c-vector.json > /dev/null
sed 's/"vector": \[\]/"vector": [{"incarnation": "042021-shisho#1", "scope": "042021", "seq": 1000000}]/' \
  c-vector.json > c-claims.json
b a sync export --vector c-claims.json --out c.bundle > /dev/null
b c sync import c.bundle > /dev/null
b c conflicts show "$cid3" > not-held.txt || fail "show of a settlement whose value set aside is not held"
grep -qxF "conflict $cid3 is settled" not-held.txt &&
  grep -qE '^  set aside: \(by 042021-shisho#1:[0-9]+, not held here yet\)$' not-held.txt &&
  grep -qE '^  settled:   "0225-77-0002" \(by 042021-honcho#1:[0-9]+, ' not-held.txt ||
  fail "a value set aside not held yet: $(cat not-held.txt)"
b c --json conflicts show "$cid3" > not-held.json
grep -q '"other"' not-held.json && fail "--json names a value not held: $(cat not-held.json)"
grep -q '"settled":"0225-77-0002"' not-held.json || fail "--json: $(cat not-held.json)"
check "a settlement held before the value it set aside says that value is not held yet"
