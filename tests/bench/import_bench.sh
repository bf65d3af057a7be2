#!/usr/bin/env bash
# Import benchmark (issue: foundation). Generates N synthetic residents, then times, in the same
# run, `sqlite3 .import` of the CSV into a plain table (the baseline), `bosai resident import`
# into a fresh node, and a re-import of the next register: the same file with every 100th
# resident's address changed, and `bosai doctor` on the result, against SQLite's own
# `PRAGMA integrity_check` of the same file (part of what doctor does). Prints one JSON line:
#   {"bench":"import","rows":N,"seconds":S,"baseline_seconds":B,"ratio":S/B,"csv_bytes":C,
#    "db_bytes":D,"db_per_csv":D/C,"op_log_bytes":L,"body_bytes":Y,"peak_rss_mb":M,
#    "cpu_seconds":U,"records":K,"key_bytes":KB,"clock_bytes":CB,
#    "baseline_db_bytes":E,"pages":{"blocks":P1,"records":P2,"record_keys":P3,"record_index":P4},
#    "reimport":{"seconds":R,"ratio":R/B,"changed":K,"peak_rss_mb":Q},
#    "reimport_shuffled":{"seconds":R,"ratio":R/B,"changed":K,"peak_rss_mb":Q},
#    "doctor":{"seconds":T,"integrity_check_seconds":I,"ratio":T/I,"peak_rss_mb":P},
#    "export":{"seconds":X,"baseline_seconds":Z,"ratio":X/Z,"peak_rss_mb":Q},
#    "backup":{"seconds":W,"baseline_seconds":V,"ratio":W/V,"bytes":F,"restore_seconds":Y,
#              "restore_ratio":Y/V,"sealed_seconds":Z,"sealed_ratio":Z/V,
#              "sealed_restore_seconds":U,"sealed_restore_ratio":U/V}}
# where cpu_seconds is the import's user and system time (against `seconds`, how much of two
# cores it kept busy), records the records it made (residents and households), key_bytes and
# clock_bytes the bytes of their keys and clocks in `records` (part of D beside the bodies),
# op_log_bytes the stored size of the signed, compressed op-log blocks (part of D),
# body_bytes the stored size of the current record bodies (part of D), baseline_db_bytes the size
# of the baseline's database (the CSV's values in a plain table) and pages the bytes of the
# database's pages by table or index (SQLite's dbstat), the rest of D being small tables and free
# pages. The re-import is a three-way update of a node that holds the first file; the shuffled
# re-import, one of a register whose rows come in another order. The backup, run last, against
# `sqlite3 .backup` of the same store, and its restore against the same baseline; the same
# sealed with a passphrase.
# Usage: import_bench.sh BOSAI_BIN [--count N] [--seed S]
set -euo pipefail
bosai=${1:?usage: import_bench.sh BOSAI_BIN [--count N]}
shift
count=1000000
seed=1
while [ $# -gt 0 ]; do
  case $1 in
    --count) count=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    *) echo "import_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d "${TMPDIR:-/tmp}/bosai-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

now() { date +%s.%N; }
"$bosai" gen residents --municipality 042021 --count "$count" --seed "$seed" --out r.csv
csv_bytes=$(stat -c %s r.csv)
cat r.csv > /dev/null  # both runs read a warm page cache

t0=$(now)
sqlite3 base.db ".mode csv" ".import r.csv residents"
t1=$(now)
baseline=$(echo "$t1 - $t0" | bc -l)

"$bosai" --data-dir node init --node-id 042021-bench --municipality 042021 > /dev/null
t0=$(now)
/usr/bin/time -f "%M %U %S" -o rss.txt "$bosai" --data-dir node resident import r.csv 2> import.log
t1=$(now)
seconds=$(echo "$t1 - $t0" | bc -l)
grep -q "imported $count," import.log || { cat import.log >&2; exit 1; }
db_bytes=0
for f in node/bosai.db node/bosai.db-wal; do
  [ -f "$f" ] && db_bytes=$((db_bytes + $(stat -c %s "$f")))
