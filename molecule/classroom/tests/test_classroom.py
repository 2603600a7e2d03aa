"""After site.yml and the readiness check, the lab server holds a run from
every student of every seat, each logged under the student's own account.
The class runs the private permission model, with grace as instructor; the
side effect lost ada's password and rotated the admin's before the check,
then reset ada's project and offboarded barbara (not in STUDENTS)."""

import base64
import json
import os
import pathlib
import re
import subprocess
import tarfile

import pytest
from service_checks import request

OLD_ADMIN = ("admin", "classroom-admin-Passw0rd")
ADMIN = ("admin", "classroom-admin-Rotated-2")
STUDENTS = {"ada", "grace", "alan"}
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))


def password_of(user):
    """A student's generated MLflow password, as the control node keeps it."""
    text = (EPHEMERAL / ".credentials" / "mlflow" / "students" / user).read_text()
    return text.split(" salt=")[0].strip()


def report_results(name):
    """{task name: [results]} of a recorded run (molecule/shared/rerun.yml)."""
    text = (EPHEMERAL / name).read_text()
    report, _ = json.JSONDecoder().raw_decode(text, text.index("{"))
    results = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            results.setdefault(task["task"]["name"], []).extend(task["hosts"].values())
    return results


def api(host, path, body="", auth=ADMIN):
    """An MLflow REST call as the given account, on the server: {status, body (parsed)}."""
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {token}"}
    answer = request(host, f"http://127.0.0.1:5000/api/2.0/mlflow/{path}", headers, data=body)
    return {
        "status": answer["status"],
        "body": json.loads(answer["body"]) if answer["status"] == 200 else {},
    }


@pytest.fixture(scope="module")
def server(host):
    if host.backend.get_hostname() != "classroom-server":
        pytest.skip("server checks")
    return host


def runs_of(server, experiment_name):
    experiment = api(server, f"experiments/get-by-name?experiment_name={experiment_name}")
    assert experiment["status"] == 200, experiment
    experiment_id = experiment["body"]["experiment"]["experiment_id"]
    runs = api(
        server,
        "runs/search",
        json.dumps({"experiment_ids": [experiment_id], "max_results": 1000}),
    )
    assert runs["status"] == 200, runs
    return runs["body"].get("runs", [])


def test_every_student_logged_a_readiness_run_tagged_with_the_seat(server):
    """Private mode: into a readiness experiment of each student's own."""
    finished = {}
    for student in STUDENTS | {"barbara"}:
        for run in runs_of(server, f"lab-readiness-{student}"):
            tags = {tag["key"]: tag["value"] for tag in run["data"].get("tags", [])}
            if run["info"]["status"] == "FINISHED" and "lab.student" in tags:
                assert tags["lab.student"] == run["info"]["user_id"] == student, tags
                finished[tags["lab.student"]] = tags["lab.seat"]
    assert finished == {
        "ada": "classroom-seat1",
        "grace": "classroom-seat1",
        "alan": "classroom-seat2",
        "barbara": "classroom-seat2",
    }


def test_the_students_experiments_hold_no_readiness_runs(server):
    for student in STUDENTS:
        runs = runs_of(server, f"iris-classification-{student}")
        names = [run["info"].get("run_name", "") for run in runs]
        assert not [name for name in names if name.startswith("readiness-check")], names


def test_every_student_has_an_own_account(server):
    for student in STUDENTS:
        assert api(server, f"users/get?username={student}")["status"] == 200
    # The students' credentials are not the admin's, and anonymous calls fail.
    assert api(server, "experiments/search", '{"max_results": 1}', auth=("", ""))["status"] == 401


def test_the_rotated_admin_password_replaced_the_old_one(server):
    assert api(server, "users/get?username=admin", auth=OLD_ADMIN)["status"] == 401
    assert api(server, "users/get?username=admin")["status"] == 200


