#!/usr/bin/env bash
# Enrollment under a municipality root: root init, node request, issue, init --enrollment; the
# --root-key shortcut; read-only partners get no data key; enrollments for another key, from a
# foreign root or tampered with are refused and create nothing.
source "$(dirname "$0")/lib.sh" "$@"

"$BOSAI" keys root init --municipality 042021 --out root >/dev/null
[ "$(stat -c %a root/root.key)" = 600 ] || fail "root.key must be private"
b shelter keys node request --node-id 042021-shelter-03 --out req.json >/dev/null
cp req.json req-first.json
if b shelter keys node request --node-id 042021-shelter-03 --out req.json 2> again.err; then
  fail "a request written over"
fi
expect_eq "$(cat again.err)" "bosai: req.json: exists already, and is never written over: remove it, or name another file" \
  "a file bosai never writes over is said to exist"
cmp -s req.json req-first.json || fail "the request was changed"
# An issuer code typed in small letters is refused, naming it in capitals.
if "$BOSAI" keys node issue --root root --request req.json --issuer-code shelter03 --out enr.json 2> code.err; then
  fail "an issuer code in small letters"
fi
expect_eq "$(cat code.err)" 'bosai: issuer code "shelter03" must be 1 to 12 of A-Z, 0-9 (capitals: SHELTER03)' \
  "an issuer code in small letters is named in capitals"
[ ! -e enr.json ] || fail "an enrollment was written for a refused issuer code"
"$BOSAI" keys node issue --root root --request req.json --issuer-code SHELTER03 --out enr.json >/dev/null
b shelter --json init --enrollment enr.json > init.json 2> init.err
[ ! -s init.err ] || fail "init beside the key its request made warns: $(cat init.err)"
grep -q '"development_root":false' init.json || fail "enrolled node: $(cat init.json)"
grep -q '"issuer_code":"SHELTER03"' init.json || fail "issuer code: $(cat init.json)"
grep -q '"my_number_readable":true' init.json || fail "data key must be unwrapped: $(cat init.json)"
b shelter doctor > doctor.txt
grep -q "development root" doctor.txt && fail "an enrolled node is not on a development root"
check "request → issue → init --enrollment"

# A key is certified as one node id only. A second request from a data dir whose key an earlier
# request made says it takes that key; the root refuses to certify it under another id, and
# never again once the node it was certified as is revoked. The same id is re-issued.
b spare keys node request --node-id 042021-shelter-5 --out typo.json >/dev/null
"$BOSAI" keys node issue --root root --request typo.json --issuer-code SHELTER5 --out typo-enr.json >/dev/null
b spare keys node request --node-id 042021-shelter-05 --out fixed.json > fixed.log
expect_eq "$(cat fixed.log)" "wrote fixed.json; the node key stays in spare/keys
(the key an earlier request made there: the root certifies a key as one node id only)" \
  "a second request says it takes the first one's key"
if "$BOSAI" keys node issue --root root --request fixed.json --issuer-code SHELTER05 --out fixed-enr.json 2> twice.err; then
  fail "one key certified as two nodes"
fi
expect_eq "$(cat twice.err)" "bosai: the requested key is certified already as 042021-shelter-5 (root/issued/042021-shelter-5.crt): a key is certified as one node only. To re-issue that node's certificate, request as 042021-shelter-5; for another node, make the request in a new data dir (a new key), and revoke 042021-shelter-5 if it was a mistake" \
  "one key as two node ids"
[ ! -e fixed-enr.json ] && [ ! -e root/issued/042021-shelter-05.crt ] || fail "a refused key was certified"
"$BOSAI" keys node issue --root root --request typo.json --issuer-code SHELTER5 --out again-enr.json >/dev/null ||
  fail "the same node's certificate re-issued"
