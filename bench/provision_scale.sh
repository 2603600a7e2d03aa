#!/usr/bin/env bash
# Benchmark 3, classroom scale: N fresh seats (one student each) provisioned
# by ONE ansible-playbook run of playbooks/workstations.yml from this control
# node (forks = 25 in ansible.cfg). No shared uv cache: every seat downloads
# what it needs, as separate machines would. Two modes:
#   no_cache: seats fetch from the Debian archive and the package index;
#   cache:    a fresh bench-prov-cache container, provisioned cold with
#             playbooks/package_cache.yml (group package_caches) for each N;
#             the seats find it as a lab does (inventory/group_vars:
#             lab_package_cache_host, here the cache's address): apt, pip and
#             uv go through it, and the course lock is installed through it.
# Bytes are eth0 counters of the containers, all on one podman network of
# this script. Downloaded from outside the lab:
#   no_cache: sum of the seats' rx;
#   cache:    (cache rx - seats' tx: what the cache fetched upstream)
#             + max(0, seats' rx - cache tx: what the seats fetched past it).
# The cache's own installation is counted apart (cache_provision_*).
# Each round then runs workstations.yml a second time on the same seats: the
# re-run cost of a classroom (wall time, per seat, changed count).
# BENCH_SCALE_NO_CACHE / BENCH_SCALE_CACHE: the seat counts (default "1"
# and "1 4 8"; an empty list skips the mode). Without the cache every seat
# downloads the same (4 seats: 4.00x one seat's bytes, measured), so the
# default leaves N > 1 out to keep `make bench` within its time;
# BENCH_SCALE_NO_CACHE="1 4" adds it (about 6 minutes).
# BENCH_SCALE_ONE_SEAT: a file with the one-seat no-cache figures of an
# identical run (bench/provision.sh passes the cold run of
# bench/provision_cold.sh), to save that round.
# Writes bench/results/provision_scale.{csv,md}, the top tasks and time per
# role of the largest round with the cache (provision_scale_{tasks,roles}.*)
# and the logs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

no_cache_counts=${BENCH_SCALE_NO_CACHE-1}
cache_counts=${BENCH_SCALE_CACHE-1 4 8}
cache=bench-prov-cache

csv=$BENCH_RESULTS/provision_scale.csv
echo "mode,seats,wall_time_s,wall_ratio_vs_1_seat_same_mode,seats_rx_MB,seats_tx_MB,cache_rx_MB,cache_tx_MB,downloaded_from_outside_MB,downloaded_ratio_vs_1_seat_same_mode,wall_ratio_vs_1_seat_no_cache,downloaded_ratio_vs_1_seat_no_cache,downloaded_per_seat_MB,changed_tasks,failed_or_unreachable_hosts,seats_cpu_s,machine_cpu_s,machine_iowait_s,cpu_bound_floor_s,wall_ratio_vs_floor,cache_provision_s,cache_provision_rx_MB,rerun_wall_time_s,rerun_s_per_seat,rerun_changed_tasks,target,target_met,source" >"$csv"