def test_the_rerun_set_the_lost_and_the_rotated_password_again():
    text = (EPHEMERAL / "rerun.json").read_text()
    messages = [
        result.get("msg", "")
        for name, results in report_results("rerun.json").items()
        if name.endswith("Report what changed in the MLflow accounts")
        for result in results
    ]
    assert len(messages) == 1, messages
    assert re.fullmatch(
        r"password set again: admin, ada; permissions revoked: alan:iris-classification-ada;"
        r" renamed back: alan-renamed -> iris-classification-alan;"
        r" renamed away \(held a name of the lab's\): (\d+): iris-classification-alan ->"
        r" iris-classification-alan \(experiment \1, renamed: the name is the lab's\)",
        messages[0],
    ), messages
    assert OLD_ADMIN[1] not in text and ADMIN[1] not in text and password_of("ada") not in text


def experiment_of(server, student, auth=ADMIN):
    """A student's private experiment, as the given account sees it."""
    return api(
        server, f"experiments/get-by-name?experiment_name=iris-classification-{student}", auth=auth
    )


def create_run(server, experiment, auth):
    body = json.dumps({"experiment_id": experiment["body"]["experiment"]["experiment_id"]})
    return api(server, "runs/create", body, auth=auth)


def test_a_student_sees_only_their_own_experiment(server):
    ada = ("ada", password_of("ada"))
    own = experiment_of(server, "ada", auth=ada)
    assert own["status"] == 200, own
    run = create_run(server, own, auth=ada)
    assert run["status"] == 200, run
    other = experiment_of(server, "alan", auth=ada)
    assert other["status"] == 403, other
    # alan's stray MANAGE on ada's experiment was revoked by the re-run.
    assert experiment_of(server, "ada", auth=("alan", password_of("alan")))["status"] == 403
    listed = api(server, "experiments/search", '{"max_results": 100}', auth=ada)
    names = {experiment["name"] for experiment in listed["body"].get("experiments", [])}
    assert not names & {"iris-classification-alan", "iris-classification-grace"}, names
    # The readiness runs too: each student's own experiment, no classmate's.
    assert not names & {"lab-readiness", "lab-readiness-alan", "lab-readiness-grace"}, names
    name = "experiments/get-by-name?experiment_name=lab-readiness-alan"
    assert api(server, name, auth=ada)["status"] == 403
    assert api(server, name, auth=("grace", password_of("grace")))["status"] == 200


def test_the_instructor_reads_every_students_experiment(server):
    grace = ("grace", password_of("grace"))
    for student in STUDENTS:
        assert experiment_of(server, student, auth=grace)["status"] == 200, student
    # Reading is all: the instructor cannot log into a student's experiment.
    run = create_run(server, experiment_of(server, "ada"), auth=grace)
    assert run["status"] == 403, run


def test_seat_env_points_at_the_server_with_student_credentials(host):
    if not host.backend.get_hostname().startswith("classroom-seat"):
        pytest.skip("seat checks")
    homes = host.check_output("getent passwd | awk -F: '$3 >= 1000 && $3 < 60000 {print $6}'")
    assert homes, "the seat has students"
    for home in homes.split():
        env = host.file(f"{home}/mlops-course/.env")
        assert env.exists
        assert env.mode == 0o600
        text = env.content_string
        assert "MLFLOW_TRACKING_URI=https://classroom-server\n" in text
        assert "MLFLOW_TRACKING_SERVER_CERT_PATH=/etc/ssl/certs/ca-certificates.crt" in text
        user = home.rsplit("/", 1)[1]
        assert f"MLFLOW_EXPERIMENT_NAME=iris-classification-{user}\n" in text
        assert f"MLFLOW_TRACKING_USERNAME={user}\n" in text
        # The control node's password, also for ada, whose file was lost.
        assert f"MLFLOW_TRACKING_PASSWORD={password_of(user)}\n" in text
        assert ADMIN[1] not in text and OLD_ADMIN[1] not in text


# From a seat, over the classroom network, as a student: only the lab CA
# (the file the seat was given) is trusted.
LAB_CA = "/usr/local/share/ca-certificates/mlops-lab/mlops-lab-ca.crt"


