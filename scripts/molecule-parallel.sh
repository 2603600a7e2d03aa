#!/usr/bin/env bash
# Runs `molecule test` for each scenario given, at most JOBS at a time
# (default 2). The scenarios share nothing but the images and the servers'
# root-only uv cache (uv locks it), and much of each run waits on the
# network, so two at a time take about two thirds of the time of one after
# the other. Each scenario's output goes to .cache/molecule/<scenario>.log
# and is printed whole when it ends, so logs never interleave.
#   scripts/molecule-parallel.sh toolchain mlops_course ...
set -o pipefail
cd "$(dirname "$0")/.." || exit 1
jobs=${JOBS:-2}
logs=.cache/molecule
mkdir -p "$logs"

declare -A started status
# molecule looks for a scenario named "default" to share state with and,
# finding none (this project has none by design), logs a CRITICAL "glob
# failed" line before going on; that line alone is dropped from the log.
run() {
  local scenario=$1
  started[$scenario]=$SECONDS
  (molecule test -s "$scenario" 2>&1 \
    | grep --line-buffered -v "^CRITICAL 'molecule/default/molecule.yml' glob failed" >"$logs/$scenario.log") &
  pids[$!]=$scenario
}
report() {
  local pid=$1 rc=$2 scenario=${pids[$1]}
  status[$scenario]=$rc
  echo "===== molecule test -s $scenario: exit $rc after $((SECONDS - started[$scenario])) s ====="
  cat "$logs/$scenario.log"
  unset "pids[$pid]"
}

declare -A pids
for scenario in "$@"; do
  while [ "${#pids[@]}" -ge "$jobs" ]; do
    wait -n -p done_pid; rc=$?
    report "$done_pid" "$rc"
  done
  run "$scenario"
done
while [ "${#pids[@]}" -gt 0 ]; do
  wait -n -p done_pid; rc=$?
  report "$done_pid" "$rc"
done

failed=0
echo "===== scenarios ====="
for scenario in "$@"; do
  echo "$scenario: $([ "${status[$scenario]}" -eq 0 ] && echo passed || echo "FAILED (exit ${status[$scenario]})")"
  [ "${status[$scenario]}" -eq 0 ] || failed=1
done
exit "$failed"
