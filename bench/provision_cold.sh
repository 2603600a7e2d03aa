#!/usr/bin/env bash
# Benchmark 1, cold workstation provisioning: identical fresh containers
# (the Debian 12 test image, empty uv cache, apt lists as the image has them,
# nothing mounted). In one, playbooks/workstations.yml for one student over
# the podman connection (the test lab's); in another, the same over SSH, as
# a real lab connects (sshd installed beforehand, untimed, apt lists emptied
# again; BENCH_COLD_SSH=0 skips it); in the last, the seed's Lab 1 by hand
# (bench/baseline_lab1.sh). One after the other, never at the same time: the
# baseline last, so that anything warmed upstream by the earlier runs can
# only favour it.
# Writes bench/results/provision_cold*.{csv,md} and the logs.
#
# BENCH_KEEP_CONVERGED=DIR keeps the converged Ansible container running for
# bench/provision_rerun.sh, with its inventory and fact cache in DIR, and
# writes DIR/one_seat (wall rx tx changed failed), which
# bench/provision_scale.sh takes as its one-seat run without cache, and
# DIR/cold_wall_CONNECTION (podman, ssh), which bench/provision_rerun.sh
# divides its re-runs by.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

ansible_seat=bench-prov-cold-ansible
ssh_seat=bench-prov-cold-ssh
baseline_seat=bench-prov-cold-baseline
student=student1
with_ssh=${BENCH_COLD_SSH:-1}

state=${BENCH_KEEP_CONVERGED:-}
[[ -n $state ]] || bench_scratch state
mkdir -p "$state"
export BENCH_FACTS=$state/facts
rm -rf "$BENCH_FACTS"
bench_inventory "$state" "$ansible_seat:$student"

seats=("$ansible_seat" "$baseline_seat")
[[ $with_ssh == 0 ]] || seats+=("$ssh_seat")
bench_log "cold: starting ${#seats[@]} fresh containers from $BENCH_IMAGE"
bench_start "${seats[@]}"
if [[ $with_ssh != 0 ]]; then
  bench_log "cold: sshd on $ssh_seat (not timed; apt lists emptied again)"
  bench_ssh "$ssh_seat" "$state" clean-lists
  bench_ssh_inventory "$state/ssh" "$ssh_seat" "$student" "$state"
fi

rows=()
# cold_ansible SEAT INVENTORY LABEL NAME CONNECTION: one timed run; sets
# ansible_wall, ansible_rx, ansible_tx, ansible_changed and adds a row.
cold_ansible() {
  local seat=$1 inventory=$2 label=$3 name=$4 connection=$5 rx0 tx0
  bench_log "cold: playbooks/workstations.yml on $seat ($label)"
  rx0=$(bench_counter "$seat" rx)
  tx0=$(bench_counter "$seat" tx)
  bench_playbook "$BENCH_LOGS/$name.json" "$inventory" playbooks/workstations.yml
  ansible_wall=$BENCH_WALL
  ansible_rx=$(($(bench_counter "$seat" rx) - rx0))
  ansible_tx=$(($(bench_counter "$seat" tx) - tx0))
  ansible_changed=$(bench_recap_field changed)
  rows+=("$label|$ansible_wall|$ansible_rx|$ansible_changed|$name")
  printf '%s\n' "$ansible_wall" >"$state/cold_wall_$connection"
  bench_log "cold: $label ${ansible_wall}s, changed=$ansible_changed"
}

if [[ $with_ssh != 0 ]]; then
  cold_ansible "$ssh_seat" "$state/ssh/hosts.yml" "ansible over SSH" provision_cold_ansible_ssh ssh
  bench_remove "$ssh_seat"
fi
# Last of the Ansible runs: this seat goes on to bench/provision_rerun.sh.
cold_ansible "$ansible_seat" "$state/hosts.yml" "ansible over podman" provision_cold_ansible podman

# The baseline installs the uv that the converged seat runs.
read -r _ uv_version _ < <(podman exec "$ansible_seat" uv --version)
bench_log "cold: bench/baseline_lab1.sh on $baseline_seat (uv $uv_version)"
podman cp "$BENCH_ROOT/bench/baseline_lab1.sh" "$baseline_seat:/root/baseline_lab1.sh"
rx0=$(bench_counter "$baseline_seat" rx)
start=$(bench_now)
if ! timeout --kill-after 30 "$BENCH_PLAYBOOK_TIMEOUT" podman exec "$baseline_seat" \
  bash /root/baseline_lab1.sh "$student" "$uv_version" \
  >"$BENCH_LOGS/provision_cold_baseline.log" 2>&1; then
  bench_log "the baseline failed, see $BENCH_LOGS/provision_cold_baseline.log; its end:"
  tail -n 30 "$BENCH_LOGS/provision_cold_baseline.log" >&2
  exit 1
fi
baseline_wall=$(bench_elapsed "$start")
baseline_rx=$(($(bench_counter "$baseline_seat" rx) - rx0))
bench_log "cold: baseline ${baseline_wall}s"
bench_remove "$baseline_seat"

csv=$BENCH_RESULTS/provision_cold.csv
{
  echo "run,what_it_does,wall_time_s,ratio_vs_baseline,downloaded_MB_container_rx,changed_tasks,target,target_met"
  echo "baseline: seed Lab 1 by hand,bench/baseline_lab1.sh (apt; pip uv; uv init; uv add x4; uv sync; dirs; .gitignore; git; .env; config.py),$baseline_wall,1.00,$(bench_mb "$baseline_rx"),,,"
} >"$csv"
for row in "${rows[@]}"; do
  IFS='|' read -r label wall rx changed _ <<<"$row"
  ratio=$(bench_div "$wall" "$baseline_wall")
  met=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.2) ? "yes" : "no" }')
  echo "$label: workstations.yml,\"lab_network, uv, python, mlops_course (account, project, git, uv sync --locked, sample data, pre-commit), git\",$wall,$ratio,$(bench_mb "$rx"),$changed,<= 1.20x baseline,$met" >>"$csv"
done
bench_table provision_cold "Cold provisioning of one seat, one student (fresh container, empty uv cache)"

python3 "$BENCH_ROOT/bench/report.py" phases --log "$BENCH_LOGS/provision_cold_baseline.log" \
  --csv "$BENCH_RESULTS/provision_cold_baseline_phases.csv"
bench_table provision_cold_baseline_phases "Where the baseline's time goes (bench/baseline_lab1.sh)"
bench_tasks "$BENCH_LOGS/provision_cold_ansible.json" provision_cold \
  "Where Ansible's cold run goes (podman connection)"
if [[ $with_ssh != 0 ]]; then
  bench_tasks "$BENCH_LOGS/provision_cold_ansible_ssh.json" provision_cold_ssh \
    "Where Ansible's cold run goes (SSH)"
fi

if [[ -n ${BENCH_KEEP_CONVERGED:-} ]]; then
  # Handed over to bench/provision_rerun.sh, which removes it.
  printf '%s\n' "$ansible_seat" >"$state/container"
  # The same measurement as one seat without cache in bench/provision_scale.sh.
  printf '%s\n' "$ansible_wall $ansible_rx $ansible_tx $ansible_changed 0" >"$state/one_seat"
  BENCH_CONTAINERS=()
fi
