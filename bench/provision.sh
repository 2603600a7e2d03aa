#!/usr/bin/env bash
# The provisioning benchmarks of issue 6, in sequence, never two at once:
#   1. bench/provision_cold.sh   cold provisioning vs the seed's Lab 1 by hand
#   2. bench/provision_rerun.sh  re-run cost on the seat that 1 converged
#   3. bench/provision_scale.sh  N seats in one run, without and with the lab
#                                package cache
# Run from anywhere; results in bench/results/provision*.{csv,md}, logs in
# bench/results/logs/. BENCH_PARTS="cold rerun scale" picks parts.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

parts=${BENCH_PARTS:-cold rerun scale}
bench_scratch state
runtime=$BENCH_RESULTS/provision_runtime.csv
echo "script,wall_time_s,exit_code" >"$runtime"

part() {
  local name=$1 start rc=0
  shift
  start=$(bench_now)
  env "$@" "$BENCH_ROOT/bench/provision_$name.sh" || rc=$?
  echo "bench/provision_$name.sh,$(bench_elapsed "$start"),$rc" >>"$runtime"
  return "$rc"
}

rc=0
for name in $parts; do
  case $name in
    cold)
      part cold "BENCH_KEEP_CONVERGED=$state" || rc=1
      # Removed here should the re-run not take it over.
      if [[ -s $state/container ]]; then
        BENCH_CONTAINERS+=("$(<"$state/container")")
      fi
      ;;
    rerun)
      if [[ $parts == *cold* && ! -s $state/container ]]; then
        bench_log "rerun skipped: the cold run converged no seat"
        echo "bench/provision_rerun.sh,,skipped" >>"$runtime"
        rc=1
      else
        part rerun "BENCH_CONVERGED_DIR=$state" || rc=1
      fi
      ;;
    scale) part scale "BENCH_SCALE_ONE_SEAT=$state/one_seat" || rc=1 ;;
    *)
      bench_log "unknown part $name (cold, rerun, scale)"
      rc=1
      ;;
  esac
done
total=$(awk -F, 'NR > 1 { s += $2 } END { printf "%.1f", s }' "$runtime")
echo "all parts,$total,$rc" >>"$runtime"
bench_table provision_runtime "Runtime of the provisioning benchmarks"
exit "$rc"
