# shellcheck shell=bash
# Shared by bench/provision_*.sh: fresh systemd containers, their network
# counters, timed ansible-playbook runs and the result tables; the playbook
# runs and the log lines serve bench/mlflow_load.sh too. Sourced, never
# run. Containers are started and removed by bench/playbooks/containers.yml
# (the project's one container lifecycle); every one gets the bench-prov-
# prefix and the owner=bench-prov label; bench_cleanup removes the ones this
# script started. Inventories are written by bench/playbooks/write_inventory.yml.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_RESULTS=${BENCH_RESULTS:-$BENCH_ROOT/bench/results}
BENCH_LOGS=$BENCH_RESULTS/logs
BENCH_IMAGE=${BENCH_IMAGE:-localhost/mlops-lab/debian12:latest}
BENCH_NETWORK=${BENCH_NETWORK:-bench-prov-net}

# As `make bench` runs them, also when a script is run by hand: the
# project's podman settings (the containers' limits) and its venv's Ansible.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$BENCH_ROOT/molecule/containers.conf}"
case ":$PATH:" in
  *":$BENCH_ROOT/.venv/bin:"*) ;;
  *) export PATH="$BENCH_ROOT/.venv/bin:$PATH" ;;
esac

# Bounds: a task that hangs fails its host after BENCH_TASK_TIMEOUT seconds
# (the others go on); a whole ansible-playbook run stops after
# BENCH_PLAYBOOK_TIMEOUT seconds.
BENCH_TASK_TIMEOUT=${BENCH_TASK_TIMEOUT:-480}
BENCH_PLAYBOOK_TIMEOUT=${BENCH_PLAYBOOK_TIMEOUT:-1500}

# Containers and scratch directories this script made, removed on exit.
BENCH_CONTAINERS=()
BENCH_SCRATCH=()

mkdir -p "$BENCH_LOGS"

bench_log() {
  printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

bench_now() {
  date +%s.%N
}

# bench_elapsed START [END]: seconds, one decimal.
bench_elapsed() {
  awk -v a="$1" -v b="${2:-$(bench_now)}" 'BEGIN { printf "%.1f", b - a }'
}

# bench_div A B [DECIMALS]: A / B, or "" when B is 0.
bench_div() {
  awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b + 0 == 0) print ""; else printf "%.*f", d, a / b }'
}

# bench_mb BYTES: megabytes (10^6), one decimal.
bench_mb() {
  awk -v a="$1" 'BEGIN { printf "%.1f", a / 1000000 }'
}

# bench_scratch VAR: a new scratch directory (removed on exit) into VAR.
bench_scratch() {
  local __bench_scratch_dir
  __bench_scratch_dir=$(mktemp -d /tmp/bench-prov.XXXXXX)
  BENCH_SCRATCH+=("$__bench_scratch_dir")
  printf -v "$1" '%s' "$__bench_scratch_dir"
}

# bench_helper PLAYBOOK [ansible-playbook args...]: one of the helper
# playbooks of bench/playbooks/ on this machine, from the repository root;
# its output is appended to BENCH_LOGS/helpers.log, whose end is shown on
# failure. Untimed: it leaves BENCH_WALL and BENCH_RECAP alone.
bench_helper() {
  local playbook=$1 log=$BENCH_LOGS/helpers.log rc=0
  shift
  (
    cd "$BENCH_ROOT" &&
      ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 \
        ansible-playbook -i localhost, "bench/playbooks/$playbook" "$@"
  ) >>"$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    bench_log "bench/playbooks/$playbook failed (rc $rc), see $log; its end:"
    tail -n 30 "$log" >&2
  fi
  return "$rc"
}

# bench_containers present|absent NAME...: starts fresh systemd containers
# from BENCH_IMAGE on BENCH_NETWORK and waits for systemd (present), or
# removes them and then the network once no container uses it (absent;
# BENCH_KEEP_NETWORK=1 keeps it).
bench_containers() {
  local state=$1 names
  shift
  printf -v names '%s,' "$@"
  bench_helper containers.yml -e "bench_containers_state=$state" -e "bench_containers=${names%,}" \
    -e "bench_image=$BENCH_IMAGE" -e "bench_network=$BENCH_NETWORK" \
    -e "bench_keep_network=$([[ -n ${BENCH_KEEP_NETWORK:-} ]] && echo true || echo false)"
}

# bench_start NAME...: fresh systemd containers from BENCH_IMAGE on
# BENCH_NETWORK, nothing mounted (no shared uv cache), systemd booted.
bench_start() {
  BENCH_CONTAINERS+=("$@")
  bench_containers present "$@"
}

