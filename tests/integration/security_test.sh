#!/usr/bin/env bash
# Authorization and hostile input on a serving node (DESIGN §5, §7). After each attack the node
# has applied nothing (same state hash) and keeps serving honest peers:
#  - a peer under a foreign root fails the TLS handshake; a client that does not speak TLS, and
#    one that says nothing, are hung up on with the reason in the daemon's log;
#  - a revoked node is refused; so is a node made again under a known node id with a new key;
#  - a block forged by a relay (another origin's name, the relay's signature) is rejected;
#  - a block in a scope its origin may not write is rejected;
#  - garbage bytes and a frame cut in half end that session with an error;
#  - blocks stamped 2 h ahead are held and reported, then applied on accept-skew;
#  - a node key file whose public half does not match its seed (it would sign what no peer can
#    verify) stops every command, naming the file;
#  - so does a data key file that is damaged, replaced or gone (My Number would be sealed with a
#    key no other node holds);
#  - a data dir init makes is its owner's alone, whatever the umask; one other users may enter
#    is warned of by init and doctor.
source "$(dirname "$0")/lib.sh" "$@"
ROGUE=$TOOLS/rogue_peer

root_node a 042021-honcho
root_node b 042021-shisho
root_node c 042021-hub
"$BOSAI" gen residents --municipality 042021 --count 300 --seed 9 --out r.csv
b a resident import r.csv 2>/dev/null
serve a
A="127.0.0.1:$PORT_a"
b b sync now "$A" >/dev/null
b c sync now "$A" >/dev/null
hash=$(b a state hash)
honest() { b b sync now "$A" >/dev/null || fail "A stopped serving honest peers after: $1"; }
unchanged() { expect_eq "$(b a state hash)" "$hash" "A applied nothing: $1"; }

# Foreign root.
b f init --node-id 042021-fake --municipality 042021 >/dev/null   # its own development root
if b f sync now "$A" > foreign.out 2> foreign.err; then fail "a foreign-root peer was accepted"; fi
grep -q "TLS handshake failed: .*(is the peer's certificate issued by a trusted root?)" foreign.err ||
  fail "foreign root: $(cat foreign.err)"
honest "foreign root"; unchanged "foreign root"

# A client that does not speak TLS (a browser, another service's client): the daemon's log says so.
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 nc -N 127.0.0.1 "$PORT_a" > /dev/null || true
wait_until 5 "the daemon says the peer does not speak TLS" \
  grep -q 'reason="TLS handshake failed: .*(the peer does not speak TLS: it is not a bosai node; check the address and port)"' a.log
honest "a plain HTTP request"; unchanged "a plain HTTP request"
# A client that connects and says nothing (checked at the end: the daemon waits 10 s for it).
{ sleep 14 | timeout 15 nc 127.0.0.1 "$PORT_a" > /dev/null 2>&1 || true; } &
silent=$!

# Dialling a peer by id: its certificate must carry that id.
if b b sync now "$A" --peer 042021-somewhere 2> id.err; then fail "a peer with another id was accepted"; fi
grep -q "is 042021-honcho, not the configured 042021-somewhere" id.err || fail "peer id: $(cat id.err)"
honest "wrong peer id"

# Revoked node: the root revokes it and signs a trust bundle; A imports it.
"$BOSAI" keys trust export --root root --out trust1.json >/dev/null
"$BOSAI" keys revoke 042021-hub --root root >/dev/null
"$BOSAI" --json keys trust export --root root --out trust2.json > t2.json
grep -q '"seq":2' t2.json && grep -q '"revoked":1' t2.json || fail "trust export: $(cat t2.json)"
sed 's/042021-hub/042021-huc/' trust2.json > trust-tampered.json
if b a keys trust import trust-tampered.json 2> tt.err; then fail "tampered trust bundle"; fi
grep -q "signature does not verify" tt.err || fail "$(cat tt.err)"
b f2 init --node-id 042021-fake2 --municipality 042021 >/dev/null
if b f2 keys trust import trust2.json 2> tf.err; then fail "a trust bundle of a root the node does not trust"; fi
grep -q "does not trust" tf.err || fail "$(cat tf.err)"
b a keys trust import trust2.json > ti.txt
grep -q "sequence 2: .* 1 revoked" ti.txt || fail "trust import: $(cat ti.txt)"
if b a keys trust import trust1.json 2> old.err; then fail "an older trust bundle was applied"; fi
grep -q "not newer" old.err || fail "$(cat old.err)"
check "a signed trust bundle carries the revocation; tampered, foreign and older ones are refused"
# The revoked node itself is told, when it imports the bundle.
b c keys trust import trust2.json > self.txt 2> self.err
grep -qF "warning: this bundle revokes this node, 042021-hub: its peers refuse its sessions" self.err ||
  fail "the revoked node's import: $(cat self.txt self.err)"
