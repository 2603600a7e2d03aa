#!/usr/bin/env bash
# The MLflow server under a classroom load (issue 6, item 4).
#
# Three identical systemd containers (localhost/mlops-lab/debian12), each with
# one port published on 127.0.0.1 only:
#   ours-sqlite      playbooks/mlflow_server.yml as the lab deploys it (lab
#                    group_vars: basic-auth on, its password checks cached
#                    for 60 s), with the students' accounts the role makes
#                    (20 accounts, EDIT on the class experiment)
#   ours-postgresql  the same with the role's local PostgreSQL backend
#   bare             the seed's `mlflow server --backend-store-uri sqlite:///mlflow.db
#                    --default-artifact-root ./artifacts --host 0.0.0.0 --port 5000`
# Then K=20 client processes on this machine make the starter experiment's
# calls against one server at a time (bench/mlflow_load.py), each student with
# their own account where auth is on, while the peak memory of the server's
# unit is sampled. When ours has a worse p95 than bare (or errors), or with
# BENCH_MLFLOW_EXTRA_ROWS=always, ours-sqlite is re-deployed by the role with
# one lever changed at a time and measured again, to show what dominates: the
# students' passwords with MLflow's own hash (lab_mlflow_password_hash ""), the
# auth cache off (mlflow_server_auth_cache_ttl_seconds 0, MLflow's default),
# 4 workers, uvicorn's own 40 threads per worker, basic-auth off, and sqlite
# without WAL.
# The MLflow version and worker count are read from the deployed servers.
# Output: tables on stdout (bench/report.py), bench/results/mlflow_load.{csv,md};
# each ansible-playbook run's JSON report in .cache/bench/mlflow/<step>.json.
# The containers are removed at the end, also after a failure.
#
# Run from anywhere: bench/mlflow_load.sh
# Settings (environment): BENCH_MLFLOW_CLIENTS (20), BENCH_MLFLOW_RUNS (runs per
# client, 1), BENCH_MLFLOW_POINTS (100), BENCH_MLFLOW_DEADLINE (s per server,
# 60), BENCH_MLFLOW_TIMEOUT (s per request, 30), BENCH_MLFLOW_PASSES (3: ours-sqlite,
# ours-postgresql and bare are loaded in turn that many times, and each row
# pools the requests of its passes), BENCH_MLFLOW_ABUSER_THREADS (8: the
# abusive account's slow calls at once in the fair-share rows, which load
# ours-sqlite with the class less one alone, beside that account, and beside
# it with the proxy's per-account limits lifted), BENCH_MLFLOW_EXTRA_ROWS (the
# lever rows above: auto | always | never; always), BENCH_MLFLOW_KEEP=1 keeps
# the containers for a look afterwards (the next run removes them, or:
# ansible-playbook -i bench/mlflow/inventory.yml bench/mlflow/containers.yml
# -e bench_mlflow_state=absent).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
# bench_playbook (Ansible's JSON report), bench_log, bench_elapsed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source bench/lib.sh
export NO_COLOR=1 PY_COLORS=0

CLIENTS=${BENCH_MLFLOW_CLIENTS:-20}
RUNS=${BENCH_MLFLOW_RUNS:-1}
POINTS=${BENCH_MLFLOW_POINTS:-100}
DEADLINE=${BENCH_MLFLOW_DEADLINE:-60}
TIMEOUT=${BENCH_MLFLOW_TIMEOUT:-30}
EXTRA_ROWS=${BENCH_MLFLOW_EXTRA_ROWS:-always}
PASSES=${BENCH_MLFLOW_PASSES:-3}
ABUSER_THREADS=${BENCH_MLFLOW_ABUSER_THREADS:-8}
KEEP=${BENCH_MLFLOW_KEEP:-0}

