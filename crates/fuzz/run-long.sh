#!/usr/bin/env bash
# Long fuzz run over every target (see docs/fuzzing.md). Each target runs for FUZZ_ITERS
# inputs or FUZZ_SECS seconds, whichever ends first; logs and a summary go to $OUT.
# Usage: crates/fuzz/run-long.sh [ITERS] [SECS]     (defaults: 5000000 inputs, 600 s)
set -euo pipefail
cd "$(dirname "$0")/../.."
ITERS=${1:-5000000}
SECS=${2:-600}
OUT=${OUT:-target/fuzz-long}
mkdir -p "$OUT"
cargo test -p rubra-fuzz --tests --no-run
cargo test -p rubra-server --test fuzz_loaders --no-run
bin() { ls -t target/debug/deps/"$1"-* | grep -v '\.d$' | head -1; }
# target-test-name  binary
TARGETS="
fuzz_request_parser_default_limits fuzz_resp
fuzz_request_parser_small_limits fuzz_resp
fuzz_request_parser_unauthenticated fuzz_resp
fuzz_frame_reader fuzz_resp
fuzz_bus_decode fuzz_cluster
fuzz_bus_into_node fuzz_cluster
fuzz_nodes_conf fuzz_cluster
fuzz_restore_payload fuzz_persistence
fuzz_rdb_file fuzz_persistence
fuzz_aof_loader fuzz_loaders
fuzz_restore_into_keyspace fuzz_loaders
fuzz_config_file fuzz_loaders
"
echo "$TARGETS" | while read -r test b; do
  [ -z "$test" ] && continue
  echo "== $test"
  FUZZ_ITERS=$ITERS FUZZ_SECS=$SECS RUST_BACKTRACE=1 nice -n 10 "$(bin "$b")" --exact "$test" \
    --nocapture --test-threads=1 >"$OUT/$test.log" 2>&1 || echo "FAILED: $test (see $OUT/$test.log)"
  grep -h "^fuzz .*inputs" "$OUT/$test.log" || true
done | tee "$OUT/summary.txt"
