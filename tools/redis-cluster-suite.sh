#!/usr/bin/env bash
# Runs redis 7.0.15's own cluster tests (tests/cluster/tests/NN-*.tcl, driven by
# runtest-cluster) against rubra-server, or against Debian's redis-server for comparison.
# A finding tool, not a CI test: the suite is not ours and is not vendored here (the Redis
# tree is only read); each difference it shows gets our own test in crates/.
#
# The harness starts 20 instances itself as `src/redis-server CONFIGFILE` from the tree,
# so this script makes a private copy of the tree's test files (the tree itself is never
# written: others read it) and puts there a src/redis-server that execs the server under
# test with the harness's config file unchanged, src/redis-cli -> the system redis-cli.
# The harness has no port option: the copy's tests/instances.tcl gets BASE instead of its
# fixed 30000 (the bus ports are BASE+10000 and up).
#
# Usage: REDIS_SRC=/path/to/redis-7.0.15 tools/redis-cluster-suite.sh rubra|redis OUTDIR [TEST...]
#        e.g. tools/redis-cluster-suite.sh rubra /tmp/cs 00-base 28-cluster-shards
#        (no TEST: every tests/cluster/tests/*.tcl)
# Env:   REDIS_SRC  a redis 7.0.15 source tree (runtest-cluster, tests/; needs tclsh 8.6)
#        RUBRA_BIN  the server to test (default target/release/rubra-server)
#        REDIS_BIN  the reference server (default /usr/bin/redis-server)
#        BASE       the first instance port (default 25000; the harness probes upwards)
#        WORK       where the copy goes (default /tmp/redis-cluster-suite-<rubra|redis>)
#        TIMEOUT    seconds per test file (default 1200)
# Output: OUTDIR/<test>.log per test file, and OUTDIR/summary with one line per file:
#        runtest-cluster's exit code, the number of OK and FAILED tests, and whether the
#        file stopped on an exception ("caught an error").
# Run the rubra and the redis pass with different BASE (and WORK) to run them at once.
set -uo pipefail
cd "$(dirname "$0")/.."
who=${1:?rubra or redis}
out=$(realpath -m "${2:?output directory}")
shift 2
: "${REDIS_SRC:?set REDIS_SRC to a redis 7.0.15 source tree}"
case "$who" in
  rubra) server=$(realpath "${RUBRA_BIN:-target/release/rubra-server}") ;;
  redis) server=${REDIS_BIN:-/usr/bin/redis-server} ;;
  *) echo "first argument: rubra or redis" >&2; exit 2 ;;
esac
BASE=${BASE:-25000}
WORK=${WORK:-/tmp/redis-cluster-suite-$who}
TIMEOUT=${TIMEOUT:-1200}
mkdir -p "$out"

# The private copy: runtest-cluster and tests/ (small), a wrapper and tools in src/.
rm -rf "$WORK"
mkdir -p "$WORK/src"
cp -a "$REDIS_SRC/runtest-cluster" "$REDIS_SRC/tests" "$WORK/" || exit 1
[ -d "$REDIS_SRC/src/modules" ] && cp -a "$REDIS_SRC/src/modules" "$WORK/src/"
sed -i "s/^set ::redis_base_port [0-9]*/set ::redis_base_port $BASE/" "$WORK/tests/instances.tcl"
rm -rf "$WORK/tests/cluster/tmp" && mkdir -p "$WORK/tests/cluster/tmp"
printf '#!/bin/sh\nexec %q "$@"\n' "$server" >"$WORK/src/redis-server"
chmod +x "$WORK/src/redis-server"
ln -sf "$(command -v redis-cli)" "$WORK/src/redis-cli"
ln -sf "$(command -v redis-benchmark)" "$WORK/src/redis-benchmark"

cd "$WORK" || exit 1
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=($(cd tests/cluster/tests && ls *.tcl | sed 's/\.tcl$//'))
for t in "${tests[@]}"; do
  log="$out/$t.log"
  timeout "$TIMEOUT" ./runtest-cluster --single "$t" >"$log" 2>&1
  rc=$?
  ok=$(grep -c 'OK.\[0m$\|: OK$' "$log")
  failed=$(grep -c 'FAILED' "$log")
  exc=$(grep -q 'caught an error' "$log" && echo yes || echo no)
  echo "$t rc=$rc ok=$ok failed=$failed exception=$exc" >>"$out/summary"
  # A timed-out harness leaves its instances running: stop those of this copy only (their
  # working directory is under the copy's tmp/; redis-server chdirs into its instance dir).
  for p in $(pgrep -f "$(basename "$server")" 2>/dev/null); do
    case "$(readlink "/proc/$p/cwd" 2>/dev/null)" in
      "$WORK"/tests/cluster/tmp*) kill -9 "$p" ;;
    esac
  done
done