IMAGE=localhost/mlops-lab/debian12:latest
INVENTORY=bench/mlflow/inventory.yml
NETWORK=bench-mlflow
CONTAINERS=(bench-mlflow-ours-sqlite bench-mlflow-ours-postgresql bench-mlflow-bare)
# The published ports of bench/mlflow/inventory.yml.
declare -A URL=(
  [ours-sqlite]=https://127.0.0.1:15001
  [ours-postgresql]=https://127.0.0.1:15002
  [bare]=http://127.0.0.1:15003
)
# The systemd unit of each server: the role's, and bench/mlflow/bare.yml's.
declare -A UNIT=([ours-sqlite]=mlflow-server [ours-postgresql]=mlflow-server [bare]=mlflow-bare)
ORDER=ours-sqlite,ours-postgresql,bare,ours-sqlite-19,ours-sqlite-19-abuser,ours-sqlite-nolimits
ORDER+=,ours-sqlite-scrypt,ours-sqlite-nocache,ours-sqlite-workers4
ORDER+=,ours-sqlite-threads40,ours-sqlite-noauth,ours-sqlite-nowal
WORK=$ROOT/.cache/bench/mlflow
CREDENTIALS=$WORK/credentials
# Our servers answer HTTPS with the lab CA the role makes here; the load's
# MLflow client and curl trust it, as a student's .env does.
export MLFLOW_TRACKING_SERVER_CERT_PATH=$CREDENTIALS/tls/ca.crt
LOAD_VENV=$ROOT/.cache/bench/mlflow-load-venv
RESULTS=$ROOT/bench/results
RSS=$WORK/rss
# ansible.cfg caches facts for an hour; these containers are new every run.
export BENCH_FACTS=$WORK/facts

remove_containers() {
  podman rm --force --ignore --time 10 "${CONTAINERS[@]}" >/dev/null 2>&1 || true
  podman network rm --force "$NETWORK" >/dev/null 2>&1 || true
}

sampler_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ "$KEEP" = 1 ] && [ "$rc" = 0 ]; then
    bench_log "mlflow-load: kept the containers: ${CONTAINERS[*]}"
  else
    bench_log "mlflow-load: removing the containers"
    remove_containers
    rm -rf "$WORK/bare"
  fi
  [ "$rc" = 0 ] || bench_log "mlflow-load: FAILED (exit $rc); logs in $WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The load generator's venv: the host's python3, pip, the servers' MLflow.
setup_load_venv() {
  if [ "$(cat "$LOAD_VENV/.pin" 2>/dev/null)" = "$PIN" ]; then return 0; fi
  rm -rf "$LOAD_VENV"
  python3 -m venv "$LOAD_VENV"
  "$LOAD_VENV/bin/pip" install --quiet --disable-pip-version-check "mlflow-skinny==$PIN"
  echo "$PIN" >"$LOAD_VENV/.pin"
}

# Generated once per run, before Ansible reads them (the password lookups of
# two hosts in one play would otherwise race to create the same files).
make_credentials() {
  python3 - "$CREDENTIALS" <<'PY'
import secrets
import string
import sys
from pathlib import Path

root = Path(sys.argv[1])
alphabet = string.ascii_letters + string.digits
files = {"mlflow/admin": 32, "mlflow/flask-secret-key": 64, "postgresql/mlflow": 24}
files.update({f"mlflow/students/student{i:02d}": 24 for i in range(1, 21)})
for name, length in files.items():
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text("".join(secrets.choice(alphabet) for _ in range(length)) + "\n")
    path.chmod(0o600)
PY
}

load() {
  "$LOAD_VENV/bin/python" bench/mlflow_load.py "$@"
}

report() {
  python3 bench/report.py "$@"
}

