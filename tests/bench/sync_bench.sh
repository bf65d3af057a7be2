#!/usr/bin/env bash
# Sync benchmark (issue: replication). Two nodes of one root on loopback TLS. Prints one JSON
# line per scenario:
#   initial      N resident ops from A to an empty B (`bosai sync now` to A's daemon):
#                seconds, ops_per_s, wire_bytes (frames both ways), raw_op_bytes (uncompressed
#                protobuf of the ops), baseline_seconds (A's database file through an LZ4 pipe
#                over a local TCP socket: lz4 | nc -> nc | lz4 -d, same run), peak_rss_mb
#                (of B's `sync now`, which bootstraps B)
#   incremental  each side changes 1% of the residents while disconnected, then one session:
#                wire_bytes, changed_op_bytes (the stored, compressed blocks of those changes)
#   noop         a session when already in sync: wire_bytes, frames, round_trips
#   carried      A's ops taken into an empty node from a file, against the same baseline: a bundle
#                exported for it (`sync export --vector`, then `sync import`: bundle_seconds) and
#                A's backup taken in as a lost node's (`restore --from-lost-node`:
#                lost_node_seconds), each with the peak RSS of the command that takes them in
# Usage: sync_bench.sh BOSAI_BIN [--ops N]   (default 1,000,000 ops, about 405,000 residents)
set -euo pipefail
bosai=${1:?usage: sync_bench.sh BOSAI_BIN [--ops N]}
shift
ops=1000000
while [ $# -gt 0 ]; do
  case $1 in
    --ops) ops=$2; shift 2 ;;
    *) echo "sync_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d "${TMPDIR:-/tmp}/bosai-bench.XXXXXX")