"$BOSAI" keys revoke 042021-shelter-5 --root root >/dev/null
if "$BOSAI" keys node issue --root root --request fixed.json --issuer-code SHELTER05 --out fixed-enr.json 2> revoked.err; then
  fail "a revoked node's key certified again"
fi
expect_eq "$(cat revoked.err)" "bosai: the requested key was certified as 042021-shelter-5, which is revoked (root/issued/042021-shelter-5.crt): a revoked node's key is never certified again; make the request in a new data dir (a new key)" \
  "a revoked node's key"
b spare2 keys node request --node-id 042021-shelter-05 --out new.json > new.log
grep -q "earlier request" new.log && fail "a new data dir took an earlier key: $(cat new.log)"
"$BOSAI" keys node issue --root root --request new.json --issuer-code SHELTER05 --out new-enr.json >/dev/null ||
  fail "a new key for the node id"
check "a key is certified as one node id only"
# A revoked node id is never certified again; nor is a node id certified to another key (its
# peers know its writes by that key: security_test), until it is given a new id.
b spare3 keys node request --node-id 042021-shelter-5 --out again5.json >/dev/null
if "$BOSAI" keys node issue --root root --request again5.json --issuer-code SHELTER5 --out again5-enr.json 2> gone.err; then
  fail "a revoked node id certified again"
fi
expect_eq "$(cat gone.err)" "bosai: 042021-shelter-5 is revoked (root/revoked.txt): its peers refuse any certificate of it; give the node a new node id" \
  "a revoked node id"
b spare4 keys node request --node-id 042021-shelter-05 --out other05.json >/dev/null
if "$BOSAI" keys node issue --root root --request other05.json --issuer-code SHELTER05 --out other05-enr.json 2> replaced.err; then
  fail "a node id certified to a second key"
fi
expect_eq "$(cat replaced.err)" "bosai: 042021-shelter-05 is certified to another key (root/issued/042021-shelter-05.crt): a node id belongs to one key, the one its writes are signed with, and its peers refuse another. Give the new device a new node id, and revoke 042021-shelter-05 if its device is lost" \
  "a node id certified to another key"
[ ! -e other05-enr.json ] || fail "an enrollment was written for a node id's second key"
b spare4 keys node request --node-id 042021-shelter-05b --out other05b.json >/dev/null 2>&1
"$BOSAI" keys node issue --root root --request other05b.json --issuer-code SHELTER05B --out other05b-enr.json > /dev/null ||
  fail "the new device under a new node id"
check "a node id is certified to one key"

# A node made in a directory that holds other files (a home directory) is said to be among them.
mkdir home && touch home/notes.txt home/photo.jpg
b home init --node-id 042021-home --municipality 042021 --root-key root/root.key > /dev/null 2> home.err
grep -qxF "bosai: warning: home held other files (notes.txt, photo.jpg): the node's are beside them; a data dir of its own is easier to protect and to back up" home.err ||
  fail "a node made among other files: $(cat home.err)"
check "a node made among other files says so"

# The same through pipes: a request and an enrollment written to standard output (--out -) are
# the files alone; what the commands say goes to stderr.
b piped keys node request --node-id 042021-shelter-04 --out - > req2.json 2> req2.log
expect_eq "$(cat req2.log)" "wrote - (standard output); the node key stays in piped/keys" "request to stdout"
"$BOSAI" keys node issue --root root --request req2.json --issuer-code SHELTER04 --out - > enr2.json 2> enr2.log
expect_eq "$(cat enr2.log)" "wrote - (standard output); on the node: bosai init --enrollment FILE" \
  "enrollment to stdout"
b piped init --enrollment enr2.json > /dev/null || fail "an enrollment piped to a file"
[ ! -e ./- ] || fail "a file named - was written"
check "a request and an enrollment written to standard output"

