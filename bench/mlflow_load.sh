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
# their own account where auth is on. When ours has a worse p95 than bare (or
# errors), or with BENCH_MLFLOW_EXTRA_ROWS=always, ours-sqlite is re-deployed by
# the role and measured twice more, to show what dominates: with the auth
# cache off (mlflow_server_auth_cache_ttl_seconds 0, MLflow's default), then
# with basic-auth off.
# Output: tables on stdout, bench/results/mlflow_load.{csv,md}. The containers
# are removed at the end, also after a failure.
#
# Run from anywhere: bench/mlflow_load.sh
# Settings (environment): BENCH_MLFLOW_CLIENTS (20), BENCH_MLFLOW_RUNS (runs per
# client, 1), BENCH_MLFLOW_POINTS (100), BENCH_MLFLOW_DEADLINE (s per server,
# 60), BENCH_MLFLOW_TIMEOUT (s per request, 30), BENCH_MLFLOW_EXTRA_ROWS (the
# two rows above: auto | always | never), BENCH_MLFLOW_KEEP=1 keeps the
# containers for a look afterwards (the next run removes them, or:
# ansible-playbook -i bench/mlflow/inventory.yml bench/mlflow/containers.yml
# -e bench_mlflow_state=absent).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/molecule/containers.conf}"
case ":$PATH:" in
  *":$ROOT/.venv/bin:"*) ;;
  *) export PATH="$ROOT/.venv/bin:$PATH" ;;
esac
export ANSIBLE_FORCE_COLOR=0 NO_COLOR=1 PY_COLORS=0

CLIENTS=${BENCH_MLFLOW_CLIENTS:-20}
RUNS=${BENCH_MLFLOW_RUNS:-1}
POINTS=${BENCH_MLFLOW_POINTS:-100}
DEADLINE=${BENCH_MLFLOW_DEADLINE:-60}
TIMEOUT=${BENCH_MLFLOW_TIMEOUT:-30}
EXTRA_ROWS=${BENCH_MLFLOW_EXTRA_ROWS:-always}
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
WORK=$ROOT/.cache/bench/mlflow
CREDENTIALS=$WORK/credentials
# Our servers answer HTTPS with the lab CA the role makes here; the load's
# MLflow client and curl trust it, as a student's .env does.
export MLFLOW_TRACKING_SERVER_CERT_PATH=$CREDENTIALS/tls/ca.crt
LOAD_VENV=$ROOT/.cache/bench/mlflow-load-venv
RESULTS=$ROOT/bench/results
DEFAULTS=roles/mlflow_server/defaults/main.yml
PIN=$(sed -n 's/^mlflow_server_version: *"\{0,1\}\([0-9][0-9.]*\)"\{0,1\} *$/\1/p' "$DEFAULTS")
WORKERS=$(sed -n 's/^mlflow_server_workers: *\([0-9]*\) *$/\1/p' "$DEFAULTS")
[ -n "$PIN" ] || { echo "cannot read mlflow_server_version from $DEFAULTS" >&2; exit 1; }
# ansible.cfg caches facts for an hour; these containers are new every run.
export ANSIBLE_CACHE_PLUGIN_CONNECTION=$WORK/facts

log() { printf '%(%H:%M:%S)T [mlflow-load] %s\n' -1 "$*"; }

remove_containers() {
  podman rm --force --ignore --time 10 "${CONTAINERS[@]}" >/dev/null 2>&1 || true
  podman network rm --force "$NETWORK" >/dev/null 2>&1 || true
}

venv_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$venv_pid" ]; then kill "$venv_pid" 2>/dev/null || true; fi
  if [ "$KEEP" = 1 ] && [ "$rc" = 0 ]; then
    log "kept the containers: ${CONTAINERS[*]}"
  else
    log "removing the containers"
    remove_containers
    rm -rf "$WORK/bare"
  fi
  [ "$rc" = 0 ] || log "FAILED (exit $rc); logs in $WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command with its output in $WORK/<name>.log; shows the end on failure.
logged() {
  local name=$1
  shift
  if ! "$@" >"$WORK/$name.log" 2>&1; then
    tail -n 40 "$WORK/$name.log" >&2
    log "$name failed; full log: $WORK/$name.log"
    return 1
  fi
}

# The load generator's venv: the host's python3, pip, the server's MLflow pin.
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

playbook() {
  ansible-playbook -i "$INVENTORY" "$@"
}

load() {
  "$LOAD_VENV/bin/python" bench/mlflow_load.py "$@"
}

# measure LABEL DESCRIPTION [run options]; the URL is that of the label's server.
measure() {
  local label=$1 description=$2 server
  shift 2
  server=${label%-nocache}
  server=${server%-noauth}
  log "load on $label: $CLIENTS clients x $RUNS run(s), $POINTS points, deadline ${DEADLINE}s"
  load run --label "$label" --url "${URL[$server]}" --description "$description" \
    --clients "$CLIENTS" --runs "$RUNS" --points "$POINTS" --deadline "$DEADLINE" \
    --timeout "$TIMEOUT" --out "$WORK/results/$label.json" "$@"
}

wait_health() {
  local _
  for _ in $(seq 1 90); do
    if curl -fsS -o /dev/null -m 5 --cacert "$MLFLOW_TRACKING_SERVER_CERT_PATH" "$1/health" 2>/dev/null; then
      return 0
    fi
    sleep 2
  done
  log "$1/health did not answer"
  return 1
}