# bench_remove NAME...: remove containers (of this script) now.
bench_remove() {
  local name keep=()
  [[ $# -gt 0 && -z ${BENCH_DEBUG_KEEP:-} ]] || return 0
  bench_containers absent "$@"
  for name in "${BENCH_CONTAINERS[@]}"; do
    [[ " $* " == *" $name "* ]] || keep+=("$name")
  done
  BENCH_CONTAINERS=("${keep[@]}")
}

# The trap of every script: its containers, its scratch directories, and the
# network once no container uses it any more.
bench_cleanup() {
  local rc=$?
  if [[ -n ${BENCH_DEBUG_KEEP:-} ]]; then
    bench_log "BENCH_DEBUG_KEEP: left ${BENCH_CONTAINERS[*]} and ${BENCH_SCRATCH[*]}"
    return "$rc"
  fi
  if [[ ${#BENCH_CONTAINERS[@]} -gt 0 ]]; then
    bench_containers absent "${BENCH_CONTAINERS[@]}" || true
  fi
  if [[ ${#BENCH_SCRATCH[@]} -gt 0 ]]; then
    rm -rf "${BENCH_SCRATCH[@]}"
  fi
  return "$rc"
}

# bench_counter NAME rx|tx: the container's eth0 byte counter.
bench_counter() {
  podman exec "$1" cat "/sys/class/net/eth0/statistics/${2}_bytes"
}

# bench_counters_sum rx|tx NAME...: the sum over containers.
bench_counters_sum() {
  local kind=$1 name total=0
  shift
  for name in "$@"; do
    total=$((total + $(bench_counter "$name" "$kind")))
  done
  printf '%s\n' "$total"
}

# bench_cpu_sum NAME...: CPU seconds the containers have used (cgroup v1
# cpuacct, or v2 cpu.stat), one decimal.
bench_cpu_sum() {
  local name id ns total=0
  for name in "$@"; do
    id=$(podman inspect --format '{{.Id}}' "$name")
    if [[ -r /sys/fs/cgroup/cpuacct/libpod_parent/libpod-$id/cpuacct.usage ]]; then
      ns=$(<"/sys/fs/cgroup/cpuacct/libpod_parent/libpod-$id/cpuacct.usage")
    else
      ns=$(($(podman exec "$name" sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat) * 1000))
    fi
    total=$((total + ns))
  done
  awk -v t="$total" 'BEGIN { printf "%.1f", t / 1e9 }'
}

# bench_machine_cpu: "BUSY IOWAIT", CPU seconds of the whole machine so far
# (every process: seats, cache, the control node; /proc/stat), one decimal.
bench_machine_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {
    printf "%.1f %.1f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz, $6 / hz }' /proc/stat
}

# bench_inventory DIR [--cache NAME] [--ssh KEY] SEAT:STUDENT...: DIR/hosts.yml
# (bench/playbooks/write_inventory.yml), an inventory that also reads the
# project's inventory/group_vars (the lab-wide wiring). Everything
# bench-specific is a host variable, which wins over group_vars/all.
#   SEAT:STUDENT  a workstation and its one student (account made by the role)
#   --cache NAME  the package_caches host; the seats use it (its address)
#   --ssh KEY     the seats are reached over SSH as root with the private KEY,
#                 at their address on BENCH_NETWORK (else: podman)
bench_inventory() {
  local dir=$1 cache="" key="" seats
  shift
  while [[ $# -gt 0 ]]; do
    case $1 in
      --cache) cache=$2 ;;
      --ssh) key=$2 ;;
      *) break ;;
    esac
    shift 2
  done
  printf -v seats '%s,' "$@"
  mkdir -p "$dir"
  bench_helper write_inventory.yml -e "bench_inventory_dir=$dir" -e "bench_inventory_seats=${seats%,}" \
    -e "bench_inventory_cache=$cache" -e "bench_inventory_ssh_key=$key" -e "bench_network=$BENCH_NETWORK"
}

# bench_ssh NAME KEYDIR keep-lists|clean-lists: SSH access to a container as
# a real lab has it: sshd from Debian, a throw-away key (KEYDIR/id_ed25519,
# made once), root login with that key only. clean-lists leaves apt's lists
# and package cache empty again, as in a fresh container of the image.
bench_ssh() {
  local name=$1 keydir=$2 lists=$3
  [[ -f $keydir/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C bench-prov -f "$keydir/id_ed25519"
  podman exec --env "BENCH_LISTS=$lists" "$name" bash -c '
    set -e
    export DEBIAN_FRONTEND=noninteractive
    lists_mtime=$(stat -c %Y /var/lib/apt/lists)
    [ -n "$(ls /var/lib/apt/lists | grep -v -e ^lock -e ^partial)" ] || apt-get update -qq
    apt-get install -y -qq openssh-server >/dev/null
    if [ "$BENCH_LISTS" = clean-lists ]; then
      # As the image has them, mtime included: the apt module judges the
      # age of the lists (cache_valid_time) by it.
      apt-get clean
      rm -rf /var/lib/apt/lists/* /var/lib/apt/periodic/update-success-stamp
      touch -d "@$lists_mtime" /var/lib/apt/lists
    fi
    install -d -m 0700 /root/.ssh
    systemctl start ssh'
  podman cp "$keydir/id_ed25519.pub" "$name:/root/.ssh/authorized_keys"
  podman exec "$name" chown root:root /root/.ssh/authorized_keys
}

# bench_ssh_inventory DIR NAME STUDENT KEYDIR: DIR/hosts.yml, the one seat
# NAME reached over SSH (key KEYDIR/id_ed25519) at its address on the bench
# network.
bench_ssh_inventory() {
  bench_inventory "$1" --ssh "$4/id_ed25519" "$2:$3"
}

# bench_playbook LOG INVENTORY PLAYBOOK [ansible-playbook args...]: runs it
# from the repository root (so ansible.cfg applies). LOG (NAME.json) gets
# Ansible's JSON report (the ansible.posix.json callback: every task's start
# and end, each host's results, the recap), written when the run ends;
# NAME.log what it says on stderr. The fact cache is BENCH_FACTS, so that a
# fresh container never gets the facts of an earlier one of the same name.
# Sets BENCH_WALL (seconds) and BENCH_RECAP ("hosts ok changed unreachable
# failed calls"); on failure prints what failed; returns the playbook's exit code.
bench_playbook() {
  local log=$1 inventory=$2 playbook=$3 start rc=0
  shift 3
  start=$(bench_now)
  # ANSIBLE_CALLBACKS_ENABLED: not ansible.cfg's profile_tasks, which would
  # print after the report (the list may not be empty, and naming the stdout
  # callback adds nothing).
  (
    cd "$BENCH_ROOT" &&
      ANSIBLE_CACHE_PLUGIN_CONNECTION=${BENCH_FACTS:?} ANSIBLE_STDOUT_CALLBACK=ansible.posix.json \
        ANSIBLE_CALLBACKS_ENABLED=ansible.posix.json ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 \
        ANSIBLE_TASK_TIMEOUT=$BENCH_TASK_TIMEOUT timeout --kill-after 30 "$BENCH_PLAYBOOK_TIMEOUT" \
        ansible-playbook -i "$inventory" "$playbook" "$@"
  ) >"$log" 2>"${log%.json}.log" || rc=$?
  if [[ $rc -eq 124 ]]; then
    bench_log "ansible-playbook stopped after ${BENCH_PLAYBOOK_TIMEOUT}s (BENCH_PLAYBOOK_TIMEOUT)"
  fi
  # shellcheck disable=SC2034
  BENCH_WALL=$(bench_elapsed "$start")
  BENCH_RECAP=$(python3 "$BENCH_ROOT/bench/report.py" recap --log "$log")
  if [[ $rc -ne 0 ]]; then
    bench_log "ansible-playbook failed (rc $rc), see $log and ${log%.json}.log:"
    python3 "$BENCH_ROOT/bench/report.py" failures --log "$log" >&2
    tail -n 10 "${log%.json}.log" >&2
  fi
  return "$rc"
}

# bench_recap_field NAME: one field of BENCH_RECAP.
bench_recap_field() {
  local hosts ok changed unreachable failed calls
  read -r hosts ok changed unreachable failed calls <<<"$BENCH_RECAP"
  case $1 in
    hosts) printf '%s\n' "$hosts" ;;
    ok) printf '%s\n' "$ok" ;;
    changed) printf '%s\n' "$changed" ;;
    unreachable) printf '%s\n' "$unreachable" ;;
    failed) printf '%s\n' "$failed" ;;
    calls) printf '%s\n' "$calls" ;;
  esac
}

# bench_table NAME TITLE: prints bench/results/NAME.csv and writes NAME.md.
bench_table() {
  python3 "$BENCH_ROOT/bench/report.py" table --csv "$BENCH_RESULTS/$1.csv" \
    --md "$BENCH_RESULTS/$1.md" --title "$2"
}

# bench_tasks LOG NAME TITLE: top 10 tasks (NAME_tasks) and time per role
# (NAME_roles) of a playbook's JSON report (bench_playbook's LOG).
bench_tasks() {
  python3 "$BENCH_ROOT/bench/report.py" tasks --log "$1" --top 10 \
    --csv "$BENCH_RESULTS/$2_tasks.csv" --md "$BENCH_RESULTS/$2_tasks.md" \
    --roles-csv "$BENCH_RESULTS/$2_roles.csv" --roles-md "$BENCH_RESULTS/$2_roles.md" \
    --title "$3"
}