# At the root: a node revoked again changes nothing; a node id it never issued to (mistyped, the
# stolen laptop still trusted) is warned of, with the ids it did issue to.
"$BOSAI" keys revoke 042021-hub --root root > again.txt 2> again.err
expect_eq "$(cat again.txt)" "042021-hub is revoked at the root already: nothing changed" "revoked twice"
[ ! -s again.err ] || fail "a node the root issued to is warned of: $(cat again.err)"
"$BOSAI" --json keys revoke 042021-hub --root root > known.json
grep -qF '"already":true,"at":"root","issued_by_this_root":true' known.json || fail "--json: $(cat known.json)"
"$BOSAI" keys revoke 042021-hb --root root > typo.txt 2> typo.err
grep -qF "warning: this root issued no certificate to 042021-hb: is it mistyped? It issued to 042021-" typo.err &&
  grep -qF "042021-hub" typo.err || fail "a mistyped revocation: $(cat typo.err)"
check "a revocation at the root says when it changes nothing, or names no node the root issued to"
if b c sync now "$A" 2> revoked.err; then fail "a revoked node was accepted"; fi
grep -q "042021-hub is revoked" revoked.err || fail "revoked: $(cat revoked.err)"
grep -q "event=sync.peer.refused peer=.* error=\"node 042021-hub is revoked\"" a.log || fail "logged: $(tail -5 a.log)"
honest "revoked"; unchanged "revoked"

# A relay forging a block in another origin's name.
"$ROGUE" b "$A" forge "042021-honcho#1" > forge.out
grep -q "peer error: .*signature does not verify" forge.out || fail "forged: $(cat forge.out)"
honest "forged block"; unchanged "forged block"

# A shelter writing into the My Number scope it was not given.
b shelter keys node request --node-id 042021-shelter-01 --out req.json >/dev/null
"$BOSAI" keys node issue --root root --request req.json --issuer-code S1 --write 042021 --out enr.json >/dev/null
b shelter init --enrollment enr.json >/dev/null
"$ROGUE" shelter "$A" scope 042021/mynumber > scope.out
grep -q "peer error: .*no write scope for 042021/mynumber" scope.out || fail "scope: $(cat scope.out)"
"$ROGUE" shelter "$A" scope 131016 > scope2.out
grep -q "peer error: .*no write scope for 131016" scope2.out || fail "scope: $(cat scope2.out)"
honest "out-of-scope block"; unchanged "out-of-scope block"

# Revoked on a node at once (no root at hand): the daemon running there refuses the node from
# then on. Revoked again, nothing changes; an id the node holds no certificate of is warned of.
b shelter sync now "$A" >/dev/null || fail "the shelter syncs before it is revoked"
b a keys revoke 042021-shelter-01 > local.txt 2> local.err
expect_eq "$(cat local.txt)" "revoked 042021-shelter-01 on this node; its sessions are refused" "a local revocation"
[ ! -s local.err ] || fail "a node A met is warned of: $(cat local.err)"
b a keys revoke 042021-shelter-01 > local.txt
expect_eq "$(cat local.txt)" "042021-shelter-01 is revoked on this node already: nothing changed" "revoked twice on a node"
b a keys revoke 042021-shelter-10 > /dev/null 2> unmet.err
grep -qF "warning: this node holds no certificate of 042021-shelter-10 (it has not met it, or the id is mistyped)" unmet.err ||
  fail "an unmet node revoked: $(cat unmet.err)"
