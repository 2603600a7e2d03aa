"""What an admin and a student see on the lab's MLflow server.

Shared by the mlflow_server and mlflow_server_production scenarios. The tests
run in file order: read-only checks first, then a crash and a reboot.
"""

import ast
import json
import os
import pathlib
import re
import shlex
import subprocess
import time

import pytest
import service_checks
import yaml
from service_checks import assert_sandboxed, exposure, request, unit_users

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEFAULTS = yaml.safe_load((ROOT / "roles/mlflow_server/defaults/main.yml").read_text())
PIN = DEFAULTS["mlflow_server_version"]
# The version prepare.yml installs before converge upgrades to the pin
# (molecule_prepare_mlflow_version of a scenario, or this).
OLD_PIN = "3.16.1"
UNIT = "mlflow-server.service"
CLIENT = "/opt/mlflow-test-client/mlflow_client.py"
SETTINGS = "/home/mlclient/server.json"
BEFORE_UPGRADE = "/home/mlclient/before-upgrade.json"
VERIFY_RUN = "/home/mlclient/verify-run.json"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"
# The scenarios' mlflow_server_uv_cache_dir (a bind mount of the test machine).
CACHE = "/var/cache/mlops-lab/uv"


# The scenario's variables as Ansible renders them (group_vars may hold templates).
SETTINGS_EXPRESSION = (
    "msg={{ {'port': mlflow_server_port | default(PORT) | int,"
    " 'backend': mlflow_server_backend | default('BACKEND'),"
    " 'user': mlflow_server_auth_admin_username | default('admin'),"
    " 'password': mlflow_server_auth_admin_password,"
    " 'pg_password': mlflow_server_postgresql_password | default(''),"
    " 'tls_port': mlflow_server_tls_port | default(443) | int,"
    " 'workers': mlflow_server_workers | default(WORKERS) | int,"
    " 'threads': mlflow_server_worker_threads | default(THREADS) | int,"
    " 'ca': mlflow_server_tls_ca_dir | default('') ~ '/ca.crt',"
    " 'name': inventory_hostname,"
    " 'prepared': molecule_prepare_mlflow_version | default('OLD_PIN'),"
    " 'artifacts': mlflow_server_artifacts_store | default('local'),"
    " 's3': [mlflow_server_s3_endpoint_url | default(''),"
    "        mlflow_server_s3_access_key_id | default(''),"
    "        mlflow_server_s3_secret_access_key | default(''),"
    "        mlflow_server_s3_bucket | default('')]} }}"
).replace("PORT", str(DEFAULTS["mlflow_server_port"]))
SETTINGS_EXPRESSION = SETTINGS_EXPRESSION.replace("OLD_PIN", OLD_PIN)
SETTINGS_EXPRESSION = SETTINGS_EXPRESSION.replace("WORKERS", str(DEFAULTS["mlflow_server_workers"]))
SETTINGS_EXPRESSION = SETTINGS_EXPRESSION.replace(
    "THREADS", str(DEFAULTS["mlflow_server_worker_threads"])
)
SETTINGS_EXPRESSION = SETTINGS_EXPRESSION.replace("BACKEND", DEFAULTS["mlflow_server_backend"])
_settings = {}


def settings(host):
    name = host.backend.get_hostname()
    if name not in _settings:
        _settings[name] = host.ansible("debug", SETTINGS_EXPRESSION, check=False)["msg"]
    return _settings[name]


def http(host, path, headers=None):
    return request(host, f"http://127.0.0.1:{settings(host)['port']}{path}", headers, timeout=10)


def basic_auth(host, user=None, password=None):
    """The admin's Authorization header, or that of the given account."""
    import base64

    values = settings(host)
    user, password = (user, password) if user else (values["user"], values["password"])
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def journal(host, unit=UNIT):
    return service_checks.journal(host, unit)


def client(host, version, *arguments):
    """Run the test client as the unprivileged mlclient user, from a venv
    that root builds with uv, from the scenario's root-only uv cache."""
    venv = f"/opt/mlflow-test-client/{version}"
    built = host.run(
        f"export UV_CACHE_DIR={CACHE}; test -x {venv}/bin/mlflow || (uv venv --quiet {venv} && "
        f"uv pip install --quiet --compile-bytecode --python {venv}/bin/python "
        f"mlflow-skinny=={version})"
    )
    assert built.rc == 0, built.stderr
    argv = ["runuser", "-u", "mlclient", "--", f"{venv}/bin/python", CLIENT, SETTINGS, *arguments]
    result = host.run(f"cd /home/mlclient && {shlex.join(argv)}")
    assert result.rc == 0, f"{result.stderr}\n--- server journal ---\n{journal(host)}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def main_pid(host):
    return int(host.check_output(f"systemctl show --property MainPID --value {UNIT}"))


