#!/usr/bin/env bash
# Benchmark 2, re-run cost: playbooks/workstations.yml again on a converged
# seat (wall time, changed count, module calls that reached the seat, top 10
# tasks; against the cold run of the same connection in the same bench run,
# target 0.15x), over the podman connection
# of the test lab (plugins/connection/podman.py, which pipelines) and over
# SSH as a real lab connects, then the effect of the ansible.cfg settings on
# the same seat over SSH:
#   - as configured (pipelining on, facts cached in a jsonfile cache with
#     gathering = smart, so a re-run gathers no facts at all);
#   - pipelining off (ANSIBLE_PIPELINING=false);
#   - fact caching off (ANSIBLE_CACHE_PLUGIN=memory: full facts every run);
#   - fact caching off, minimal facts (ansible.cfg sets no gather_subset;
#     bench/playbooks/workstations_min_facts.yml gathers `min` only).
# and pipelining off over podman. Then the floor under every task: what one
# module call costs on each connection (bench/playbooks/transport_floor.yml).
# BENCH_RERUN_PODMAN_VARIANTS=1 adds fact cache off over podman;
# BENCH_RERUN_REPEAT=N runs every variant N times (3): single runs of 8-12 s
# swing by a quarter, so the target is checked on the median.
# The seat is the converged container of bench/provision_cold.sh when
# BENCH_CONVERGED_DIR names its directory (bench/provision.sh does that), and
# the cold times come from there; otherwise this script converges a fresh one
# first (not timed) and reports no ratio to cold.
# Writes bench/results/provision_rerun*.{csv,md} and the logs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

repeat=${BENCH_RERUN_REPEAT:-3}
state=${BENCH_CONVERGED_DIR:-}
if [[ -n $state && -s $state/container ]]; then
  seat=$(<"$state/container")
  BENCH_CONTAINERS+=("$seat")
  export BENCH_FACTS=$state/facts
  bench_log "rerun: on $seat, converged by provision_cold.sh"
else
  bench_scratch state
  seat=bench-prov-rerun
  export BENCH_FACTS=$state/facts
  bench_inventory "$state" "$seat:student1"
  bench_start "$seat"
  bench_log "rerun: converging $seat first (not timed)"
  bench_playbook "$BENCH_LOGS/provision_rerun_converge.json" "$state/hosts.yml" \
    playbooks/workstations.yml
fi

# SSH access to the same seat, for the SSH variants.
bench_log "rerun: enabling SSH on $seat for the SSH variants"
bench_ssh "$seat" "$state" keep-lists
bench_ssh_inventory "$state/ssh" "$seat" student1 "$state"

csv=$BENCH_RESULTS/provision_rerun.csv
echo "variant,connection,pipelining,fact_cache,facts_gathered,run,wall_time_s,ratio_vs_configured,cold_wall_time_s,ratio_vs_cold,changed_tasks,host_calls,ok_tasks" >"$csv"
configured=""