start=$SECONDS
mkdir -p "$WORK" "$RESULTS"
log "removing leftovers of an earlier run"
remove_containers
rm -rf "$WORK/results" "$WORK/facts" "$WORK/bare" "$CREDENTIALS" "$WORK"/*.log
mkdir -p "$WORK/results" "$WORK/bare"

setup_load_venv >"$WORK/load-venv.log" 2>&1 &
venv_pid=$!

podman image exists "$IMAGE" || molecule/images/build.sh debian12
make_credentials

log "starting ${CONTAINERS[*]}"
logged containers playbook bench/mlflow/containers.yml

log "provisioning ours (sqlite, postgresql) and bare, side by side"
t0=$SECONDS
logged ours playbook playbooks/mlflow_server.yml &
ours_pid=$!
logged bare playbook bench/mlflow/bare.yml &
bare_pid=$!
ok=0
wait "$ours_pid" || ok=1
wait "$bare_pid" || ok=1
[ "$ok" = 0 ] || exit 1
log "servers up in $((SECONDS - t0))s"

if ! wait "$venv_pid"; then
  venv_pid=""
  tail -n 20 "$WORK/load-venv.log" >&2
  exit 1
fi
venv_pid=""
provision_s=$((SECONDS - t0))
log "servers up, with their accounts, in ${provision_s}s (containers included: $((SECONDS - start))s)"

ours_common="MLflow $PIN, role defaults as deployed by the lab: HTTPS through nginx, uvicorn --workers $WORKERS, basic-auth"
ours_common+=" with one account per student (EDIT on the class experiment), proxied artifacts"
ours_common+=" (--serve-artifacts), --allowed-hosts, sandboxed systemd unit"
t0=$SECONDS
measure ours-sqlite "$ours_common, sqlite" --credentials "$CREDENTIALS/mlflow"
measure ours-postgresql "$ours_common, local PostgreSQL" --credentials "$CREDENTIALS/mlflow"
measure bare "MLflow $PIN, the seed's command: uvicorn with MLflow's default 4 workers, no auth, \
artifacts written by the client to ./artifacts of the server's working directory (a shared \
disk here), transient unit without sandbox, sqlite"

worse=$(load worse --results "$WORK/results" ours-sqlite bare)
if [ "$EXTRA_ROWS" = always ] || { [ "$EXTRA_ROWS" = auto ] && [ "$worse" = yes ]; }; then
  log "ours-sqlite: worse p95 than bare (or errors); measuring what dominates"
  logged nocache playbook playbooks/mlflow_server.yml --limit bench-mlflow-ours-sqlite \
    --tags mlflow_server -e '{"mlflow_server_auth_cache_ttl_seconds": 0}'
  wait_health "${URL[ours-sqlite]}"
  measure ours-sqlite-nocache "ours-sqlite re-deployed by the role with the auth cache off \
(mlflow_server_auth_cache_ttl_seconds 0, MLflow's default), otherwise the same; its database \
holds the runs of the rows above" --credentials "$CREDENTIALS/mlflow"
  logged noauth playbook playbooks/mlflow_server.yml --limit bench-mlflow-ours-sqlite \
    --tags mlflow_server -e '{"lab_mlflow_auth": false}'
  measure ours-sqlite-noauth "ours-sqlite re-deployed by the role with basic-auth off \
(lab_mlflow_auth false), otherwise the same; its database holds the runs of the rows above"
fi
load_s=$((SECONDS - t0))

scrypt_ms=$(python3 -c 'import hashlib, time
t = time.perf_counter()
for _ in range(3):
    hashlib.scrypt(b"x" * 24, salt=b"s" * 16, n=32768, r=8, p=1, maxmem=132 * 2**20, dklen=64)
print(round((time.perf_counter() - t) / 3 * 1000))')
notes=$WORK/notes.md
cat >"$notes" <<EOF
## Fairness

- Workers: ours runs \`--workers $WORKERS\` (mlflow_server_workers), the bare command MLflow's
  default of 4 uvicorn workers. This machine has $(nproc) cores, shared with the $CLIENTS client
  processes (and whatever else runs on it).
- TLS: ours is reached over HTTPS through the role's nginx (which proxies to MLflow on
  loopback), the bare command over plain HTTP.
- Auth: ours has basic-auth on (the lab default), the bare command none. MLflow $PIN checks the
  password of a request against its werkzeug hash (scrypt, N=32768, r=8: $scrypt_ms ms of CPU
  each on this machine during this run) every time \`authenticate_request()\` runs: in the
  before-request hook, in \`sender_is_admin()\` and in the permission validator, so a
  log-metric call pays three hashes.
  MLflow's \`auth_cache_ttl_seconds\` (basic_auth.ini; off by MLflow's default) caches a
  successful check per worker; the lab sets it to 60 s (mlflow_server_auth_cache_ttl_seconds),
  the \`-nocache\` row measures the server without it.
- Artifacts: ours proxies them (an HTTP upload); with the bare command the client writes the file
  itself into the server's \`./artifacts\` path (no HTTP call; a real student's machine would need
  that path on a shared disk; here it is mounted at the same path).
- The bare command runs outside any sandbox; ours runs in a hardened unit (seccomp filter,
  MemoryMax).
- Each client gives up a request after $TIMEOUT s (an error) and stops at the deadline
  (${DEADLINE} s); MLflow's client retries are off, so every failure counts once.

## Run

- Provisioning (the three servers side by side, after the containers; accounts included):
  ${provision_s} s; load (all rows, warm-ups included): ${load_s} s.
EOF
load report --results "$WORK/results" --baseline bare --notes "$notes" \
  --order ours-sqlite,ours-postgresql,bare,ours-sqlite-nocache,ours-sqlite-noauth \
  --csv "$RESULTS/mlflow_load.csv" --md "$RESULTS/mlflow_load.md"
log "done in $((SECONDS - start))s (provisioning ${provision_s}s, load ${load_s}s)"