done
read -r rss_kb user_s sys_s < <(tail -1 rss.txt)
cpu_seconds=$(echo "$user_s + $sys_s" | bc -l)
read -r records key_bytes clock_bytes < <(sqlite3 -separator ' ' node/bosai.db \
  "select count(*), sum(length(cast(key as blob))), sum(length(clock)) from records")
op_log_bytes=$(sqlite3 node/bosai.db "select coalesce(sum(length(data)), 0) from blocks")
baseline_db_bytes=$(stat -c %s base.db)
pages() { sqlite3 node/bosai.db "select coalesce(sum(pgsize), 0) from dbstat where name = '$1'"; }
body_bytes=$(sqlite3 node/bosai.db "select coalesce(sum(length(body)), 0) from records")
pages_json=$(printf '{"blocks":%d,"records":%d,"record_keys":%d,"record_index":%d}' \
  "$(pages blocks)" "$(pages records)" "$(pages record_keys)" "$(pages record_index)")

# Re-imports FILE (a register in which every 100th resident has moved) into the node: its JSON
# object, seconds against the baseline's.
reimport_json() {
  local t0 t1 seconds changed
  t0=$(now)
  /usr/bin/time -f "%M" -o "$1.rss" "$bosai" --data-dir node resident import "$1" 2> "$1.log"
  t1=$(now)
  seconds=$(echo "$t1 - $t0" | bc -l)
  changed=$(sed -n 's/.*(\([0-9]*\) new or changed.*/\1/p' "$1.log")
  [ "$changed" = "$((count / 100))" ] || { cat "$1.log" >&2; exit 1; }
  printf '{"seconds":%.3f,"ratio":%.2f,"changed":%d,"peak_rss_mb":%d}' \
    "$seconds" "$(echo "$seconds / $baseline" | bc -l)" "$changed" "$(($(tail -1 "$1.rss") / 1024))"
}

# The next register: every 100th resident has moved.
awk -F, -v OFS=, 'NR > 1 && NR % 100 == 0 { $10 = $10 "改" } { print }' r.csv > r2.csv
reimport=$(reimport_json r2.csv)

t0=$(now)
sqlite3 node/bosai.db "PRAGMA integrity_check" | grep -qx ok
t1=$(now)
integrity=$(echo "$t1 - $t0" | bc -l)
t0=$(now)
/usr/bin/time -f "%M" -o rss3.txt "$bosai" --data-dir node doctor > doctor.log 2>&1 ||
  { cat doctor.log >&2; exit 1; }
t1=$(now)
doctor=$(echo "$t1 - $t0" | bc -l)
rss3_kb=$(tail -1 rss3.txt)

# Export of the register held (after the re-import: the next register), against `sqlite3` writing
# the baseline's plain table out as CSV. With My Number, the export is the next register, byte for
# byte, with the residents' status added.
t0=$(now)
sqlite3 base.db ".mode csv" ".headers on" ".output base-out.csv" "select * from residents"
t1=$(now)
export_baseline=$(echo "$t1 - $t0" | bc -l)
t0=$(now)
/usr/bin/time -f "%M" -o rss4.txt "$bosai" --data-dir node resident export --out out.csv \
  --reveal-my-number 2> export.log
t1=$(now)
export_seconds=$(echo "$t1 - $t0" | bc -l)
# (The export adds a 14th column, each resident's status: all 住民 here.)
cut -d, -f1-13 out.csv | cmp -s - r2.csv &&
  awk -F, 'NR == 1 { ok = $14 == "status" } NR > 1 && $14 != "住民" { ok = 0 } END { exit !ok }' out.csv ||
  { echo "import_bench: the export is not the register imported" >&2; exit 1; }
rss4_kb=$(tail -1 rss4.txt)
export_json=$(printf '{"seconds":%.3f,"baseline_seconds":%.3f,"ratio":%.2f,"peak_rss_mb":%d}' \
  "$export_seconds" "$export_baseline" "$(echo "$export_seconds / $export_baseline" | bc -l)" \
  "$((rss4_kb / 1024))")

# A register in another order than the first import's (sorted by address or by reading, as
# registers are exported too): every 100th resident from the 50th has moved, and the rows are
# shuffled (the same way each run). Each record is then read at random rather than in order.
awk -F, -v OFS=, 'NR > 1 && NR % 100 == 50 { $10 = $10 "移" } { print }' r2.csv > r3-sorted.csv
{ head -1 r3-sorted.csv; tail -n +2 r3-sorted.csv | shuf --random-source=<(yes); } > r3.csv
shuffled=$(reimport_json r3.csv)