# variant NAME CONNECTION PIPELINING CACHE GATHERED INVENTORY PLAYBOOK
variant() {
  local name=$1 connection=$2 pipelining=$3 cache=$4 gathered=$5 inventory=$6 playbook=$7
  local run log changed calls ok ratio cold cold_ratio
  cold=$(cat "$state/cold_wall_$connection" 2>/dev/null || true)
  for ((run = 1; run <= repeat; run++)); do
    log=$BENCH_LOGS/provision_rerun_${name// /_}_$run.json
    bench_log "rerun: $name (run $run of $repeat)"
    ANSIBLE_PIPELINING=$pipelining ANSIBLE_CACHE_PLUGIN=$cache \
      bench_playbook "$log" "$inventory" "$playbook"
    changed=$(bench_recap_field changed)
    calls=$(bench_recap_field calls)
    ok=$(bench_recap_field ok)
    [[ -n $configured ]] || configured=$BENCH_WALL
    ratio=$(bench_div "$BENCH_WALL" "$configured")
    cold_ratio=""
    [[ -z $cold ]] || cold_ratio=$(bench_div "$BENCH_WALL" "$cold" 3)
    if [[ $name == "as configured" && $run -eq 1 ]]; then
      cp "$log" "$BENCH_LOGS/provision_rerun.json"
    fi
    echo "$name,$connection,$pipelining,$cache,$gathered,$run,$BENCH_WALL,$ratio,$cold,$cold_ratio,$changed,$calls,$ok" >>"$csv"
    bench_log "rerun: $name ${BENCH_WALL}s changed=$changed calls=$calls"
  done
}

# The settings are compared over SSH, as a real lab connects.
podman_inventory=$state/hosts.yml
ssh_inventory=$state/ssh/hosts.yml
variant "as configured" podman true jsonfile "none (cached)" "$podman_inventory" \
  playbooks/workstations.yml
variant "ssh as configured" ssh true jsonfile "none (cached)" "$ssh_inventory" \
  playbooks/workstations.yml
variant "ssh pipelining off" ssh false jsonfile "none (cached)" "$ssh_inventory" \
  playbooks/workstations.yml
variant "ssh fact cache off" ssh true memory "all (default subset)" "$ssh_inventory" \
  playbooks/workstations.yml
variant "ssh fact cache off + gather_subset min" ssh true memory "min" "$ssh_inventory" \
  bench/playbooks/workstations_min_facts.yml
variant "pipelining off" podman false jsonfile "none (cached)" "$podman_inventory" \
  playbooks/workstations.yml
if [[ -n ${BENCH_RERUN_PODMAN_VARIANTS:-} ]]; then
  variant "fact cache off" podman true memory "all (default subset)" "$podman_inventory" \
    playbooks/workstations.yml
fi

# The floor under every task: 25 calls of a module that does nothing.
floor=$BENCH_RESULTS/provision_rerun_floor.csv
echo "connection,pipelining,module_calls,wall_time_s,seconds_per_call" >"$floor"
for spec in "podman true $podman_inventory" "podman false $podman_inventory" "ssh true $ssh_inventory" "ssh false $ssh_inventory"; do
  read -r connection pipelining inventory <<<"$spec"
  bench_log "rerun: transport floor, $connection, pipelining $pipelining"
  ANSIBLE_PIPELINING=$pipelining bench_playbook \
    "$BENCH_LOGS/provision_rerun_floor_${connection}_$pipelining.json" "$inventory" \
    bench/playbooks/transport_floor.yml
  echo "$connection,$pipelining,25,$BENCH_WALL,$(bench_div "$BENCH_WALL" 25)" >>"$floor"
done

bench_table provision_rerun "Re-run of workstations.yml on a converged seat (one student): ansible.cfg settings"

# The target, on the median of the runs as configured over each connection.
target=$BENCH_RESULTS/provision_rerun_target.csv
echo "connection,cold_wall_time_s,reruns,rerun_median_s,ratio_vs_cold,host_calls,changed_tasks_max,target,target_met" >"$target"
for name in "as configured" "ssh as configured"; do
  awk -F, -v name="$name" '
    $1 == name { walls[++n] = $7; cold = $9; calls = $12; connection = $2
                 if ($11 > changed) changed = $11 }
    END {
      if (!n) exit
      # median: sort the walls (n is small)
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (walls[j] < walls[i]) { t = walls[i]; walls[i] = walls[j]; walls[j] = t }
      median = (n % 2) ? walls[(n + 1) / 2] : (walls[n / 2] + walls[n / 2 + 1]) / 2
      ratio = cold ? sprintf("%.3f", median / cold) : ""
      met = !cold ? "- (no cold run)" : (median / cold <= 0.15 && changed == 0) ? "yes" : "no"
      printf "%s,%s,%d,%.1f,%s,%s,%d,<= 0.15x cold and changed=0,%s\n", connection, cold, n, median, ratio, calls, changed, met
    }' "$csv" >>"$target"
done
bench_table provision_rerun_target \
  "Re-run vs cold provisioning of one seat, same bench run (median of the re-runs as configured)"
bench_table provision_rerun_floor \
  "What one module call costs (bench/playbooks/transport_floor.yml: 25 pings, no facts)"
bench_tasks "$BENCH_LOGS/provision_rerun.json" provision_rerun "Ansible re-run (as configured, podman connection)"
bench_tasks "$BENCH_LOGS/provision_rerun_ssh_as_configured_1.json" provision_rerun_ssh \
  "Ansible re-run over SSH (as configured)"