daemon=""
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
now() { date +%s.%N; }
b() { local d=$1; shift; "$bosai" --data-dir "$d" "$@"; }
num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
total_ops() { sqlite3 "$1/bosai.db" "select coalesce(sum(last_seq),0) from streams"; }
# Raw (uncompressed protobuf) bytes of the ops in the blocks with id > $2: the u32 that follows
# the block header (storage/block.h: magic 4, origin 2+n, scope 2+n, first_seq 8, count 4, max_hlc 8).
raw_bytes() {
  local total=0 h
  for h in $(sqlite3 "$1/bosai.db" "select hex(substr(data, 4 + 2 + length(cast(s.incarnation as blob))
      + 2 + length(cast(s.scope as blob)) + 8 + 4 + 8 + 1, 4))
      from blocks join streams s on s.id = blocks.stream where blocks.id > ${2:-0}"); do
    total=$((total + 16#$h))
  done
  echo "$total"
}

"$bosai" keys root init --municipality 042021 --out root >/dev/null
b a init --node-id 042021-bench-a --municipality 042021 --root-key root/root.key >/dev/null
b b init --node-id 042021-bench-b --municipality 042021 --root-key root/root.key >/dev/null
residents=$((ops * 1000 / 2470))
"$bosai" gen residents --municipality 042021 --count "$residents" --seed 1 --out r.csv
b a resident import r.csv 2>/dev/null
n=$(total_ops a)

printf '[node]\ndata_dir = "a"\n[sync]\nlisten = "127.0.0.1:0"\n' > a.toml
"$bosai" serve --config a.toml 2> a.log &
daemon=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' a/sync-status.json 2>/dev/null || true)
  [ -n "$port" ] && [ "$port" != 0 ] && break
  sleep 0.1
done

# Baseline: A's database through an LZ4 pipe over a local TCP socket.
sqlite3 a/bosai.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cat a/bosai.db > /dev/null
# The receiver listens on a free port: one another program holds makes nc fail at once, and
# another is tried (the copy must not go to some other listener).
receiver=""
for _ in $(seq 1 20); do
  bport=$((20000 + RANDOM % 20000))
  { nc -l 127.0.0.1 "$bport" 2>/dev/null | lz4 -d -q > copy.db 2>/dev/null; } &
  receiver=$!
  sleep 0.2
  kill -0 "$receiver" 2>/dev/null && break
  receiver=""
done
[ -n "$receiver" ] || { echo "sync_bench: no free port for the baseline's receiver" >&2; exit 1; }
t0=$(now)
for _ in $(seq 1 50); do lz4 -c -q a/bosai.db | nc -N 127.0.0.1 "$bport" 2>/dev/null && break; sleep 0.05; done
wait "$receiver"
t1=$(now)
baseline=$(echo "$t1 - $t0" | bc -l)
cmp -s copy.db a/bosai.db || { echo "sync_bench: the baseline copy differs" >&2; exit 1; }

# initial
raw=$(raw_bytes a)
t0=$(now)
/usr/bin/time -f "%M" -o rss.txt "$bosai" --data-dir b --json sync now "127.0.0.1:$port" > initial.json
t1=$(now)
seconds=$(echo "$t1 - $t0" | bc -l)
[ "$(total_ops b)" = "$n" ] || { echo "sync_bench: B holds $(total_ops b) of $n ops" >&2; exit 1; }
wire=$(( $(num bytes_sent < initial.json) + $(num bytes_received < initial.json) ))
printf '{"bench":"sync","scenario":"initial","ops":%d,"seconds":%.3f,"ops_per_s":%.0f,"wire_bytes":%d,"raw_op_bytes":%d,"wire_per_raw":%.3f,"baseline_seconds":%.3f,"ratio":%.2f,"peak_rss_mb":%d}\n' \
  "$n" "$seconds" "$(echo "$n / $seconds" | bc -l)" "$wire" "$raw" "$(echo "$wire / $raw" | bc -l)" \
  "$baseline" "$(echo "$seconds / $baseline" | bc -l)" "$(( $(tail -1 rss.txt) / 1024 ))"

# incremental: 1% of the residents changed on each side while apart (A's daemon keeps running
# but B is not connected; B changes through a register re-import of other rows).
step=100
awk -F, -v OFS=, -v s=$step 'NR > 1 && (NR % s) == 0 { $12 = "0225-00-" sprintf("%04d", NR % 10000) } { print }' r.csv > ra.csv
awk -F, -v OFS=, -v s=$step 'NR > 1 && (NR % s) == 50 { $10 = $10 "の2" } { print }' r.csv > rb.csv
last_a=$(sqlite3 a/bosai.db "select coalesce(max(id),0) from blocks")
last_b=$(sqlite3 b/bosai.db "select coalesce(max(id),0) from blocks")
b a resident import ra.csv 2>/dev/null
b b resident import rb.csv 2>/dev/null
changed=$(( $(sqlite3 a/bosai.db "select coalesce(sum(length(data)),0) from blocks where id > $last_a") +
            $(sqlite3 b/bosai.db "select coalesce(sum(length(data)),0) from blocks where id > $last_b") ))
changed_ops=$(( $(total_ops a) - n + $(total_ops b) - n ))
b b --json sync now "127.0.0.1:$port" > inc.json
wire=$(( $(num bytes_sent < inc.json) + $(num bytes_received < inc.json) ))
[ "$(b a state hash)" = "$(b b state hash)" ] || { echo "sync_bench: not converged" >&2; exit 1; }
printf '{"bench":"sync","scenario":"incremental","changed_ops":%d,"wire_bytes":%d,"changed_op_bytes":%d,"ratio":%.3f}\n' \
  "$changed_ops" "$wire" "$changed" "$(echo "$wire / $changed" | bc -l)"

# noop
b b --json sync now "127.0.0.1:$port" > noop.json
wire=$(( $(num bytes_sent < noop.json) + $(num bytes_received < noop.json) ))
frames_out=$(num frames_sent < noop.json)
frames_in=$(num frames_received < noop.json)
# Hello both ways, then each side's caught_up marker answers the other's Hello: one round trip
# when each side received exactly the peer's Hello and caught_up (no Blocks, no Ack).
rt=$(( frames_in == 2 && frames_out == 2 ? 1 : frames_in ))
printf '{"bench":"sync","scenario":"noop","wire_bytes":%d,"frames_sent":%d,"frames_received":%d,"round_trips":%d}\n' \
  "$wire" "$frames_out" "$frames_in" "$rt"

# carried
b c init --node-id 042021-bench-c --municipality 042021 --root-key root/root.key >/dev/null
b d init --node-id 042021-bench-d --municipality 042021 --root-key root/root.key >/dev/null
all=$(total_ops a)
b c sync vector --out c.vec >/dev/null
b a sync export --vector c.vec --out ac.bundle >/dev/null
t0=$(now)
/usr/bin/time -f "%M" -o rss_bundle.txt "$bosai" --data-dir c sync import ac.bundle >/dev/null
t1=$(now)
bundle_seconds=$(echo "$t1 - $t0" | bc -l)
[ "$(total_ops c)" = "$all" ] || { echo "sync_bench: C holds $(total_ops c) of $all ops" >&2; exit 1; }
b a backup --out a.bak >/dev/null 2>&1
t0=$(now)
/usr/bin/time -f "%M" -o rss_lost.txt "$bosai" --data-dir d restore a.bak --from-lost-node >/dev/null
t1=$(now)
lost_seconds=$(echo "$t1 - $t0" | bc -l)
[ "$(b d state hash)" = "$(b a state hash)" ] || { echo "sync_bench: D differs from A" >&2; exit 1; }
printf '{"bench":"sync","scenario":"carried","ops":%d,"bundle_seconds":%.3f,"bundle_ratio":%.2f,"bundle_peak_rss_mb":%d,"lost_node_seconds":%.3f,"lost_node_ratio":%.2f,"lost_node_peak_rss_mb":%d,"baseline_seconds":%.3f}\n' \
  "$all" "$bundle_seconds" "$(echo "$bundle_seconds / $baseline" | bc -l)" "$(( $(tail -1 rss_bundle.txt) / 1024 ))" \
  "$lost_seconds" "$(echo "$lost_seconds / $baseline" | bc -l)" "$(( $(tail -1 rss_lost.txt) / 1024 ))" "$baseline"