# one_round MODE N: boots N seats (and the cache), provisions, measures,
# removes them; appends a row to the CSV.
declare -A first_wall first_bytes
one_round() {
  local mode=$1 n=$2 i seats=() specs=() dir
  local cache_wall="" cache_rx_own="" srx0 stx0 crx0=0 ctx0=0 srx stx crx=0 ctx=0
  local rerun_wall="" rerun_changed="" cpu0 cpu floor machine0 busy iowait
  local outside wall changed bad ratio bytes_ratio ratio_nc bytes_ratio_nc target="" met=""
  bench_scratch dir
  export BENCH_FACTS=$dir/facts
  for ((i = 1; i <= n; i++)); do
    seats+=("bench-prov-seat$i")
  done
  bench_log "scale: $mode, $n seat(s): starting containers"
  if [[ $mode == cache ]]; then
    bench_start "$cache" "${seats[@]}"
    bench_inventory "$dir" --cache "$cache"
    bench_log "scale: $mode, $n seat(s): provisioning $cache (cold)"
    crx0=$(bench_counter "$cache" rx)
    if ! bench_playbook "$BENCH_LOGS/provision_scale_${mode}_${n}_cache.json" "$dir/hosts.yml" \
      playbooks/package_cache.yml; then
      echo "$mode,$n,,,,,,,,,,,,,,,,,,,$BENCH_WALL,,,,,,,provisioning the cache failed" >>"$csv"
      bench_remove "$cache" "${seats[@]}"
      return 0
    fi
    cache_wall=$BENCH_WALL
    cache_rx_own=$(($(bench_counter "$cache" rx) - crx0))
  else
    bench_start "${seats[@]}"
  fi
  for ((i = 1; i <= n; i++)); do
    specs+=("${seats[i - 1]}:student$i")
  done
  # With the cache, the seats use it (lab_package_cache_host: its address).
  if [[ $mode == cache ]]; then
    bench_inventory "$dir" --cache "$cache" "${specs[@]}"
    crx0=$(bench_counter "$cache" rx)
    ctx0=$(bench_counter "$cache" tx)
  else
    bench_inventory "$dir" "${specs[@]}"
  fi
  srx0=$(bench_counters_sum rx "${seats[@]}")
  cpu0=$(bench_cpu_sum "${seats[@]}")
  machine0=$(bench_machine_cpu)
  stx0=$(bench_counters_sum tx "${seats[@]}")

  bench_log "scale: $mode, $n seat(s): workstations.yml"
  bench_playbook "$BENCH_LOGS/provision_scale_${mode}_${n}.json" "$dir/hosts.yml" \
    playbooks/workstations.yml || true
  wall=$BENCH_WALL
  # The seats' own CPU (dpkg, pip, uv, python); the whole machine's (seats,
  # cache, the control node's ansible-playbook); the least wall time this
  # machine's cores allow for the latter.
  cpu=$(awk -v a="$cpu0" -v b="$(bench_cpu_sum "${seats[@]}")" 'BEGIN { printf "%.1f", b - a }')
  read -r busy iowait < <(awk -v a="$machine0" -v b="$(bench_machine_cpu)" \
    'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.1f %.1f\n", y[1] - x[1], y[2] - x[2] }')
  floor=$(bench_div "$busy" "$(nproc)" 1)
  changed=$(bench_recap_field changed)
  bad=$(($(bench_recap_field failed) + $(bench_recap_field unreachable)))
  srx=$(($(bench_counters_sum rx "${seats[@]}") - srx0))
  stx=$(($(bench_counters_sum tx "${seats[@]}") - stx0))
  if [[ $mode == cache ]]; then
    crx=$(($(bench_counter "$cache" rx) - crx0))
    ctx=$(($(bench_counter "$cache" tx) - ctx0))
    outside=$(awk -v crx="$crx" -v stx="$stx" -v srx="$srx" -v ctx="$ctx" \
      'BEGIN { up = crx - stx; past = srx - ctx; if (up < 0) up = 0; if (past < 0) past = 0; printf "%d", up + past }')
  else
    outside=$srx
  fi
  if [[ $bad -eq 0 ]]; then
    bench_log "scale: $mode, $n seat(s): workstations.yml again (re-run)"
    if bench_playbook "$BENCH_LOGS/provision_scale_${mode}_${n}_rerun.json" "$dir/hosts.yml" \
      playbooks/workstations.yml; then
      rerun_wall=$BENCH_WALL
      rerun_changed=$(bench_recap_field changed)
    fi
  fi
  [[ -n ${first_wall[$mode]:-} ]] || {
    first_wall[$mode]=$wall
    first_bytes[$mode]=$outside
  }
  ratio=$(bench_div "$wall" "${first_wall[$mode]}")
  bytes_ratio=$(bench_div "$outside" "${first_bytes[$mode]}")
  ratio_nc=$(bench_div "$wall" "${first_wall[no_cache]:-0}")
  bytes_ratio_nc=$(bench_div "$outside" "${first_bytes[no_cache]:-0}")
  if [[ $mode == cache && $n -gt 1 ]]; then
    target="wall <= 2.00x and downloaded <= 1.50x of 1 seat"
    met=$(awk -v r="$ratio" -v b="$bytes_ratio" -v bad="$bad" \
      'BEGIN { print (r <= 2 && b <= 1.5 && bad == 0) ? "yes" : "no" }')
  fi
  echo "$mode,$n,$wall,$ratio,$(bench_mb "$srx"),$(bench_mb "$stx"),$(bench_mb "$crx"),$(bench_mb "$ctx"),$(bench_mb "$outside"),$bytes_ratio,$ratio_nc,$bytes_ratio_nc,$(bench_mb "$((outside / n))"),$changed,$bad,$cpu,$busy,$iowait,$floor,$(bench_div "$wall" "$floor"),$cache_wall,${cache_rx_own:+$(bench_mb "$cache_rx_own")},$rerun_wall,${rerun_wall:+$(bench_div "$rerun_wall" "$n" 1)},$rerun_changed,$target,$met,measured here" >>"$csv"
  bench_log "scale: $mode, $n seat(s): ${wall}s, $(bench_mb "$outside") MB from outside, failed/unreachable hosts: $bad"
  if [[ $mode == cache ]]; then
    bench_remove "$cache" "${seats[@]}"
  else
    bench_remove "${seats[@]}"
  fi
}