refused() { ! b shelter sync now "$A" 2> refused.err && grep -q "042021-shelter-01 is revoked" refused.err; }
wait_until 5 "the daemon refuses a node revoked on its node by another process" refused
honest "a local revocation"; unchanged "a local revocation"

# Garbage and a truncated frame.
"$ROGUE" b "$A" garbage > garbage.out
grep -q "peer error: frame 1: .*length" garbage.out || fail "garbage: $(cat garbage.out)"
"$ROGUE" b "$A" truncated > trunc.out
grep -q "hung up mid-frame" trunc.out || fail "truncated: $(cat trunc.out)"
honest "garbage and truncated frames"; unchanged "garbage and truncated frames"
grep -q "event=sync.frame.bad" a.log || fail "bad frames are logged"

# A peer that goes silent after its Hello: the watchdog reports the stalled session and hangs up.
"$ROGUE" b "$A" silent > silent.out
grep -q "peer closed the session" silent.out || fail "silent: $(cat silent.out)"
grep -q "event=sync.session.stalled peer=042021-shisho" a.log || fail "watchdog: $(tail -5 a.log)"
check "the watchdog reports and closes a stalled session"
honest "a stalled session"

# A node whose clock is 2 h ahead: held and reported, not applied, until accepted.
root_node g 042021-tokei
"$ROGUE" g "$A" ahead 7200000 > ahead.out
unchanged "blocks 2 h ahead"
b a --json sync status > st.json
grep -q '"held":\[{"ahead_ms":[0-9]*,"blocks":1,"incarnation":"042021-tokei#1","ops":1}\]' st.json \
  || fail "held blocks in status: $(cat st.json)"
b a sync status > st.txt
grep -q "HELD 1 block (1 op) of 042021-tokei#1" st.txt || fail "status: $(cat st.txt)"
check "a node 2 h ahead is held and reported"
b a sync accept-skew "042021-tokei#1" > acc.out
grep -q "applied 1 held block" acc.out || fail "accept-skew: $(cat acc.out)"
b a --json resident show 042021:999999999990 | grep -q '"name":"偽造"' || fail "accepted block applied"
check "accept-skew applies the held block"
if b a sync accept-skew "042021-tokei#1" 2>/dev/null; then fail "nothing left to accept"; fi
b a doctor >/dev/null || fail "doctor after the attacks"
check "doctor passes"

# Damaged key files. flip_digit FILE AT changes the hex digit at offset AT (one damaged byte);
# refused WHAT MESSAGE: every command of node k stops with MESSAGE, WHAT being wrong.
flip_digit() {
  local text; text=$(tr -d '\n' < "$1")
  local other=0; [ "${text:$2:1}" = 0 ] && other=1
  printf '%s%s%s\n' "${text:0:$2}" "$other" "${text:$(($2 + 1))}" > "$1"
}
refused() {
  if b k resident count > refused.out 2> refused.err; then fail "a node with $1 ran"; fi
  grep -qF "$2" refused.err || fail "$1: $(cat refused.err)"
}
root_node k 042021-kagi
cp k/keys/node.key node.key.good
flip_digit k/keys/node.key 127  # the last digit of its public half
refused "a damaged node key" \
  "k/keys/node.key: node key is damaged: its public half does not match its seed"
cp node.key.good k/keys/node.key
expect_eq "$(b k resident count)" "0" "with its key restored the node runs"
check "a damaged node key stops every command, naming its file"

# A damaged, a replaced and a missing data key: the check recorded at init no longer matches.
cp k/keys/data.key data.key.good
flip_digit k/keys/data.key 30  # in its encryption half
refused "a damaged data key" \
  "k/keys/data.key: not the data key this node was given (damaged or replaced)"