def test_a_seat_reaches_the_server_over_https_trusting_only_the_lab_ca(host):
    if host.backend.get_hostname() != "classroom-seat1":
        pytest.skip("seat checks")
    for cafile, status in ((LAB_CA, 200), ("/etc/ssl/certs/ca-certificates.crt", 200)):
        answer = request(host, "https://classroom-server/health", ca=cafile, user="ada")
        assert (answer["status"], answer["body"].strip()) == (status, "OK"), (cafile, answer)
    # Python's own CA list (certifi, as MLflow's client uses by default) lacks the lab CA.
    certifi = "/usr/lib/python3/dist-packages/certifi/cacert.pem"
    if host.file(certifi).exists:
        answer = request(host, "https://classroom-server/health", ca=certifi)
        assert "CERTIFICATE_VERIFY_FAILED" in answer["body"], answer
    # Plain HTTP to MLflow's own port does not reach the server: it listens on loopback.
    assert request(host, "http://classroom-server:5000/health")["status"] == 0


def test_the_readiness_check_limited_to_a_seat_covers_that_seat_and_fails_for_it():
    """side_effect.yml made alan's starter log nothing while his login file
    prints a run line, and barbara's login file flood every command's
    output, then checked their seat alone: neither passes for ready, and
    each reason says what failed."""
    results = report_results("verify-limited.json")
    table = "\n".join(results["Show the readiness table"][0]["msg"])
    assert "classroom-seat2" in table and "classroom-seat1" not in table, table
    assert "0123456789abcdef0123456789abcdef" not in table, table
    failure = results["Fail when a seat or the server is not ready"][0]
    assert failure.get("failed"), failure
    assert re.search(
        r"classroom-seat2/alan \(finding and tagging the run failed \(exit 1\)"
        r": error: 0 runs named readiness-check-[0-9a-f]{16}",
        failure["msg"],
    ), failure
    barbara = "classroom-seat2/barbara (import mlflow failed (killed after 1 MiB of output)"
    assert barbara in failure["msg"], failure


def test_the_class_report_counts_each_students_runs():
    """playbooks/report.yml after ada's one training run (side_effect.yml)."""
    rows = {}
    report = (EPHEMERAL / "class.md").read_text()
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] in STUDENTS:
            rows[cells[0]] = cells
    assert set(rows) == STUDENTS, rows
    assert rows["ada"][1] == "1" and 0.5 < float(rows["ada"][3]) <= 1.0, rows["ada"]
    assert rows["alan"][1:] == ["0", "-", "-"], rows["alan"]
    # The server's disk, as its guard measured it, and its backups.
    server = re.search(r"^Server: /var/lib/mlflow (\d+\.\d)% free.*; (\d+) backups", report, re.M)
    assert server and float(server.group(1)) > 0, report


DEMO_RUNS = {"demo-c0.01", "demo-c0.1", "demo-c1", "demo-c10"}


def test_the_demo_was_made_once_by_the_instructor(server):
    """site.yml made grace's demo at converge; idempotence and the re-run added nothing."""
    runs = runs_of(server, "iris-demo")
    names = sorted(run["info"]["run_name"] for run in runs)
    assert names == sorted(DEMO_RUNS), names
    assert {run["info"]["user_id"] for run in runs} == {"grace"}
    assert {run["info"]["status"] for run in runs} == {"FINISHED"}
    accuracy = {
        run["info"]["run_id"]: {m["key"]: m["value"] for m in run["data"]["metrics"]}["accuracy"]
        for run in runs
    }
    model = api(server, "registered-models/get?name=iris-classifier")
    assert model["status"] == 200, model
    versions = api(server, "model-versions/search?filter=name%3D%27iris-classifier%27")
    by_version = {v["version"]: v["run_id"] for v in versions["body"]["model_versions"]}
    assert sorted(by_version.values()) == sorted(accuracy), by_version
    aliases = {a["alias"]: a["version"] for a in model["body"]["registered_model"]["aliases"]}
    assert accuracy[by_version[aliases["champion"]]] == max(accuracy.values()), aliases
    # A student reads the demo in the private model too, but cannot log to it.
    ada = ("ada", password_of("ada"))
    demo = api(server, "experiments/get-by-name?experiment_name=iris-demo", auth=ada)
    assert demo["status"] == 200, demo
    assert create_run(server, demo, auth=ada)["status"] == 403
    demo_task = "Run the missing demo runs and registrations, as the instructor"
    rerun = report_results("rerun.json")[demo_task]
    assert [result.get("changed") for result in rerun if not result.get("skipped")] == [False]