# one_round_from MODE FILE: the one-seat row from an identical run made
# elsewhere (bench/provision_cold.sh: "wall rx tx changed failed").
one_round_from() {
  local mode=$1 wall rx tx changed bad
  read -r wall rx tx changed bad <"$2"
  first_wall[$mode]=$wall
  first_bytes[$mode]=$rx
  echo "$mode,1,$wall,1.00,$(bench_mb "$rx"),$(bench_mb "$tx"),0.0,0.0,$(bench_mb "$rx"),1.00,1.00,1.00,$(bench_mb "$rx"),$changed,$bad,,,,,,,,,,,,,(the cold Ansible run of provision_cold.sh)" >>"$csv"
  bench_log "scale: $mode, 1 seat: taken from provision_cold.sh (${wall}s)"
}

for n in $no_cache_counts; do
  if [[ $n == 1 && -s ${BENCH_SCALE_ONE_SEAT:-} ]]; then
    one_round_from no_cache "$BENCH_SCALE_ONE_SEAT"
  else
    one_round no_cache "$n"
  fi
done
if [[ -n $cache_counts ]]; then
  if [[ ! -f $BENCH_ROOT/playbooks/package_cache.yml ]]; then
    bench_log "scale: no playbooks/package_cache.yml yet; cache mode skipped"
  else
    for n in $cache_counts; do
      one_round cache "$n"
    done
  fi
fi

largest=""
for n in $cache_counts; do
  [[ ! -s $BENCH_LOGS/provision_scale_cache_$n.json ]] || largest=$n
done
if [[ -n $largest ]]; then
  bench_tasks "$BENCH_LOGS/provision_scale_cache_$largest.json" provision_scale \
    "Where the time of $largest seats with the cache goes"
fi

python3 "$BENCH_ROOT/bench/report.py" table --csv "$csv" --md "$BENCH_RESULTS/provision_scale.md" \
  --title "Classroom scale: N seats in one ansible-playbook run (forks 25), one student per seat" \
  --note "downloaded_from_outside: no_cache = seats' rx; cache = (cache rx - seats' tx) + max(0, seats' rx - cache tx). Bytes are eth0 counters (apt + package index + anything else). The cache's own installation is in cache_provision_*, not in downloaded_from_outside. seats_cpu_s: CPU seconds the seats' containers used during the run; machine_cpu_s: the whole machine's (seats, cache, control node; /proc/stat); cpu_bound_floor_s = machine_cpu_s / this machine's cores, the least wall time possible here. Each seat's venv is about 0.9 GB on disk; the seats share this machine's 2 cores and disk."