# deployed CONTAINER UNIT: "VERSION WORKERS THREADS" of the MLflow server
# running there: the command and environment of its unit (systemctl show)
# and the mlflow of that command's venv (the command is mlflow itself or the
# venv's python). WORKERS and THREADS (the role launcher's requests at once
# per worker) are "default" when the unit sets none.
deployed() {
  local words i mlflow="" workers=default threads=default version setting
  read -ra words <<<"$(podman exec "$1" systemctl show --property ExecStart --value "$2")"
  for ((i = 0; i < ${#words[@]}; i++)); do
    case ${words[i]} in
      path=*) mlflow=${words[i]#path=} ;;
      --workers) workers=${words[i + 1]} ;;
    esac
  done
  [ -n "$mlflow" ] || { bench_log "mlflow-load: no ExecStart for $2 in $1" && return 1; }
  for setting in $(podman exec "$1" systemctl show --property Environment --value "$2"); do
    case $setting in
      MLOPS_LAB_WORKER_THREADS=*) threads=${setting#*=} ;;
    esac
  done
  # "mlflow, version 3.17.2"
  version=$(podman exec "$1" "${mlflow%/*}/mlflow" --version)
  printf '%s %s %s\n' "${version##* }" "$workers" "$threads"
}

# rss_sampler CONTAINER UNIT OUT: until killed, every second, the resident
# memory (kB) of the unit's processes summed, and their proportional share
# (PSS: a page shared by n of them counts 1/n each), as this host sees them
# (their cgroup names the container and the unit); "RSS PSS", each the peak
# so far, in OUT.
rss_sampler() {
  local id pattern peak=0 peak_pss=0 kb pss key value _ cgroup
  # The peaks of the label's earlier passes, if any.
  read -r peak peak_pss _ 2>/dev/null <"$3" || true
  peak=${peak:-0} peak_pss=${peak_pss:-0}
  id=$(podman inspect --format '{{.Id}}' "$1")
  pattern="libpod-$id/system.slice/$2.service"
  while :; do
    kb=0 pss=0
    while read -r cgroup; do
      while read -r key value _; do
        [ "$key" != VmRSS: ] || kb=$((kb + value))
      done 2>/dev/null <"${cgroup%cgroup}status"
      while read -r key value _; do
        [ "$key" != Pss: ] || pss=$((pss + value))
      done 2>/dev/null <"${cgroup%cgroup}smaps_rollup"
    done < <(grep -lF "$pattern" /proc/[0-9]*/cgroup 2>/dev/null)
    if [ "$kb" -gt "$peak" ] || [ "$pss" -gt "$peak_pss" ]; then
      [ "$kb" -le "$peak" ] || peak=$kb
      [ "$pss" -le "$peak_pss" ] || peak_pss=$pss
      echo "$peak $peak_pss" >"$3"
    fi
    sleep 1
  done
}

# measure LABEL DESCRIPTION [run options]: the load on the label's server
# (ours-sqlite-* are ours-sqlite re-deployed), its unit's peak RSS meanwhile.
measure() {
  local label=$1 description=$2 server rc=0
  shift 2
  case $label in
    ours-sqlite-*) server=ours-sqlite ;;
    *) server=$label ;;
  esac
  bench_log "mlflow-load: $label: $CLIENTS clients x $RUNS run(s), $POINTS points, deadline ${DEADLINE}s"
  rss_sampler "bench-mlflow-$server" "${UNIT[$server]}" "$RSS/$label" &
  sampler_pid=$!
  load run --label "$label" --url "${URL[$server]}" --description "$description" \
    --clients "$CLIENTS" --runs "$RUNS" --points "$POINTS" --deadline "$DEADLINE" \
    --timeout "$TIMEOUT" --out "$WORK/results/$label.json" "$@" || rc=$?
  kill "$sampler_pid"
  wait "$sampler_pid" 2>/dev/null || true
  sampler_pid=""
  return "$rc"
}

# lever SUFFIX EXTRA_VARS WHAT [run options]: ours-sqlite re-deployed by the
# role with one setting changed, measured as ours-sqlite-SUFFIX; WHAT goes
# into the notes.
LEVERS=()
lever() {
  local label=ours-sqlite-$1 vars=$2 what=$3
  shift 3
  bench_log "mlflow-load: $label: re-deploying ours-sqlite with $vars"
  bench_playbook "$WORK/$label.json" "$INVENTORY" playbooks/mlflow_server.yml \
    --limit bench-mlflow-ours-sqlite --tags mlflow_server -e "$vars" || return 1
  wait_health "${URL[ours-sqlite]}"
  measure "$label" "ours-sqlite re-deployed by the role with \`$vars\`, otherwise the same;\
 its database holds the runs of the rows before" "$@"
  LEVERS+=("- \`$label\` (\`$vars\`): $what")
}

