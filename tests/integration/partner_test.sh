#!/usr/bin/env bash
# A partner municipality (DESIGN §5, §7): the owning root grants read scope to the partner's
# node; the partner holds the register and My Number as ciphertext only; the town hall is
# rebuilt from the partner; a partner can never write here.
source "$(dirname "$0")/lib.sh" "$@"

root_node a 042021-honcho
"$BOSAI" keys root init --municipality 131016 --out proot >/dev/null
b p init --node-id 131016-partner --municipality 131016 --root-key proot/root.key >/dev/null
"$BOSAI" gen residents --municipality 042021 --count 300 --seed 4 --out r.csv
b a resident import r.csv 2>/dev/null
id=$(sed -n 2p r.csv | cut -d, -f2)
mn=$(sed -n 2p r.csv | cut -d, -f11)

# The ceremony: each trusts the other's root; 042021's root grants the partner read scope.
b a keys add proot/root.crt >/dev/null
b p keys add root/root.crt >/dev/null
if "$BOSAI" keys grant --root root --node-cert a/keys/node.crt --read 042021 --out x.crt 2> own.err; then
  fail "a grant for a node of the root's own municipality"
fi
grep -q "not a grant" own.err || fail "$(cat own.err)"
if "$BOSAI" keys grant --root root --node-cert p/keys/node.crt --read 131016 --out x.crt 2>/dev/null; then
  fail "a root granted another municipality's scope"
fi
"$BOSAI" keys grant --root root --node-cert p/keys/node.crt --read 042021,042021/mynumber --out grant.crt >/dev/null
b q init --node-id 131016-other --municipality 131016 --root-key proot/root.key >/dev/null
b q keys add root/root.crt >/dev/null
if b q keys add grant.crt 2> q.err; then fail "a grant installed on another node"; fi
grep -q "the grant is for 131016-partner" q.err || fail "$(cat q.err)"
b p keys add grant.crt > add.txt
grep -q "read grant of 042021 (042021,042021/mynumber)" add.txt || fail "$(cat add.txt)"
# Installed again (a root added twice): nothing changes, and it says so; a grant issued anew
# replaces the one before, whole.
expect_eq "$(b p keys add root/root.crt)" "the root of 042021 is installed already: nothing changed" \
  "a root installed again"
"$BOSAI" keys grant --root root --node-cert p/keys/node.crt --read 042021 --out grant2.crt >/dev/null
b p keys add grant2.crt > add.txt
grep -q "installed the read grant of 042021 (042021);" add.txt || fail "a grant issued anew: $(cat add.txt)"
expect_eq "$(cat p/keys/grants/042021.crt)" "$(cat grant2.crt)" "the new grant replaces the one before"
b p keys add grant.crt > add.txt || fail "the first grant installed again: $(cat add.txt)"
expect_eq "$(ls p/keys/roots) $(ls p/keys/grants)" "042021.crt 042021.crt" \
  "one file per root and grant, no temporary file left"
# A carried file given for a certificate is named.
"$BOSAI" keys trust export --root root --out trust.json > /dev/null
if b p keys add trust.json 2> t.err; then fail "a trust bundle added as a certificate"; fi
grep -qF "trust.json: neither a root certificate nor a grant" t.err &&
  grep -qF "; it is a trust bundle (bosai keys trust import)" t.err || fail "$(cat t.err)"
check "roots exchanged and a read grant installed"

serve a
b p sync now "127.0.0.1:$PORT_a" >/dev/null
expect_eq "$(b p resident count)" 300 "the partner holds the register"
[ "$(sqlite3 p/bosai.db "select count(*) from streams where scope = '042021/mynumber' and last_seq > 0")" = 1 ] \
  || fail "the partner holds the My Number stream"
b p --json resident show "042021:$id" --reveal-my-number > pshow.json
grep -q "$mn" pshow.json && fail "the partner reads My Number: $(cat pshow.json)"
grep -q '"my_number":"<sealed>"' pshow.json || fail "ciphertext only: $(cat pshow.json)"
check "the partner stores My Number as ciphertext only"

# Without a grant, another node of the partner municipality gets nothing from 042021.
b a keys add proot/root.crt >/dev/null 2>&1 || true
b q sync now "127.0.0.1:$PORT_a" >/dev/null
expect_eq "$(b q resident count)" 0 "a partner node without a grant receives nothing"

# A partner cannot write here: its edit of a 042021 resident stays in its own scope.
b p resident edit "042021:$id" --set phone=0000-00-0000 >/dev/null 2>&1 || true
b p sync now "127.0.0.1:$PORT_a" >/dev/null
b a --json resident show "$id" | grep -q '"phone":"0000-00-0000"' && fail "the partner wrote into 042021"
check "the partner cannot write into 042021"

# The town hall is lost; a new town-hall node is rebuilt from the partner.
stop a
root_node a2 042021-honcho2
b a2 keys add proot/root.crt >/dev/null
serve p
b a2 sync now "127.0.0.1:$PORT_p" >/dev/null
expect_eq "$(b a2 resident count)" 300 "the rebuilt town hall holds the register"
expect_eq "$(b a2 --json resident show "$id" --reveal-my-number | grep -o "\"my_number\":\"$mn\"")" \
  "\"my_number\":\"$mn\"" "the rebuilt town hall reads My Number again"
expect_eq "$(sqlite3 a2/bosai.db "select count(*) from streams where incarnation = '042021-honcho#1' and last_seq > 0")" 2 \
  "the old town hall's streams came back through the partner"
b a2 doctor >/dev/null || fail "doctor"
check "doctor passes on the rebuilt node"