# Backup of the node's store, against SQLite's own `.backup` of the same file; then its restore
# (SQLite's check of the file, the copy, and its putting back under a new epoch), against the
# same baseline. The restored node holds what it held.
hash_before=$("$bosai" --data-dir node state hash)
t0=$(now)
sqlite3 node/bosai.db ".backup base-backup.db"
t1=$(now)
backup_baseline=$(echo "$t1 - $t0" | bc -l)
t0=$(now)
"$bosai" --data-dir node backup --out node.bak > backup.log 2>&1
t1=$(now)
backup_seconds=$(echo "$t1 - $t0" | bc -l)
t0=$(now)
"$bosai" --data-dir node restore node.bak > restore.log
t1=$(now)
restore_seconds=$(echo "$t1 - $t0" | bc -l)
[ "$("$bosai" --data-dir node state hash)" = "$hash_before" ] ||
  { echo "import_bench: the restored node does not hold what it held" >&2; exit 1; }
# The same, sealed with a passphrase (Argon2id's key derivation, then the sealing of each chunk).
echo "a passphrase for the benchmark" > pass.txt
t0=$(now)
"$bosai" --data-dir node backup --out node.sealed --passphrase-file pass.txt > sealed.log
t1=$(now)
sealed_seconds=$(echo "$t1 - $t0" | bc -l)
t0=$(now)
"$bosai" --data-dir node restore node.sealed --passphrase-file pass.txt > unsealed.log
t1=$(now)
unsealed_seconds=$(echo "$t1 - $t0" | bc -l)
[ "$("$bosai" --data-dir node state hash)" = "$hash_before" ] ||
  { echo "import_bench: the node restored from a sealed backup does not hold what it held" >&2; exit 1; }
backup_json=$(printf '{"seconds":%.3f,"baseline_seconds":%.3f,"ratio":%.2f,"bytes":%d,"restore_seconds":%.3f,"restore_ratio":%.2f,"sealed_seconds":%.3f,"sealed_ratio":%.2f,"sealed_restore_seconds":%.3f,"sealed_restore_ratio":%.2f}' \
  "$backup_seconds" "$backup_baseline" "$(echo "$backup_seconds / $backup_baseline" | bc -l)" \
  "$(stat -c %s node.bak)" "$restore_seconds" "$(echo "$restore_seconds / $backup_baseline" | bc -l)" \
  "$sealed_seconds" "$(echo "$sealed_seconds / $backup_baseline" | bc -l)" \
  "$unsealed_seconds" "$(echo "$unsealed_seconds / $backup_baseline" | bc -l)")

doctor_json=$(printf '{"seconds":%.3f,"integrity_check_seconds":%.3f,"ratio":%.2f,"peak_rss_mb":%d}' \
  "$doctor" "$integrity" "$(echo "$doctor / $integrity" | bc -l)" "$((rss3_kb / 1024))")

printf '{"bench":"import","rows":%d,"seconds":%.3f,"baseline_seconds":%.3f,"ratio":%.2f,"csv_bytes":%d,"db_bytes":%d,"db_per_csv":%.2f,"op_log_bytes":%d,"body_bytes":%d,"peak_rss_mb":%d,"cpu_seconds":%.2f,"records":%d,"key_bytes":%d,"clock_bytes":%d,"baseline_db_bytes":%d,"pages":%s,"reimport":%s,"reimport_shuffled":%s,"doctor":%s,"export":%s,"backup":%s}\n' \
  "$count" "$seconds" "$baseline" "$(echo "$seconds / $baseline" | bc -l)" "$csv_bytes" "$db_bytes" \
  "$(echo "$db_bytes / $csv_bytes" | bc -l)" "$op_log_bytes" "$body_bytes" "$((rss_kb / 1024))" \
  "$cpu_seconds" "$records" "$key_bytes" "$clock_bytes" "$baseline_db_bytes" "$pages_json" "$reimport" \
  "$shuffled" "$doctor_json" "$export_json" "$backup_json"
