#!/usr/bin/env bash
# The benchmarks, run small as part of the tests so that they keep working: each must succeed
# (their own checks: every row imported, the re-import's changes counted, sync converged) and
# print its JSON line with every figure. Their figures at this size mean nothing.
# Usage: smoke_test.sh BOSAI_BIN
set -euo pipefail
bosai=${1:?usage: smoke_test.sh BOSAI_BIN}
here=$(cd "$(dirname "$0")" && pwd)

check() {  # NAME LINE KEY...: every KEY is in LINE with a number
  local name=$1 line=$2
  shift 2
  echo "$line"
  for key in "$@"; do
    grep -Eq "\"$key\":[0-9.]+" <<< "$line" || { echo "smoke: $name lacks $key" >&2; exit 1; }
  done
}

import_line=$(bash "$here/import_bench.sh" "$bosai" --count 5000)
check import "$import_line" \
  rows seconds baseline_seconds ratio csv_bytes db_bytes db_per_csv op_log_bytes body_bytes \
  peak_rss_mb cpu_seconds key_bytes clock_bytes blocks records record_keys record_index changed \
  integrity_check_seconds
grep -Eq '"reimport_shuffled":\{"seconds":[0-9.]+,"ratio":[0-9.]+,"changed":50,' <<< "$import_line" ||
  { echo "smoke: import lacks reimport_shuffled" >&2; exit 1; }
grep -Eq '"backup":\{"seconds":[0-9.]+,"baseline_seconds":[0-9.]+,"ratio":[0-9.]+,"bytes":[0-9]+,"restore_seconds":[0-9.]+,"restore_ratio":[0-9.]+,"sealed_seconds":[0-9.]+,"sealed_ratio":[0-9.]+,"sealed_restore_seconds":[0-9.]+,"sealed_restore_ratio":[0-9.]+\}' <<< "$import_line" ||
  { echo "smoke: import lacks backup" >&2; exit 1; }
check sync "$(bash "$here/sync_bench.sh" "$bosai" --ops 20000 | tr '\n' ' ')" \
  seconds baseline_seconds ratio peak_rss_mb bundle_seconds bundle_ratio bundle_peak_rss_mb \
  lost_node_seconds lost_node_ratio lost_node_peak_rss_mb