# The data key unwrapped from the enrollment is the root's: My Number sealed on one enrolled
# node opens on another.
b honcho init --node-id 042021-honcho --municipality 042021 --root-key root/root.key >/dev/null
"$BOSAI" gen residents --municipality 042021 --count 50 --seed 1 --out r.csv
b honcho resident import r.csv 2>/dev/null
serve honcho
b shelter sync now "127.0.0.1:$PORT_honcho" >/dev/null
id=$(sed -n 2p r.csv | cut -d, -f2)
mn=$(sed -n 2p r.csv | cut -d, -f11)
b shelter --json resident show "$id" --reveal-my-number > show.json
grep -q "\"my_number\":\"$mn\"" show.json || fail "My Number on another enrolled node: $(cat show.json)"
check "--root-key shortcut; nodes of one root share the data key"

# --root-key given the certificate beside the key, or some large file: named, nothing made.
if b wrong init --node-id 042021-wrong --municipality 042021 --root-key root/root.crt 2> crt.err; then
  fail "a certificate taken for the root key"
fi
expect_eq "$(cat crt.err)" "bosai: root/root.crt: not the root's private key (it is a certificate; the root's key is root.key, beside root.crt)" \
  "--root-key given root.crt"
{ yes 042021,1 || true; } | head -c 70000 > big.csv
if b wrong init --node-id 042021-wrong --municipality 042021 --root-key big.csv 2> big.err; then
  fail "a register taken for the root key"
fi
expect_eq "$(cat big.err)" "bosai: big.csv: over 65536 bytes: not a key, certificate, request or enrollment (a few kilobytes)" \
  "--root-key given a large file"
mkdir lone && cp root/root.key lone/
if b wrong init --node-id 042021-wrong --municipality 042021 --root-key lone/root.key 2> lone.err; then
  fail "a root key without its certificate"
fi
expect_eq "$(cat lone.err)" "bosai: lone/root.crt: No such file or directory; the root's certificate, beside its key lone/root.key" \
  "a root key without its certificate beside it"
[ ! -e wrong ] || fail "a node was made with a wrong root key"
check "a wrong file given for the root key is named, and no node is made"

# A node with read scope for the register only: no data key, and My Number never reaches it.
b partner keys node request --node-id 042021-partner --out preq.json >/dev/null
"$BOSAI" keys node issue --root root --request preq.json --issuer-code PARTNER --write "" \
  --read 042021 --out penr.json >/dev/null
b partner --json init --enrollment penr.json > pinit.json
grep -q '"my_number_readable":false' pinit.json || fail "partner must not get the data key"
b partner sync now "127.0.0.1:$PORT_honcho" >/dev/null
b partner --json resident show "$id" --reveal-my-number > pshow.json
grep -q '"name_kana"' pshow.json || fail "the reader holds the register: $(cat pshow.json)"
grep -q '"my_number":"' pshow.json && fail "no My Number without its read scope: $(cat pshow.json)"
check "a register-only reader gets no data key and no My Number"

# Refusals, each leaving no node behind.
b other keys node request --node-id 042021-shelter-03 --out other.json >/dev/null
if b other init --enrollment enr.json 2> wrongkey.log; then fail "enrollment for another key"; fi
grep -q "issued for another key" wrongkey.log || fail "$(cat wrongkey.log)"
"$BOSAI" keys root init --municipality 131016 --out root2 >/dev/null
if "$BOSAI" keys node issue --root root2 --request other.json --issuer-code X --out x.json 2> foreign.log; then
  fail "a root must not certify another municipality's node"
fi
grep -q "cannot certify" foreign.log || fail "$(cat foreign.log)"
sed 's/SHELTER03/SHELTER04/' enr.json > tampered.json
b third keys node request --node-id 042021-shelter-03 --out third.json >/dev/null
if b shelter2 init --enrollment tampered.json 2>/dev/null; then fail "tampered enrollment"; fi
[ ! -f other/bosai.db ] && [ ! -f shelter2/bosai.db ] || fail "a refused enrollment created a node"
check "enrollments for another key, foreign roots and tampering are refused"