wait_health() {
  local _
  for _ in $(seq 1 90); do
    if curl -fsS -o /dev/null -m 5 --cacert "$MLFLOW_TRACKING_SERVER_CERT_PATH" "$1/health" 2>/dev/null; then
      return 0
    fi
    sleep 2
  done
  bench_log "mlflow-load: $1/health did not answer"
  return 1
}

start=$SECONDS
mkdir -p "$WORK" "$RESULTS"
bench_log "mlflow-load: removing leftovers of an earlier run"
remove_containers
rm -rf "$WORK/results" "$RSS" "$BENCH_FACTS" "$WORK/bare" "$CREDENTIALS" "$WORK"/*.log "$WORK"/*.json
mkdir -p "$WORK/results" "$RSS" "$WORK/bare"

podman image exists "$IMAGE" || molecule/images/build.sh debian12
make_credentials

bench_log "mlflow-load: starting ${CONTAINERS[*]}"
bench_playbook "$WORK/containers.json" "$INVENTORY" bench/mlflow/containers.yml

bench_log "mlflow-load: provisioning ours (sqlite, postgresql) and bare, side by side"
t0=$SECONDS
bench_playbook "$WORK/ours.json" "$INVENTORY" playbooks/mlflow_server.yml &
ours_pid=$!
bench_playbook "$WORK/bare.json" "$INVENTORY" bench/mlflow/bare.yml &
bare_pid=$!
ok=0
wait "$ours_pid" || ok=1
wait "$bare_pid" || ok=1
[ "$ok" = 0 ] || exit 1

# What runs, not what a file says: the MLflow of each server (the load's
# client gets the same), our worker count and threads per worker.
found=$(deployed bench-mlflow-ours-sqlite "${UNIT[ours-sqlite]}")
read -r PIN WORKERS THREADS <<<"$found"
for server in ours-postgresql bare; do
  found=$(deployed "bench-mlflow-$server" "${UNIT[$server]}")
  if [ "${found%% *}" != "$PIN" ]; then
    bench_log "mlflow-load: $server runs MLflow ${found%% *}, ours-sqlite $PIN"
    exit 1
  fi
done
setup_load_venv >"$WORK/load-venv.log" 2>&1 || {
  tail -n 20 "$WORK/load-venv.log" >&2
  exit 1
}
provision_s=$((SECONDS - t0))
bench_log "mlflow-load: MLflow $PIN up, with its accounts and the load's venv, in ${provision_s}s (containers included: $((SECONDS - start))s)"

ours_common="MLflow $PIN, role defaults as deployed by the lab: HTTPS through nginx, uvicorn --workers $WORKERS"
ours_common+=" with $THREADS requests at once each, basic-auth"
ours_common+=" with one account per student (EDIT on the class experiment), proxied artifacts"
ours_common+=" (--serve-artifacts), --allowed-hosts, sandboxed systemd unit"
t0=$SECONDS
# The three servers in turn, PASSES times, each row pooling its passes: a
# drift of the machine's load then weighs on all three alike.
for ((pass = 1; pass <= PASSES; pass++)); do
  pool=()
  [ "$pass" = 1 ] || pool=(--pool)
  measure ours-sqlite "$ours_common, sqlite" --credentials "$CREDENTIALS/mlflow" "${pool[@]}"
  measure ours-postgresql "$ours_common, local PostgreSQL" --credentials "$CREDENTIALS/mlflow" \
    "${pool[@]}"
  measure bare "MLflow $PIN, the seed's command: uvicorn with MLflow's default 4 workers, no \
auth, artifacts written by the client to ./artifacts of the server's working directory (a \
shared disk here), transient unit without sandbox, sqlite" "${pool[@]}"
done

# Fair shares: the class less one student, alone and beside one abusive
# account (the last) whose ABUSER_THREADS threads fetch a 50,000-point metric
# history over and over; then the same beside the abuser with the proxy's
# per-account limits lifted (as before they existed).
others=$((CLIENTS - 1))
fair_common="$ours_common, sqlite, $others students"
for ((pass = 1; pass <= PASSES; pass++)); do
  pool=()
  [ "$pass" = 1 ] || pool=(--pool)
  measure ours-sqlite-19 "$fair_common alone" --clients "$others" \
    --credentials "$CREDENTIALS/mlflow" "${pool[@]}"
  measure ours-sqlite-19-abuser "$fair_common beside an abusive account ($ABUSER_THREADS slow calls \
at once, over and over)" --clients "$others" --abuser-threads "$ABUSER_THREADS" \
    --credentials "$CREDENTIALS/mlflow" "${pool[@]}"
done
lever nolimits '{"mlflow_server_tls_account_connections": 16, "mlflow_server_tls_account_rate": 1000}' \
  "the per-account limits lifted (16 calls at once, 1000 a second), beside the same abuser" \
  --clients "$others" --abuser-threads "$ABUSER_THREADS" --credentials "$CREDENTIALS/mlflow"
fairness=$(python3 - "$WORK/results" <<'PY'
import json
import sys
from pathlib import Path

rows = {name: json.loads(Path(sys.argv[1], f"{name}.json").read_text())
        for name in ("ours-sqlite-19", "ours-sqlite-19-abuser", "ours-sqlite-nolimits")}
alone = rows["ours-sqlite-19"]["p95_ms"]
for name, row in rows.items():
    print(f"- `{name}`: p95 {row['p95_ms']} ms ({row['p95_ms'] / alone:.2f}x alone), p50"
          f" {row['p50_ms']} ms, {row['errors']} errors, the class done in {row['wall_s']} s;"
          f" the abuser's calls {row['abuser_requests']}, of them 429 {row['abuser_429']}")
PY
)

worse=$(report load-worse --results "$WORK/results" ours-sqlite bare)
if [ "$EXTRA_ROWS" = always ] || { [ "$EXTRA_ROWS" = auto ] && [ "$worse" = yes ]; }; then
  bench_log "mlflow-load: the levers of ours-sqlite, one at a time (worse p95 than bare, or errors: $worse)"
  lever scrypt '{"lab_mlflow_password_hash": ""}' "the students' passwords stored with MLflow's \
own hash (scrypt, N=32768) instead of the lab's light one (N=1024): each student's first call on \
each worker pays it" --credentials "$CREDENTIALS/mlflow"
  lever nocache '{"mlflow_server_auth_cache_ttl_seconds": 0}' "the auth cache off (MLflow's \
default): every call of a student checks the password hash again" --credentials "$CREDENTIALS/mlflow"
  if [ "$WORKERS" != 4 ]; then
    lever workers4 '{"mlflow_server_workers": 4}' "4 uvicorn workers (the bare command's count) \
instead of $WORKERS: more requests served at once, each worker's own auth cache and memory" \
      --credentials "$CREDENTIALS/mlflow"
  fi
  lever threads40 '{"mlflow_server_worker_threads": 40}' "uvicorn's own thread pool, 40 requests \
at once per worker, instead of the role's $THREADS: every request gets a thread at once, and those \
that write wait on sqlite's single writer (which polls with sleeps) instead of in the worker's queue" \
    --credentials "$CREDENTIALS/mlflow"
  lever noauth '{"lab_mlflow_auth": false}' "basic-auth off: no password check, no permission \
reads from the auth database"
  lever nowal '{"mlflow_server_sqlite_wal": false}' "the tracking and auth sqlite databases in \
sqlite's default rollback journal instead of WAL: while a writer commits, readers of that database \
wait, and each commit rewrites pages through the journal; with WAL, readers go on beside the one \
writer and a commit appends to the log" --credentials "$CREDENTIALS/mlflow"
fi
load_s=$((SECONDS - t0))

# scrypt_ms N: the CPU of one werkzeug scrypt check with cost N, r=8, here and now.
scrypt_ms() {
  python3 -c 'import hashlib, sys, time
n = int(sys.argv[1])
t = time.perf_counter()
for _ in range(3):
    hashlib.scrypt(b"x" * 24, salt=b"s" * 16, n=n, r=8, p=1, maxmem=132 * 2**20, dklen=64)
print(round((time.perf_counter() - t) / 3 * 1000, 1))' "$1"
}
notes=$WORK/notes.md
cat >"$notes" <<EOF
## Fairness

- Workers: ours runs \`--workers $WORKERS\` (mlflow_server_workers, as deployed), each running
  $THREADS requests at once (mlflow_server_worker_threads) and queueing the rest; the bare command
  MLflow's default of 4 uvicorn workers, each with uvicorn's pool of 40 threads. This machine has
  $(nproc) cores, shared with the $CLIENTS client processes (and whatever else runs on it).
- TLS: ours is reached over HTTPS through the role's nginx (which proxies to MLflow on
  loopback), the bare command over plain HTTP.
- Auth: ours has basic-auth on (the lab default), the bare command none. MLflow $PIN checks the
  password of a request against its werkzeug hash every time \`authenticate_request()\` runs: in
  the before-request hook, in \`sender_is_admin()\` and in the permission validator, so a
  log-metric call pays three hashes. MLflow hashes with scrypt, N=32768, r=8 ($(scrypt_ms 32768) ms
  of CPU each on this machine during this run); the lab stores its students' generated
  passwords with N=1024 ($(scrypt_ms 1024) ms; lab_mlflow_password_hash), the \`-scrypt\` row
  measures MLflow's. MLflow's \`auth_cache_ttl_seconds\` (basic_auth.ini; off by MLflow's
  default) caches a successful check per worker; the lab sets it to 60 s
  (mlflow_server_auth_cache_ttl_seconds), the \`-nocache\` row measures the server without it.
- Artifacts: ours proxies them (an HTTP upload); with the bare command the client writes the file
  itself into the server's \`./artifacts\` path (no HTTP call; a real student's machine would need
  that path on a shared disk; here it is mounted at the same path).
- The bare command runs outside any sandbox; ours runs in a hardened unit (seccomp filter,
  MemoryMax).
- Each client gives up a request after $TIMEOUT s (an error) and stops at the deadline
  (${DEADLINE} s); MLflow's client retries are off, so every failure counts once.

## Run

- Provisioning (the three servers side by side, after the containers; accounts included):
  ${provision_s} s; load (all rows, warm-ups and re-deploys included): ${load_s} s.
- Server RSS: the resident memory of every process of the MLflow unit (ours: mlflow-server.service,
  not nginx or PostgreSQL; bare: its transient unit, where MLflow's defaults also start its job
  runner and huey consumers), summed, so pages the processes share count once per process; peak of
  one sample a second during the row's warm-up and load. PSS: the same, with each shared page
  divided among the processes that share it (what the unit takes from the machine, page cache
  aside). Ours is capped by MemoryMax (mlflow_server_memory_max).
EOF
printf '\n## Fair shares\n\nThe p95 of %s students alone and beside one abusive account:\n\n%s\n' \
  "$others" "$fairness" >>"$notes"
if [ "${#LEVERS[@]}" -gt 0 ]; then
  printf '\n## Levers\n\nours-sqlite re-deployed by the role with one setting changed, then loaded again:\n\n' >>"$notes"
  printf '%s\n' "${LEVERS[@]}" >>"$notes"
fi
report load --results "$WORK/results" --rss "$RSS" --baseline bare --target ours-sqlite \
  --notes "$notes" --order "$ORDER" --csv "$RESULTS/mlflow_load.csv" --md "$RESULTS/mlflow_load.md"
bench_log "mlflow-load: done in $((SECONDS - start))s (provisioning ${provision_s}s, load ${load_s}s)"