"$BOSAI" keys root init --municipality 042021 --out other-root >/dev/null
cp other-root/data.key k/keys/data.key  # another root's: a valid key, not this node's
refused "another data key" "k/keys/data.key: not the data key this node was given"
rm k/keys/data.key
refused "no data key" "k/keys/data.key: missing; this node was given the municipality's data key"
cp data.key.good k/keys/data.key
expect_eq "$(b k resident count)" "0" "with its data key restored the node runs"
check "a damaged, replaced or missing data key stops every command, naming its file"

# Revocations at the root add up: each rewrites the list whole (never half appended); the same
# node twice is one.
"$BOSAI" keys revoke 042021-stolen --root root >/dev/null
"$BOSAI" keys revoke 042021-stolen --root root >/dev/null
printf '042021-lost' >> root/revoked.txt  # an officer's hand edit, without its newline
"$BOSAI" keys revoke 042021-third --root root >/dev/null
expect_eq "$(cat root/revoked.txt)" "042021-hub
042021-hb
042021-stolen
042021-lost
042021-third" "revocations at the root add up"
"$BOSAI" --json keys trust export --root root --out trust3.json > t3.json
grep -q '"revoked":5' t3.json || fail "trust export: $(cat t3.json)"
check "a trust export carries every revocation"

# A node made again under a node id whose writes A holds (a drill's `init --root-key`, a
# replaced laptop): a new key, the same first epoch, so its writes would never reach A. A
# refuses it and says why, in both logs; the first device still syncs. (A root refuses to
# certify a node id to another key: enroll_test.)
id=$(sed -n 2p r.csv | cut -d, -f2)
b b resident edit "$id" --set phone=0225-33-3333 > /dev/null
honest "a write on B"
b b2 init --node-id 042021-shisho --municipality 042021 --root-key root/root.key > /dev/null
if b b2 sync now "$A" 2> remade.err; then fail "a node made again under a known id synced"; fi
remade="node 042021-shisho presents another key than the one 042021-shisho#1 signed its writes \
here with: a device made again under a node id its peers know. Its writes could never reach them; \
give it a new node id"
expect_eq "$(cat remade.err)" "bosai: Error frame from peer: peer reports: $remade" \
  "a node made again under a known id is told why it is refused"
grep -qF "event=sync.peer.refused peer=127.0.0.1:" a.log && grep -qF "error=\"$remade\"" a.log ||
  fail "A's log: $(tail -3 a.log)"
honest "a node made again under a known id"
expect_eq "$(b a resident show "$id" | grep phone)" "phone:          0225-33-3333" \
  "the first device's write reached A"

# The data dir holds residents' names and addresses: one init makes is its owner's alone.
( umask 022 && b own init --node-id 042021-own --municipality 042021 > /dev/null 2> own.err )
expect_eq "$(stat -c %a own) $(stat -c %a own/keys)" "700 700" "init makes the data dir 0700"
expect_eq "$(cat own.err)" "" "init into a data dir it makes warns of nothing"
( umask 022 && b own2 keys node request --node-id 042021-own2 --out own2.json > /dev/null )
expect_eq "$(stat -c %a own2)" "700" "keys node request makes the data dir 0700"
mkdir -m 755 shared
b shared init --node-id 042021-shared --municipality 042021 > /dev/null 2> shared.err
expect_eq "$(stat -c %a shared)" "755" "init keeps the mode of a data dir that exists"
warning="other users of this computer may read the data dir shared (mode 0755), which holds \
residents' names and addresses: \`chmod 700 shared\`"
expect_eq "$(cat shared.err)" "bosai: warning: $warning" "init warns of an open data dir"
b shared doctor > doctor.txt || fail "doctor: $(cat doctor.txt)"
grep -qF "warning: $warning" doctor.txt || fail "doctor: $(cat doctor.txt)"
chmod 700 shared
b shared doctor > doctor.txt
if grep -q "other users" doctor.txt; then fail "doctor still warns: $(cat doctor.txt)"; fi
check "an open data dir is warned of by init and doctor, until it is closed"

wait "$silent"
grep -q 'reason="TLS handshake timed out: the peer sent no answer in 10 s"$' a.log ||
  fail "the daemon did not hang up on a silent client: $(grep -c timed a.log)"
check "the daemon hangs up on a client that says nothing, and says so"
honest "a silent client"