def test_the_reset_kept_adas_work_and_gave_back_a_working_project(host):
    if host.backend.get_hostname() != "classroom-seat1":
        pytest.skip("seat checks")
    results = report_results("reset.json")["Say where the student's files are"]
    [message] = [result["msg"] for result in results if not result.get("skipped")]
    kept = message.split("(everything but .git and data/, which stayed): ")[1].split(" ")[0]
    assert kept.startswith("/home/ada/mlops-course-reset-"), message
    print(message)
    folder = host.file(kept)
    assert (folder.user, folder.mode) == ("ada", 0o700)
    # What ada added is where the reset said, as she left it.
    assert host.file(f"{kept}/notes.md").content_string == "ada's notes\n"
    assert not host.file(f"{kept}/src").exists  # she had deleted it
    # Her commit is in the history; the course's files are back.
    project = "/home/ada/mlops-course"
    log = host.check_output(f"runuser -u ada -- git -C {project} log --format=%s")
    assert "ada's change before the reset" in log.splitlines(), log
    git = f"runuser -u ada -- git -C {project}"
    committed = host.check_output(f"{git} show HEAD:src/models/train.py")
    assert "# ada: try a smaller C next" in committed
    assert host.file(f"{project}/src/models/train.py").exists
    assert host.file(f"{project}/.venv/bin/python").is_symlink


def test_the_reset_project_trained_again(server):
    """side_effect.yml ran train.py as ada in the project the reset gave back."""
    runs = runs_of(server, "iris-classification-ada")
    assert "after-reset" in [run["info"].get("run_name") for run in runs]


OFFBOARD = EPHEMERAL / "offboard" / "barbara"


def test_the_offboard_archive_restores_barbaras_project(tmp_path):
    assert OFFBOARD.stat().st_mode & 0o777 == 0o700
    manifest = json.loads((OFFBOARD / "manifest.json").read_text())
    sizes = {path.name: path.stat().st_size for path in OFFBOARD.iterdir()}
    print(f"barbara's archive: {sum(sizes.values())} bytes {sizes}")
    clone = tmp_path / "project"
    bundle = OFFBOARD / "classroom-seat2.bundle"
    subprocess.run(["git", "clone", "--quiet", str(bundle), str(clone)], check=True)
    log = subprocess.run(
        ["git", "-C", str(clone), "log", "--format=%s"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert "barbara's work" in log, log
    assert (clone / "src/models/liskov.py").read_text() == "print('abstraction')\n"
    with tarfile.open(OFFBOARD / "classroom-seat2-untracked.tar") as archive:
        assert "draft.txt" in archive.getnames()
    # What she changed and never committed applies to the clone.
    patch = OFFBOARD / "classroom-seat2-uncommitted.patch"
    subprocess.run(["git", "-C", str(clone), "apply", str(patch)], check=True)
    assert "# barbara: not committed yet" in (clone / "src/models/train.py").read_text()
    runs = json.loads((OFFBOARD / "mlflow-runs.json").read_text())["runs"]
    assert manifest["mlflow"]["runs"] == len(runs) >= 1
    assert manifest["seats"]["classroom-seat2"]["commits"] == len(log)


def test_offboarding_removed_the_accounts_only_when_asked(host):
    """The first run archived only (side_effect.yml then found the account);
    the second, with offboard_remove, took the seat and MLflow accounts."""
    first = report_results("offboard.json")
    assert all(result.get("skipped") for result in first["Remove the accounts and their homes"])
    second = report_results("offboard-remove.json")
    assert any(result.get("changed") for result in second["Remove the accounts and their homes"])
    if host.backend.get_hostname() == "classroom-seat2":
        assert not host.user("barbara").exists
        assert not host.file("/home/barbara").exists
        assert host.user("alan").exists
    if host.backend.get_hostname() == "classroom-server":
        assert api(host, "users/get?username=barbara")["status"] == 404
        assert api(host, "users/get?username=alan")["status"] == 200