def wait_healthy(host, timeout):
    """Seconds until /health answers OK, or fail after timeout seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        answer = http(host, "/health")
        if answer["status"] == 200 and answer["body"].strip() == "OK":
            return time.monotonic() - start
        time.sleep(0.5)
    pytest.fail(f"/health not OK within {timeout} s, last {answer}\n{journal(host)}")


def test_service_enabled_and_running_as_the_mlflow_user(host):
    service = host.service(UNIT)
    assert service.is_enabled
    assert service.is_running, journal(host)
    assert unit_users(host, UNIT) == {"mlflow"}


def test_service_account_cannot_log_in(host):
    account = host.user("mlflow")
    assert account.shell in ("/usr/sbin/nologin", "/sbin/nologin")
    assert account.home == "/var/lib/mlflow"


def test_unit_properties(host):
    properties = host.service(UNIT).systemd_properties
    assert properties["Type"] == "exec"
    assert properties["Restart"] == "on-failure"
    timeout = properties["TimeoutStartUSec"]
    assert re.fullmatch(r"(\d+min ?)?(\d+s)?", timeout), timeout
    minutes = int(re.search(r"(\d+)min", timeout).group(1)) if "min" in timeout else 0
    seconds = int(re.search(r"(\d+)s", timeout).group(1)) if timeout.endswith("s") else 0
    assert minutes * 60 + seconds >= 120
    assert properties["User"] == "mlflow"
    assert properties["StateDirectory"] == "mlflow"
    environment = properties["Environment"]
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in environment
    assert "MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX=" in environment


def test_unit_runs_in_the_lab_sandbox(host):
    assert_sandboxed(host, UNIT)


def test_secrets_stay_off_the_command_line(host):
    env_file = host.file("/etc/mlflow/mlflow-server.env")
    assert (env_file.user, env_file.group, env_file.mode) == ("root", "root", 0o600)
    assert "MLFLOW_BACKEND_STORE_URI=" in env_file.content_string
    secrets = [settings(host)["password"], settings(host)["pg_password"]]
    pids = host.check_output("pgrep -u mlflow -d ' ' .").split()
    assert pids
    for pid in pids:
        command_line = host.check_output(f"tr '\\0' ' ' < /proc/{pid}/cmdline")
        assert "sqlite:" not in command_line and "postgresql:" not in command_line
        assert not [secret for secret in secrets if secret and secret in command_line]
        assert "--gunicorn-opts" not in command_line
        assert "--disable-security-middleware" not in command_line
    command = host.check_output(f"systemctl show --property ExecStart --value {UNIT}").split()
    assert "--allowed-hosts" in command and "--serve-artifacts" in command


def test_the_server_is_uvicorn_itself_not_the_cli_beside_it(host):
    """The unit's main process is the uvicorn supervisor that `mlflow server`
    builds (it exec'd into it): the CLI does not stay behind holding ~250 MB."""
    server = host.check_output(f"tr '\\0' '\\n' < /proc/{main_pid(host)}/cmdline").split("\n")
    assert server[1:3] == ["-m", "uvicorn"], server
    assert server[server.index("--workers") + 1] == str(settings(host)["workers"])
    commands = host.check_output(f"ps -o args= --ppid {main_pid(host)}")
    assert "mlflow server" not in commands and "mlflow.cli" not in commands


# BURST concurrent requests, all released at once, while the OS threads of
# each worker are counted; prints {pid: [threads before, most during]} and the
# statuses.
BURST = """
import json, sys, threading, urllib.request
url, header, pids = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
def threads(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
seen = {pid: [threads(pid), 0] for pid in pids}
statuses, start = [], threading.Barrier(41)
def call():
    start.wait()
    with urllib.request.urlopen(urllib.request.Request(url, headers=header), timeout=60) as answer:
        statuses.append(answer.status)
callers = [threading.Thread(target=call) for _ in range(40)]
for caller in callers:
    caller.start()
start.wait()
while any(caller.is_alive() for caller in callers):
    for pid in pids:
        seen[pid][1] = max(seen[pid][1], threads(pid))
for caller in callers:
    caller.join()
print(json.dumps({"threads": seen, "statuses": statuses}))
"""


def test_each_worker_runs_a_few_requests_at_once_and_queues_the_rest(host):
    """The launcher's thread limit: 40 requests at once start no more than
    mlflow_server_worker_threads threads in any worker (uvicorn's own limit
    would let one worker start a thread per request, up to 40), and every one
    is served."""
    values = settings(host)
    server = host.check_output(f"tr '\\0' ' ' < /proc/{main_pid(host)}/cmdline")
    assert "--factory mlflow_server_launcher:create_app" in server
    workers = worker_pids(host)
    assert len(workers) == values["workers"], workers
    for pid in workers:
        environment = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ").split("\n")
        assert f"MLOPS_LAB_WORKER_THREADS={values['threads']}" in environment
        # Their working directory, the server's data, is not on the import path.
        assert "PYTHONSAFEPATH=1" in environment
    url = f"http://127.0.0.1:{values['port']}{SEARCH}"
    argv = shlex.join(["python3", "-c", BURST, url, json.dumps(basic_auth(host)), *workers])
    # The first burst lets each worker start whatever it starts on first use.
    host.check_output(argv)
    burst = json.loads(host.check_output(argv))
    assert burst["statuses"] == [200] * 40
    for pid in workers:
        before, most = burst["threads"][pid]
        assert most - before <= values["threads"], burst


def test_config_directory(host):
    config = host.file("/etc/mlflow")
    assert (config.user, config.group, config.mode) == ("root", "mlflow", 0o750)
    auth = host.file("/etc/mlflow/basic_auth.ini")
    assert (auth.user, auth.group, auth.mode) == ("root", "mlflow", 0o640)
    assert "database_uri = sqlite:////var/lib/mlflow/basic_auth.db" in auth.content_string
    assert settings(host)["password"] not in auth.content_string


def test_mlflow_listens_on_loopback_behind_the_proxy(host):
    values = settings(host)
    assert host.socket(f"tcp://127.0.0.1:{values['port']}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{values['port']}").is_listening
    assert host.socket(f"tcp://0.0.0.0:{values['tls_port']}").is_listening
    # Debian's default site is not served.
    assert not host.socket("tcp://0.0.0.0:80").is_listening


def test_health_answers_ok(host):
    answer = http(host, "/health")
    assert (answer["status"], answer["body"].strip()) == (200, "OK")


def test_version_is_the_pin(host):
    answer = http(host, "/version", basic_auth(host))
    assert (answer["status"], answer["body"].strip()) == (200, PIN)


def test_unauthenticated_api_call_is_refused(host):
    answer = http(host, SEARCH)
    assert answer["status"] == 401, answer


def test_wrong_password_is_refused(host):
    answer = http(host, SEARCH, {"Authorization": "Basic YWRtaW46bm90LXRoZS1wYXNzd29yZA=="})
    assert answer["status"] == 401, answer


# The accounts of the scenario's host_vars, which the role keeps.
ADA = ("ada", "molecule-ada-password")
TEACHER = ("teacher", "molecule-teacher-password")


def test_the_roles_accounts_log_in_with_their_permissions(host):
    ada, teacher = basic_auth(host, *ADA), basic_auth(host, *TEACHER)
    experiment = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=iris-classification"
    assert http(host, experiment, ada)["status"] == 200
    # teacher is an admin and may read other accounts; ada may not.
    assert http(host, "/api/2.0/mlflow/users/get?username=ada", teacher)["status"] == 200
    assert http(host, "/api/2.0/mlflow/users/get?username=teacher", ada)["status"] == 403


def test_each_account_password_is_stored_as_its_entry_says(host):
    """ada's generated password has the light hash its entry asks for; teacher's
    (no password_hash) keeps MLflow's own scrypt. Read as the server's user, whose
    database it is; ada logs in with hers (test above)."""
    read = (
        "import sqlite3; print(dict(sqlite3.connect('/var/lib/mlflow/basic_auth.db')"
        ".execute('SELECT username, password_hash FROM users')))"
    )
    stored = host.check_output(shlex.join(["runuser", "-u", "mlflow", "--", "python3", "-c", read]))
    methods = {
        name: stored_hash.split("$")[0] for name, stored_hash in ast.literal_eval(stored).items()
    }
    assert methods["ada"] == "scrypt:1024:8:1", methods
    assert methods["teacher"] == "scrypt:32768:8:1", methods


def test_the_accounts_module_left_the_state_to_the_service_user(host):
    # It writes the auth database as the server's user, never as root.
    foreign = host.check_output("find /var/lib/mlflow -not -user mlflow -printf '%p %u\\n'")
    assert foreign == "", foreign


def test_bogus_host_header_is_refused(host):
    # /health and /version answer any Host (load balancers); everything else is checked.
    for path in ("/", SEARCH):
        for bogus in ("attacker.example", f"attacker.example:{settings(host)['port']}"):
            answer = http(host, path, {"Host": bogus, **basic_auth(host)})
            assert answer["status"] == 403, (path, bogus, answer)


def test_inventory_names_are_allowed_hosts(host):
    values = settings(host)
    for name in (values["name"], f"{values['name']}:{values['port']}", "localhost"):
        answer = http(host, SEARCH, {"Host": name, **basic_auth(host)})
        assert answer["status"] == 200, (name, answer)


def test_client_round_trip(host):
    logged = client(host, PIN, "log", "verify", "after-upgrade", VERIFY_RUN)
    found = client(host, PIN, "check", VERIFY_RUN)
    assert found["experiment"] == "verify"
    assert found["status"] == "FINISHED"
    assert found["params"] == {"alpha": "0.5", "tag": "after-upgrade"}
    assert found["losses"] == [1.0, 0.5, 0.25]
    assert found["artifacts"] == ["notes.txt"]
    assert found["artifact"] == "artifact of after-upgrade\n"
    assert found["expected"]["run_id"] == logged["run_id"]


def test_artifacts_are_stored_by_the_server(host):
    run_id = json.loads(host.file(VERIFY_RUN).content_string)["run_id"]
    if settings(host)["artifacts"] == "s3":
        keys = [item["key"] for item in bucket_objects(host) if run_id in item["key"]]
        assert [key.rsplit("/", 1)[-1] for key in keys] == ["notes.txt"], keys
        assert not host.file("/var/lib/mlflow/artifacts").exists
        return
    found = host.run(f"find /var/lib/mlflow/artifacts -path '*{run_id}*' -name notes.txt")
    assert found.stdout.strip(), "artifact not under /var/lib/mlflow/artifacts"
    artifact = host.file(found.stdout.split()[0])
    assert artifact.user == "mlflow" and artifact.mode & 0o007 == 0


def test_model_version_sources_are_checked(host):
    result = client(host, PIN, "register", VERIFY_RUN)
    assert result["allowed"] == "1"
    assert result["rejected"] == "INVALID_PARAMETER_VALUE"


def test_run_logged_before_the_upgrade_is_still_there(host):
    found = client(host, PIN, "check", BEFORE_UPGRADE)
    assert found["params"] == {"alpha": "0.5", "tag": "before-upgrade"}
    assert found["losses"] == [1.0, 0.5, 0.25]
    assert found["artifact"] == "artifact of before-upgrade\n"


def test_upgrade_took_a_backup(host):
    if settings(host)["prepared"] == PIN:
        pytest.skip("this scenario prepares the pin itself: no upgrade")
    suffix = "pgc" if settings(host)["backend"] == "postgresql" else "db"
    backups = host.check_output("ls /var/backups/mlflow-server").split()
    pattern = rf"mlflow-{re.escape(settings(host)['prepared'])}-\d{{8}}T\d{{6}}Z\.{suffix}"
    assert any(re.fullmatch(pattern, backup) for backup in backups), backups
    assert host.file("/var/backups/mlflow-server").mode == 0o700
    assert not host.file("/opt/mlflow-server/upgrade-from").exists


def test_the_server_runs_the_venv_of_the_pin_alone(host):
    venv = host.file("/opt/mlflow-server/venv")
    assert venv.is_symlink and venv.linked_to == f"/opt/mlflow-server/venv-{PIN}"
    venvs = host.check_output("ls -d /opt/mlflow-server/venv-*").split()
    assert venvs == [f"/opt/mlflow-server/venv-{PIN}"], venvs


def test_runs_live_in_the_chosen_backend(host):
    run_id = json.loads(host.file(VERIFY_RUN).content_string)["run_id"]
    database = host.file("/var/lib/mlflow/mlflow.db")
    if settings(host)["backend"] == "postgresql":
        assert not database.exists
        query = f"SELECT count(*) FROM runs WHERE run_uuid = '{run_id}'"
        count = host.check_output(f'runuser -u postgres -- psql -tA -d mlflow -c "{query}"')
        assert count == "1"
        assert host.service("postgresql.service").is_enabled
    else:
        assert (database.user, database.group) == ("mlflow", "mlflow")
        assert database.mode & 0o007 == 0


# The production scenario's object store, listed with the server's key.
BUCKET_OBJECTS = "/opt/mlflow-test-client/bucket_objects.py"
STORE = "seaweedfs.service"


def bucket_objects(host, secret=None, digests=False):
    endpoint, key, real_secret, bucket = settings(host)["s3"]
    argv = ["/opt/mlflow-server/venv/bin/python", BUCKET_OBJECTS, endpoint, key]
    argv += [secret or real_secret, bucket] + (["--sha256"] if digests else [])
    result = host.run(shlex.join(argv))
    assert secret or result.rc == 0, result.stderr
    return json.loads(result.stdout) if result.rc == 0 else result.stderr


def needs_the_object_store(host):
    if settings(host)["artifacts"] != "s3":
        pytest.skip("artifacts are local in this scenario")


def test_object_store_runs_sandboxed_on_loopback(host):
    needs_the_object_store(host)
    service = host.service(STORE)
    assert service.is_running and service.is_enabled
    pid = host.check_output(f"systemctl show --property MainPID --value {STORE}")
    assert host.check_output(f"ps -o user= -p {pid}") == "seaweedfs"
    listening = host.check_output(f"ss -Hltnp | grep 'pid={pid},' | awk '{{print $4}}'").split()
    assert listening and all(address.startswith("127.0.0.1:") for address in listening), listening
    print(f"{STORE}: RSS {int(host.check_output(f'ps -o rss= -p {pid}')) // 1024} MiB")
    assert_sandboxed(host, STORE)
    keys = host.file("/etc/seaweedfs/s3.json")
    assert (keys.user, keys.group, keys.mode) == ("root", "seaweedfs", 0o640)


def test_object_store_refuses_a_wrong_secret(host):
    needs_the_object_store(host)
    assert "SignatureDoesNotMatch" in bucket_objects(host, secret="not-the-secret-0123456789")


def test_a_multipart_artifact_lands_in_the_bucket(host):
    """9 MiB in two 5 MiB parts through the server's multipart proxy."""
    needs_the_object_store(host)
    found = client(host, PIN, "multipart", "multipart", "/home/mlclient/multipart.json")
    assert found["downloaded"] == found["uploaded"], found
    assert "big.bin" in found["artifacts"], found
    stored = [item for item in bucket_objects(host) if found["run_id"] in item["key"]]
    assert [(item["size"], item["etag"].strip('"')[-2:]) for item in stored] == [
        (9 * 1024 * 1024, "-2")
    ], stored
    print(f"9 MiB multipart upload: {found['seconds']:.1f} s")


def restart_under_the_server(host, unit, tag):
    """Restart a unit the server depends on; a client logs right after."""
    before = main_pid(host)
    host.check_output(f"systemctl restart {unit}")
    run = f"/home/mlclient/{tag}.json"
    start = time.monotonic()
    client(host, PIN, "log", "faults", tag, run)
    found = client(host, PIN, "check", run)
    assert found["artifact"] == f"artifact of {tag}\n"
    assert main_pid(host) == before, "the server itself was restarted"
    print(f"{unit} restarted: a run and its artifact logged {time.monotonic() - start:.1f} s later")


def test_object_store_restart_under_a_running_server(host):
    needs_the_object_store(host)
    restart_under_the_server(host, STORE, "after-store-restart")


def test_postgresql_restart_under_a_running_server(host):
    if settings(host)["backend"] != "postgresql":
        pytest.skip("sqlite in this scenario")
    restart_under_the_server(host, "postgresql.service", "after-postgresql-restart")


def test_garbage_collection_removes_deleted_runs_and_their_artifacts(host):
    """The scenarios collect after 0 days: a run deleted now goes with the next gc."""
    run = "/home/mlclient/to-collect.json"
    logged = client(host, PIN, "log", "verify", "to-collect", run)
    client(host, PIN, "delete", run)
    assert client(host, PIN, "exists", run)["stage"] == "deleted"
    assert host.service("mlflow-server-gc.timer").is_enabled
    collected = host.run("systemctl start mlflow-server-gc.service")
    assert collected.rc == 0, journal(host, "mlflow-server-gc.service")
    assert client(host, PIN, "exists", run)["stage"] is None
    run_id = logged["run_id"]
    if settings(host)["artifacts"] == "s3":
        left = [item["key"] for item in bucket_objects(host) if run_id in item["key"]]
    else:
        # MLflow deletes the run's artifacts/ folder and leaves its empty parent.
        found = f"find /var/lib/mlflow/artifacts -path '*{run_id}*' -not -type d"
        left = host.run(found).stdout.split()
    assert left == [], left


# side_effect.yml: a run and a model version of ada's and the account carol,
# backed up, fetched, destroyed on the server and restored from the copy.
BEFORE_RESTORE = "/home/mlclient/before-restore.json"


def test_the_restore_brought_back_adas_run_and_model_version(host):
    found = client(host, PIN, "check", BEFORE_RESTORE)
    assert found["params"] == {"alpha": "0.5", "tag": "before-restore"}
    assert found["losses"] == [1.0, 0.5, 0.25]
    assert found["artifact"] == "artifact of before-restore\n"
    run_id = found["expected"]["run_id"]
    version = json.loads(host.file("/home/mlclient/before-restore-model.json").content_string)
    query = f"name=regex-check-{run_id[:8]}&version={version['allowed']}"
    answer = http(host, f"/api/2.0/mlflow/model-versions/get?{query}", basic_auth(host))
    assert answer["status"] == 200, answer
    assert json.loads(answer["body"])["model_version"]["run_id"] == run_id


def test_the_restore_brought_back_the_accounts_database(host):
    # carol is in no list of the role: only the restored database knows her.
    answer = http(host, SEARCH, basic_auth(host, "carol", "molecule-carol-password"))
    assert answer["status"] == 200, answer


def test_backups_are_root_only_and_scheduled(host):
    names = host.check_output("ls /var/backups/mlflow-server").split()
    backups = [name for name in names if re.fullmatch(r"\d{8}T\d{6}Z", name)]
    assert backups, names
    newest = f"/var/backups/mlflow-server/{sorted(backups)[-1]}"
    assert host.file(newest).mode == 0o700 and host.file(newest).user == "root"
    manifest = json.loads(host.file(f"{newest}/manifest.json").content_string)
    assert manifest["mlflow_version"] == PIN
    assert manifest["sqlite"], manifest  # the users database, at least
    stored = manifest["bucket" if settings(host)["artifacts"] == "s3" else "artifacts"]
    assert stored["files"] >= 2, manifest  # two runs' notes.txt
    others = host.check_output(f"find {newest} -not -user root -o -perm /077 -type f")
    assert others == "", others
    assert host.service("mlflow-server-backup.timer").is_enabled


def test_the_restore_brought_back_every_object_of_the_bucket(host):
    """side_effect.yml: ada uploaded x beside x/y, a 250-character name and
    a 300-character folder (each stopped every backup before), the bucket
    was listed with each object's sha256, backed up, wiped and restored:
    every object is back under its key, byte for byte, and the backup says
    which it had to encode (the one that is also a folder's name, the
    folder too long for a file system)."""
    needs_the_object_store(host)
    before = json.loads(host.file("/root/bucket-before.json").content_string)
    after = {item["key"]: item["sha256"] for item in bucket_objects(host, digests=True)}
    assert before, "nothing was recorded"
    changed = [item["key"] for item in before if after.get(item["key"]) != item["sha256"]]
    assert changed == [], changed
    assert [item for item in before if item["key"].endswith("/" + "n" * 250)], before
    hostile = sorted(
        item["key"] for item in before if item["key"].endswith(("/x/y", "f" * 300 + "/long.txt"))
    )
    assert len(hostile) == 2, [item["key"] for item in before]
    paths = host.check_output("ls /var/backups/mlflow-server/2*/manifest.json").split()
    manifests = [json.loads(host.file(path).content_string) for path in paths]
    encoded = [m["bucket"] for m in manifests if m.get("bucket", {}).get("encoded")]
    assert encoded and sorted(encoded[0]["encoded"].values()) == hostile, encoded
    assert encoded[0]["failed"] == 0, encoded


FAILED = "mlflow-server-failed@mlflow-server-backup.service.service"


def test_a_failed_backup_is_logged_by_name(host):
    """OnFailure=: a backup that fails (here: its command replaced by one
    that fails) puts a critical message naming it in the journal."""
    drop_in = "/run/systemd/system/mlflow-server-backup.service.d"
    host.check_output(
        f"mkdir -p {drop_in} && printf '[Service]\\nExecStart=\\nExecStart=/bin/false\\n'"
        f" > {drop_in}/fail.conf && systemctl daemon-reload"
    )
    try:
        assert host.run("systemctl start mlflow-server-backup.service").rc != 0
        # OnFailure= starts the reporter after the unit failed: wait for it,
        # as long as a loaded machine needs (it stops at the first sight).
        for _ in range(480):
            logged = host.run(f"journalctl -u {FAILED} -o cat --no-pager").stdout
            if "mlflow-server-backup.service failed" in logged:
                break
            time.sleep(0.5)
        assert "mlflow-server-backup.service failed" in logged, logged
    finally:
        host.check_output(
            f"rm -rf {drop_in} && systemctl daemon-reload"
            f" && systemctl reset-failed mlflow-server-backup.service {FAILED}"
        )


BACKUP_UNIT = "mlflow-server-backup.service"
KILL_MID_BACKUP = r"""
systemctl start --no-block mlflow-server-backup.service
for _ in $(seq 4000); do
  partial=$(find /var/backups/mlflow-server -maxdepth 1 -name '.*.partial' -print -quit)
  if [ -n "$partial" ]; then
    systemctl kill --signal=KILL mlflow-server-backup.service
    echo "$partial"
    exit 0
  fi
  sleep 0.005
done
echo missed
"""


def test_a_backup_killed_midway_leaves_the_others_and_the_next_one_succeeds(host):
    folder = "/var/backups/mlflow-server"
    before = host.check_output(f"ls {folder}").split()
    complete = [name for name in before if re.fullmatch(r"\d{8}T\d{6}Z", name)]
    manifests = {
        name: host.file(f"{folder}/{name}/manifest.json").content_string for name in complete
    }
    time.sleep(1)  # a stamp of its own, to the second
    killed = host.check_output(f"bash -c {shlex.quote(KILL_MID_BACKUP)}")
    assert killed != "missed", "the backup finished before it could be killed"
    # Settled once systemd has reaped every process of the killed run: a child
    # blocked on disk I/O can outlive SIGKILL until the unit's stop timeout,
    # and a start before then would join the failing job.
    state = ""
    for _ in range(240):
        state = host.check_output("systemctl show --property ActiveState --value " + BACKUP_UNIT)
        if state in ("inactive", "failed"):
            break
        time.sleep(0.5)
    assert state in ("inactive", "failed"), journal(host, BACKUP_UNIT)
    after = host.check_output(f"ls {folder}").split()
    assert [name for name in after if re.fullmatch(r"\d{8}T\d{6}Z", name)] == complete
    for name, manifest in manifests.items():
        assert host.file(f"{folder}/{name}/manifest.json").content_string == manifest
    started = time.monotonic()
    rerun = host.run(f"systemctl start {BACKUP_UNIT}")
    assert rerun.rc == 0, journal(host, BACKUP_UNIT)
    newest = sorted(n for n in host.check_output(f"ls {folder}").split() if n[0].isdigit())[-1]
    assert newest not in complete and host.file(f"{folder}/{newest}/manifest.json").exists
    assert host.run(f"find {folder} -maxdepth 1 -name '.*.partial'").stdout.strip() == ""
    size = host.check_output(f"du -sh --apparent-size {folder}/{newest} | cut -f1")
    print(f"killed {killed}; the next backup took {time.monotonic() - started:.1f} s, {size}")


# Through the TLS proxy, as a client on the network would: only the given
# CA trusted, redirects not followed.
LAB_CA = "/root/lab-ca.crt"
OTHER_CA = "/root/other-ca.crt"


@pytest.fixture(scope="module")
def cas(host):
    """The lab CA from the control node, and a CA of nobody's, on the server."""
    lab_ca = pathlib.Path(settings(host)["ca"]).read_text()
    host.check_output(f"printf %s {shlex.quote(lab_ca)} > {LAB_CA}")
    host.check_output(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
        f" -subj /CN=other -keyout /root/other-ca.key -out {OTHER_CA} 2>/dev/null"
    )
    return LAB_CA, OTHER_CA


def https(host, path, headers=None, ca=LAB_CA, method="GET", body="", scheme="https", name=None):
    values = settings(host)
    url = f"{scheme}://{name or values['name']}:{values['tls_port']}{path}"
    return request(host, url, headers, method=method, data_file=body, ca=ca, timeout=60)


def test_https_with_the_lab_ca(host, cas):
    for name in (settings(host)["name"], "localhost", "127.0.0.1"):
        answer = https(host, "/health", name=name)
        assert (answer["status"], answer["body"].strip()) == (200, "OK"), (name, answer)
    answer = https(host, SEARCH, basic_auth(host))
    assert answer["status"] == 200, answer
    assert "experiments" in answer["body"]


def test_another_ca_is_refused(host, cas):
    answer = https(host, "/health", ca=OTHER_CA)
    assert answer["status"] == 0
    assert "CERTIFICATE_VERIFY_FAILED" in answer["body"], answer


def test_plain_http_on_the_public_port_only_redirects(host, cas):
    answer = https(host, SEARCH, basic_auth(host), scheme="http")
    assert answer["status"] == 301, answer
    assert answer["headers"]["Location"].startswith("https://"), answer
    assert "experiments" not in answer["body"]


def test_the_web_ui_may_write_from_its_public_origin(host, cas):
    values = settings(host)
    port = "" if values["tls_port"] == 443 else f":{values['tls_port']}"
    body = "/root/search.json"
    host.check_output(f"echo '{{\"max_results\": 1}}' > {body}")
    for origin, status in (
        (f"https://{values['name']}{port}", 200),
        ("https://attacker.example", 403),
    ):
        headers = {"Origin": origin, "Content-Type": "application/json", **basic_auth(host)}
        answer = https(
            host, "/api/2.0/mlflow/experiments/search", headers, method="POST", body=body
        )
        assert answer["status"] == status, (origin, answer)


def test_a_large_artifact_goes_through_the_proxy(host, cas):
    """100 MiB up and down through the proxy's streaming, with basic-auth:
    the upload passes the proxy's login check first."""
    host.check_output("head -c 104857600 /dev/urandom > /root/big.bin")
    wanted = host.check_output("sha256sum /root/big.bin").split()[0]
    start = time.monotonic()
    put = https(host, BIG, basic_auth(host), method="PUT", body="/root/big.bin")
    uploaded = time.monotonic() - start
    assert put["status"] == 200, put
    got = https(host, BIG, basic_auth(host))
    assert (got["status"], got["sha256"]) == (200, wanted)
    print(f"100 MiB through the TLS proxy: up {uploaded:.1f} s")


BIG = "/api/2.0/mlflow-artifacts/artifacts/proxy-test/big.bin"
# A body of SIZE zero bytes sent to the proxy, streamed (chunked, or with its
# Content-Length up front), until the proxy answers or closes; prints the
# status, the bytes sent before the answer and the answer's start.
FLOOD = """
import http.client, json, select, ssl, sys
name, port, path, method, size, chunked, headers, cafile = sys.argv[1:9]
size, block, sent = int(size), bytes(1 << 20), 0
context = ssl.create_default_context(cafile=cafile)
# TLS 1.2: no session tickets after the handshake, so the first byte to
# read is the answer.
context.maximum_version = ssl.TLSVersion.TLSv1_2
connection = http.client.HTTPSConnection(name, int(port), context=context, timeout=120)
connection.putrequest(method, path)
for key, value in json.loads(headers).items():
    connection.putheader(key, value)
connection.putheader("Content-Type", "application/json")
if chunked == "1":
    connection.putheader("Transfer-Encoding", "chunked")
else:
    connection.putheader("Content-Length", str(size))
connection.endheaders()
try:
    # Stop at the first byte of an answer: what the proxy read before it.
    while sent < size and not select.select([connection.sock], [], [], 0)[0]:
        chunk = b"%x\\r\\n%s\\r\\n" % (len(block), block) if chunked == "1" else block
        connection.send(chunk)
        sent += len(block)
except OSError:
    pass
answer = connection.getresponse()
body = answer.read(300).decode(errors="replace")
print(json.dumps({"status": answer.status, "sent": sent, "body": body}))
"""
GIB = 1 << 30


def flood(host, path, method, chunked, headers=None):
    values = settings(host)
    argv = ["python3", "-c", FLOOD, values["name"], str(values["tls_port"]), path, method]
    argv += [str(GIB), "1" if chunked else "0", json.dumps(headers or {}), LAB_CA]
    return json.loads(host.check_output(shlex.join(argv)))


def worker_pids(host):
    """uvicorn's workers (multiprocessing's resource tracker is a child too)."""
    children = host.check_output(f"ps -o pid=,args= --ppid {main_pid(host)}").splitlines()
    return [line.split()[0] for line in children if "spawn_main" in line]


def test_no_large_body_reaches_mlflow_before_a_login(host, cas):
    """1 GiB without a login, or with a wrong password, to each kind of
    route: the API's and the web UI's get 413 after 2 MiB at most (MLflow
    never sees it), the artifact routes 401 before their body is read; no
    worker's peak memory moves (before this, one such POST took a worker
    from 300 MB to 1.5 GB), and the server answers on."""
    workers = worker_pids(host)
    for pid in workers:
        host.check_output(f"echo 5 > /proc/{pid}/clear_refs")  # resets VmHWM
    wrong = {"Authorization": "Basic YWRhOm5vdC1oZXItcGFzc3dvcmQ="}  # ada:not-her-password
    routes = [
        ("/api/2.0/mlflow/runs/log-batch", "POST", 413, None),
        ("/ajax-api/2.0/mlflow/runs/search", "POST", 413, None),
        ("/graphql", "POST", 413, wrong),
        (BIG, "PUT", 401, None),
        ("/ajax-api/2.0/mlflow-artifacts/artifacts/1/x/big.bin", "PUT", 401, wrong),
        # Only an upload carries a body there, logged in or not.
        (BIG, "HEAD", 413, None),
        (BIG, "DELETE", 413, basic_auth(host, *ADA)),
    ]
    for path, method, status, headers in routes:
        for chunked in (True, False):
            answer = flood(host, path, method, chunked, headers)
            assert answer["status"] == status, (path, chunked, answer)
            # What nginx read before answering: its limit and socket buffers.
            assert answer["sent"] < 64 << 20, (path, chunked, answer)
    peaks = {
        pid: int(host.check_output(f"awk '/VmHWM/ {{print $2}}' /proc/{pid}/status")) // 1024
        for pid in workers
    }
    print(f"worker peak RSS after 1 GiB floods (MiB): {peaks}")
    assert max(peaks.values()) < 400, peaks
    assert worker_pids(host) == workers
    assert https(host, "/health")["body"].strip() == "OK"


RUNS_CREATE = "/api/2.0/mlflow/runs/create"
LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"
# A log-batch as large as MLflow takes (1000 entries, 1 MB): 100 params of
# 6000 characters and 900 metrics with long keys, written to a file; prints
# its size.
BATCH = """
import json, sys
params = [{"key": f"p{i:03d}", "value": "v" * 6000} for i in range(100)]
metrics = [{"key": f"m{i:03d}" + "k" * 245, "value": i, "timestamp": 0, "step": 0}
           for i in range(900)]
body = json.dumps({"run_id": sys.argv[1], "params": params, "metrics": metrics})
open(sys.argv[2], "w").write(body)
print(len(body))
"""


def test_credentials_in_another_form_are_refused(host, cas):
    """Only `Basic <canonical base64>` passes the proxy (the scheme in any
    case, any spaces: the same token, the same account's limits). Another
    encoding of the same credentials, which MLflow would take (spare bits set
    in the last character), would give one account another share: 401."""
    token = basic_auth(host, *ADA)["Authorization"].split()[1]
    for header in (f"Basic {token}", f"basic {token}", f"Basic  {token}"):
        assert https(host, SEARCH, {"Authorization": header})["status"] == 200, header
    spare = token.rstrip("=")[:-1] + chr(ord(token.rstrip("=")[-1]) + 1) + "=" * token.count("=")
    for header in (f"Basic {spare}", "Bearer x"):
        answer = https(host, SEARCH, {"Authorization": header})
        assert answer["status"] == 401, (header, answer)


def test_the_largest_log_batch_mlflow_takes_still_passes(host, cas):
    """A log-batch of almost 1 MB, 1000 entries (MLflow refuses larger ones
    itself) is under the proxy's API limit; 3 MB is not."""
    ada = {**basic_auth(host, *ADA), "Content-Type": "application/json"}
    name = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=iris-classification"
    experiment = json.loads(https(host, name, ada)["body"])["experiment"]["experiment_id"]
    host.check_output(f'echo \'{{"experiment_id": "{experiment}"}}\' > /root/create.json')
    created = https(host, RUNS_CREATE, ada, method="POST", body="/root/create.json")
    run_id = json.loads(created["body"])["run"]["info"]["run_id"]
    size = host.check_output(shlex.join(["python3", "-c", BATCH, run_id, "/root/batch.json"]))
    assert 850_000 < int(size) < 1_000_000, size
    answer = https(host, LOG_BATCH, ada, method="POST", body="/root/batch.json")
    assert answer["status"] == 200, answer
    host.check_output("head -c 3000000 /dev/zero > /root/too-large.json")
    answer = https(host, LOG_BATCH, ada, method="POST", body="/root/too-large.json")
    assert answer["status"] == 413 and "API calls take up to" in answer["body"], answer


# HOLD slow downloads of one account at once; each that is let in reads one
# block, then waits until every one has its answer. Then a call of another
# account. Prints the statuses, Retry-After of the refused, the other's.
HOLD = """
import base64, http.client, json, ssl, sys, threading
name, port, path, cafile, holder, other, count = sys.argv[1:8]
context = ssl.create_default_context(cafile=cafile)
def auth(user):
    return {"Authorization": "Basic " + base64.b64encode(user.encode()).decode()}
statuses, retry, lock, all_in = [], [], threading.Lock(), threading.Event()
start = threading.Barrier(int(count))
def call():
    connection = http.client.HTTPSConnection(name, int(port), context=context, timeout=120)
    start.wait()
    connection.request("GET", path, headers=auth(holder))
    answer = connection.getresponse()
    with lock:
        statuses.append(answer.status)
        retry.append(answer.getheader("Retry-After"))
        if len(statuses) == int(count):
            all_in.set()
    if answer.status == 200:
        answer.read(1 << 16)
        all_in.wait(60)
        connection.close()
holders = [threading.Thread(target=call) for _ in range(int(count))]
for thread in holders:
    thread.start()
all_in.wait(60)
connection = http.client.HTTPSConnection(name, int(port), context=context, timeout=120)
connection.request("GET", "/api/2.0/mlflow/experiments/search?max_results=1", headers=auth(other))
others = connection.getresponse().status
for thread in holders:
    thread.join()
retry = sorted(filter(None, retry))
print(json.dumps({"statuses": sorted(statuses), "retry_after": retry, "other": others}))
"""


def test_one_account_gets_a_fair_share_and_the_class_answers_on(host, cas):
    """teacher makes 8 slow downloads at once (2 workers x 4 threads: the
    whole server before the limit): 4 go on, 4 get 429 with Retry-After at
    once, and ada's call is answered meanwhile."""
    values = settings(host)
    argv = ["python3", "-c", HOLD, values["name"], str(values["tls_port"]), BIG, LAB_CA]
    argv += [":".join(TEACHER), ":".join(ADA), "8"]
    held = json.loads(host.check_output(shlex.join(argv)))
    assert held["statuses"] == [200] * 4 + [429] * 4, held
    assert held["retry_after"] == ["1"] * 4, held
    assert held["other"] == 200, held


def test_only_admins_list_the_users(host, cas):
    path = "/api/2.0/mlflow/users/list"
    assert https(host, path, basic_auth(host, *ADA))["status"] == 403
    for account in (basic_auth(host), basic_auth(host, *TEACHER)):
        answer = https(host, path, account)
        assert answer["status"] == 200, answer
        assert "ada" in [user["username"] for user in json.loads(answer["body"])["users"]]
    # The name alone is not enough: MLflow still checks the password.
    assert https(host, path, basic_auth(host, "teacher", "not-the-password"))["status"] == 401


GUARD = "mlflow-server-disk-guard.service"
GUARD_DROP_IN = "/run/systemd/system/mlflow-server-disk-guard.service.d"


def run_the_disk_guard(host, min_free_percent=None):
    """The guard once, as its timer starts it, with a threshold of the test's
    (a drop-in) or the role's."""
    if min_free_percent is None:
        host.check_output(f"rm -rf {GUARD_DROP_IN}")
    else:
        host.check_output(
            f"mkdir -p {GUARD_DROP_IN} && printf '[Service]\\nEnvironment="
            f"MLFLOW_DISK_GUARD_MIN_FREE_PERCENT={min_free_percent}\\n' > {GUARD_DROP_IN}/test.conf"
        )
    started = host.run(f"systemctl daemon-reload && systemctl start {GUARD}")
    assert started.rc == 0, journal(host, GUARD)
    return json.loads(host.file("/run/mlflow-server-disk-guard/state.json").content_string)


def test_the_disk_guard_pauses_uploads_only(host, cas):
    """With less free space than the threshold (here: 100 % wanted), artifact
    uploads get 507 with a message; downloads and the tracking API go on; the
    journal warns; back above it, uploads resume."""
    assert host.service("mlflow-server-disk-guard.timer").is_enabled
    shown = host.check_output(f"systemctl show --property User,RuntimeDirectoryPreserve {GUARD}")
    assert sorted(shown.split()) == ["RuntimeDirectoryPreserve=yes", "User=mlflow"], shown
    state = run_the_disk_guard(host)
    assert state["uploads_paused"] is False and "/var/lib/mlflow" in state["disks"], state
    host.check_output("echo small > /root/small.txt")
    small = "/api/2.0/mlflow-artifacts/artifacts/proxy-test/small.txt"
    try:
        state = run_the_disk_guard(host, 100)
        assert state["uploads_paused"] is True, state
        put = https(host, small, basic_auth(host), method="PUT", body="/root/small.txt")
        assert put["status"] == 507 and "disk is almost full" in put["body"], put
        # The web UI's own upload route too.
        ui = "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=0&path=small.txt"
        put = https(host, ui, basic_auth(host), method="POST", body="/root/small.txt")
        assert put["status"] == 507, put
        assert https(host, BIG, basic_auth(host))["status"] == 200
        assert https(host, SEARCH, basic_auth(host))["status"] == 200
        assert "artifact uploads paused" in journal(host, GUARD)
    finally:
        state = run_the_disk_guard(host)
    assert state["uploads_paused"] is False, state
    put = https(host, small, basic_auth(host), method="PUT", body="/root/small.txt")
    assert put["status"] == 200, put
    assert "artifact uploads resumed" in journal(host, GUARD)


def test_the_lab_ca_signs_for_the_servers_names_only(host, cas, tmp_path):
    """The CA's name constraints: its key (on the control node) cannot make a
    certificate for another site that a seat would trust."""
    ca = pathlib.Path(settings(host)["ca"])
    shown = subprocess.run(
        ["openssl", "x509", "-in", ca, "-noout", "-ext", "nameConstraints"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "critical" in shown and f"DNS:{settings(host)['name']}" in shown, shown
    assert "IP:127.0.0.1/255.255.255.255" in shown, shown
    for name in (settings(host)["name"], "bank.example"):
        key, csr, crt = (tmp_path / f"{name}.{suffix}" for suffix in ("key", "csr", "crt"))
        subprocess.run(
            ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
             "-keyout", key, "-out", csr],
            capture_output=True, check=True,
        )  # fmt: skip
        subprocess.run(
            ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca.with_name("ca.key"),
             "-copy_extensions", "copyall", "-days", "1", "-out", crt],
            capture_output=True, check=True,
        )  # fmt: skip
        verified = subprocess.run(
            ["openssl", "verify", "-CAfile", ca, crt], capture_output=True, text=True, check=False
        )
        if name == "bank.example":
            assert verified.returncode != 0, verified.stdout
            assert "permitted subtree violation" in verified.stdout + verified.stderr, verified
        else:
            assert verified.returncode == 0, verified.stdout + verified.stderr


def test_tls_files_are_private(host):
    key = host.file("/etc/mlflow/tls/server.key")
    assert (key.user, key.mode) == ("root", 0o600)
    assert pathlib.Path(settings(host)["ca"]).with_name("ca.key").stat().st_mode & 0o077 == 0


def test_proxy_sandbox(host):
    # Debian's nginx unit with the lab's hardening on top: it starts as root.
    assert exposure(host, "nginx.service") <= 5.0


def test_kill_9_of_the_main_process_recovers(host):
    """systemd restarts the server within 30 s; it then answers after its usual startup.

    On a cgroup-v2 host systemd restarts it at once (about 2 s). In containers on
    hybrid-cgroup hosts systemd 252 (Debian 12) misses that the rest of the unit
    exited and waits TimeoutStopSec (10 s) first."""
    before = main_pid(host)
    start = time.monotonic()
    host.check_output(f"kill -9 {before}")
    while True:
        show = host.check_output(f"systemctl show --property MainPID,SubState {UNIT}")
        state = dict(line.split("=", 1) for line in show.splitlines())
        if int(state["MainPID"]) not in (before, 0) and state["SubState"] == "running":
            break
        assert time.monotonic() - start < 30, journal(host)
        time.sleep(0.5)
    restarted = time.monotonic() - start
    healthy = wait_healthy(host, 120)
    print(f"kill -9: restarted after {restarted:.1f} s, healthy {healthy:.1f} s later")


def test_reboot_keeps_service_and_runs(host):
    name = settings(host)["name"]
    environment = dict(os.environ)
    subprocess.run(["podman", "restart", "--time", "30", name], check=True, env=environment)
    deadline = time.monotonic() + 120
    state = ""
    while state not in ("running", "degraded") and time.monotonic() < deadline:
        # Right after the restart, systemctl cannot reach systemd yet.
        state = subprocess.run(
            ["podman", "exec", name, "systemctl", "is-system-running", "--wait"],
            capture_output=True, text=True, env=environment, check=False,
        ).stdout.strip()  # fmt: skip
        time.sleep(1)
    assert state in ("running", "degraded"), state
    print(f"healthy {wait_healthy(host, 120):.1f} s after boot")
    assert host.service(UNIT).is_running
    for run, tag in ((BEFORE_UPGRADE, "before-upgrade"), (VERIFY_RUN, "after-upgrade")):
        found = client(host, PIN, "check", run)
        assert found["params"]["tag"] == tag
        assert found["artifact"] == f"artifact of {tag}\n"


def test_sqlite_databases_are_in_wal_mode_after_the_reboot(host):
    """The unit sets sqlite's WAL journal before every start (mlflow_server_sqlite_wal);
    read as the server's user, since a root reader would leave root's -shm file."""
    databases = [
        path
        for path in ("/var/lib/mlflow/mlflow.db", "/var/lib/mlflow/basic_auth.db")
        if host.file(path).exists
    ]
    assert databases, "no sqlite database in either scenario"
    read = (
        "import sqlite3, sys; print(' '.join(sqlite3.connect(path).execute('PRAGMA journal_mode')"
        ".fetchone()[0] for path in sys.argv[1:]))"
    )
    modes = host.check_output(
        shlex.join(["runuser", "-u", "mlflow", "--", "python3", "-c", read, *databases])
    )
    assert modes.split() == ["wal"] * len(databases), modes
    started = host.check_output(f"journalctl -u {UNIT} -o cat --no-pager | grep -c ' wal$' || true")
    assert int(started) >= len(databases), journal(host)
