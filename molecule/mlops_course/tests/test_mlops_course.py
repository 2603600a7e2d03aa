"""What each student finds on a provisioned seat, checked as that student.

Each remote command costs seconds through the harness's connection, so the
checks run in two batches per student (one as root, one as the student) and
the tests assert on their output."""

import csv
import hashlib
import json
import os
import pathlib
import shlex

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCENARIO = pathlib.Path(__file__).resolve().parents[1]
DEFAULTS = yaml.safe_load((ROOT / "roles/mlops_course/defaults/main.yml").read_text())
LOCK = (ROOT / "files/course/uv.lock").read_text()
STARTER = ROOT / "files/course/project"
ROOT_STATE = (SCENARIO / "files/root_state.py").read_text()
# Starts the marker lines between the outputs of the checks.
MARK = "#=mlops-course-check=# "
PROJECT = DEFAULTS["mlops_course_project_dir"]
SEED_ENV_KEYS = {
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "DATABASE_URL",
    "API_HOST",
    "API_PORT",
    "DEBUG",
    "LOG_LEVEL",
}

# Run as root: what is at each path below the project, and a few files.
INSPECT = r"""
import json, os, pwd, stat, sys
project, paths = sys.argv[1], sys.argv[2:]
def info(path):
    try:
        s = os.lstat(path)
    except FileNotFoundError:
        return None
    kind = "dir" if stat.S_ISDIR(s.st_mode) else "file" if stat.S_ISREG(s.st_mode) else "other"
    return {"kind": kind, "user": pwd.getpwuid(s.st_uid).pw_name, "mode": stat.S_IMODE(s.st_mode),
            "size": s.st_size}
def text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None
print(json.dumps({
    "paths": {p: info(os.path.join(project, p)) for p in paths},
    "text": {p: text(os.path.join(project, p)) for p in paths if p.endswith((".env", ".gitignore",
             ".py", ".csv", "pyproject.toml"))},
}))
"""

# Run as the student in the project: one section per check.
AS_STUDENT = {
    "import": 'uv run python -c "import mlflow"',
    "mlflow-version": "uv run mlflow --version",
    "config": (
        "uv run python -c 'from src.utils.config import Config as C; "
        "print(C.DEBUG is True, C.API_PORT == 8000, C.LOG_LEVEL, C.MLFLOW_EXPERIMENT_NAME)'"
    ),
    "train": (
        "store=$(mktemp -d) && export MLFLOW_TRACKING_URI=sqlite:///$store/mlflow.db && "
        "uv run python -m src.models.train --c 0.5 >/dev/null 2>&1 && "
        "uv run python -c 'import mlflow; "
        'runs = mlflow.search_runs(experiment_names=["iris-classification"]); '
        "models = mlflow.search_logged_models(experiment_ids=list(runs.experiment_id)); "
        'print(len(runs), runs["metrics.accuracy"].iloc[0], runs["params.C"].iloc[0], '
        "len(models))'"
    ),
    "git-log": "git log --format='%an|%ae|%s'",
    "git-branch": "git branch --show-current",
    "git-files": "git ls-files",
    "git-remote": "git remote -v",
    "pre-commit": "uv run pre-commit run --all-files",
    "pre-commit-clones": "ls ~/.cache/pre-commit | grep -c '^repo' || true",
    "pytest": "uv run pytest -q tests",
    "cache-dir": "uv cache dir",
    "optuna": ".venv/bin/python -c 'import optuna'",
    "torch": ".venv/bin/python -c 'import torch'",
    "packages": "uv pip list",
    "sklearn-links": (
        ".venv/bin/python -c 'import sklearn; print(sklearn.__file__)' | xargs stat -c '%U %h'"
    ),
    # Last: the checks above leave nothing for git to see.
    "git-status": "git status --porcelain",
}


def students_of(hostname):
    """The well-behaved students the scenario's host_vars give each platform."""
    if hostname == "mlops_course-debian12":
        with (ROOT / "files/roster.example.csv").open() as roster:
            return list(csv.DictReader(roster))
    return [entry for entry in host_vars_of(hostname)["lab_students"] if isinstance(entry, dict)]


def host_vars_of(hostname):
    return yaml.safe_load((SCENARIO / f"host_vars/{hostname}.yml").read_text())


def locked_version(package):
    return LOCK.split(f'\nname = "{package}"\nversion = "', 1)[1].split('"', 1)[0]


def seed_gitignore():
    template = (ROOT / "roles/mlops_course/templates/mlops-course/.gitignore.j2").read_text()
    return [line for line in template.splitlines()[1:] if line and line[0] not in "#!"]


def expected_paths():
    # Not docker/: side_effect.yml removes it from the first student's project.
    dirs = [path for path in DEFAULTS["mlops_course_directories"] if path != "docker"]
    packages = [f"{package}/__init__.py" for package in DEFAULTS["mlops_course_packages"]]
    starter = [str(path.relative_to(STARTER)) for path in STARTER.rglob("*.py")]
    samples = [f"data/raw/{name}.csv" for name in DEFAULTS["mlops_course_sample_datasets"]]
    fixed = [".env", ".gitignore", ".pre-commit-config.yaml", "pyproject.toml", "uv.lock"]
    return sorted(set(dirs + packages + starter + samples + fixed + [".git/hooks/pre-commit"]))


@pytest.fixture(scope="module")
def hostname(host):
    return host.backend.get_hostname()


@pytest.fixture(scope="module")
def students(hostname):
    return students_of(hostname)


@pytest.fixture(scope="module")
def inspected(host, students):
    """Per student: the project's paths and files, seen by root."""
    result = {}
    for student in students:
        project = f"/home/{student['user']}/{PROJECT}"
        argv = ["python3", "-c", INSPECT, project, *expected_paths(), "docker"]
        out = host.run(shlex.join(argv))
        assert out.rc == 0, out.stderr
        result[student["user"]] = json.loads(out.stdout)
    return result


@pytest.fixture(scope="module")
def checks(host, students):
    """Per student: {check: (rc, output)} for the AS_STUDENT commands."""
    script = "\n".join(
        f"echo '{MARK}check {name}'; ( {command} ) 2>&1; echo \"{MARK}rc $?\""
        for name, command in AS_STUDENT.items()
    )
    result = {}
    for student in students:
        full = f"cd ~/{PROJECT} && {{\n{script}\n}}"
        out = host.run(f"runuser -u {student['user']} -- bash -lc {shlex.quote(full)}")
        sections, name, lines = {}, None, []
        for line in out.stdout.splitlines():
            if line.startswith(f"{MARK}check "):
                name, lines = line.removeprefix(f"{MARK}check "), []
            elif line.startswith(f"{MARK}rc "):
                sections[name] = (int(line.removeprefix(f"{MARK}rc ")), "\n".join(lines))
            else:
                lines.append(line)
        assert set(sections) == set(AS_STUDENT), out.stderr
        result[student["user"]] = sections
    return result


def ok(checks, user, name):
    rc, output = checks[user][name]
    assert rc == 0, f"{name} as {user} failed (rc={rc}):\n{output}"
    return output


def test_mlflow_imports_in_the_project_env(checks, students):
    for student in students:
        assert ok(checks, student["user"], "import").strip() == ""


def test_mlflow_cli_is_the_locked_version(checks, students):
    for student in students:
        assert locked_version("mlflow") in ok(checks, student["user"], "mlflow-version")


def test_starter_experiment_logs_a_run(checks, students):
    # A local database file: the tracking backend MLflow recommends (its
    # plain-directory store refuses new use by default).
    for student in students:
        runs, accuracy, c_param, models = ok(checks, student["user"], "train").split()[-4:]
        assert (runs, c_param, models) == ("1", "0.5", "1")
        assert float(accuracy) > 0.8


def test_folder_structure_and_packages(inspected, students):
    for student in students:
        paths = inspected[student["user"]]["paths"]
        for folder in DEFAULTS["mlops_course_directories"]:
            if folder != "docker":
                assert (paths[folder] or {}).get("kind") == "dir", folder
        for path in expected_paths():
            assert paths[path] is not None, path
    for student in students[1:]:
        assert inspected[student["user"]]["paths"]["docker"]["kind"] == "dir"


def test_everything_belongs_to_the_student(inspected, students):
    for student in students:
        for path, info in inspected[student["user"]]["paths"].items():
            assert info is None or info["user"] == student["user"], path


def test_gitignore_has_the_seed_entries(inspected, students):
    for student in students:
        lines = inspected[student["user"]]["text"][".gitignore"].splitlines()
        for entry in seed_gitignore():
            assert entry in lines, entry


def test_env_is_private_and_complete(host, inspected, hostname, students):
    # As the lab's group_vars render them.
    lab = host.ansible(
        "debug",
        "msg={{ {'uri': mlops_course_mlflow_tracking_uri, 'env': mlops_course_env_extra} }}",
        check=False,
    )["msg"]
    for student in students:
        seen = inspected[student["user"]]
        assert seen["paths"][".env"]["mode"] == 0o600
        assert seen["paths"][".env"]["user"] == student["user"]
        env = seen["text"][".env"]
        assert {line.split("=")[0] for line in env.splitlines() if "=" in line} >= SEED_ENV_KEYS
        assert f"MLFLOW_TRACKING_URI={lab['uri']}\n" in env
        for key, value in lab["env"].items():
            assert f"\n{key}={value}\n" in env
        extra = host_vars_of(hostname).get("mlops_course_student_env", {}).get(student["user"], {})
        for key, value in extra.items():
            assert f"\n{key}={value}\n" in env


def test_config_reads_env_with_types(checks, students):
    for student in students:
        assert ok(checks, student["user"], "config").split() == [
            "True",
            "True",
            "INFO",
            "iris-classification",
        ]


def test_sample_data_is_local_and_untracked(inspected, checks, students):
    for student in students:
        seen = inspected[student["user"]]
        assert len(seen["text"]["data/raw/iris.csv"].splitlines()) == 151
        for name in DEFAULTS["mlops_course_sample_datasets"]:
            assert seen["paths"][f"data/raw/{name}.csv"]["size"] > 0
        files = ok(checks, student["user"], "git-files").split()
        assert not [path for path in files if path.startswith("data/")]


def test_git_repository_with_the_first_commit(checks, students):
    for student in students:
        user = student["user"]
        log = ok(checks, user, "git-log").strip().splitlines()
        assert log == [f"{student['name']}|{student['email']}|Initial commit: project structure"]
        assert ok(checks, user, "git-branch").strip() == "main"
        files = ok(checks, user, "git-files").split()
        for path in ("pyproject.toml", "uv.lock", ".gitignore", "src/models/train.py"):
            assert path in files
        assert ".env" not in files
        # side_effect.yml's edit, for the first student only.
        edited = [" M src/utils/config.py"] if student is students[0] else []
        assert ok(checks, user, "git-status").splitlines() == edited
        remotes = ok(checks, user, "git-remote")
        if student.get("git_remote"):
            assert f"origin\t{student['git_remote']} (push)" in remotes
        else:
            assert remotes == ""


def test_pre_commit_hooks_are_local_and_pass(inspected, checks, students):
    for student in students:
        hook = inspected[student["user"]]["paths"][".git/hooks/pre-commit"]
        assert hook["mode"] & 0o100
        out = ok(checks, student["user"], "pre-commit")
        assert "ruff" in out and "black" in out
        assert ok(checks, student["user"], "pre-commit-clones").strip() == "0"


def test_starter_tests_pass(checks, students):
    for student in students:
        assert "passed" in ok(checks, student["user"], "pytest")


def test_pyproject_metadata_and_authors(inspected, students):
    for student in students:
        text = inspected[student["user"]]["text"]["pyproject.toml"]
        assert 'name = "mlops-course"' in text
        assert 'version = "0.1.0"' in text
        assert 'description = "MLOps course using MLFlow"' in text
        assert f'{{name = "{student["name"]}", email = "{student["email"]}"}}' in text
        assert 'build-backend = "hatchling.build"' in text
        assert "explicit = true" in text


def test_install_groups(checks, hostname, students):
    groups = host_vars_of(hostname).get("mlops_course_install_groups", ["dev"])
    for student in students:
        rc, output = checks[student["user"]]["optuna"]
        assert (rc == 0) == ("ml" in groups), output
        # sentence-transformers is left out of this lab's lock: no torch at all.
        assert checks[student["user"]]["torch"][0] != 0
        assert "nvidia" not in ok(checks, student["user"], "packages")


def test_each_student_has_a_private_uv_cache(checks, students):
    for student in students:
        user = student["user"]
        assert ok(checks, user, "cache-dir").strip() == f"/home/{user}/.cache/uv"
        # Hardlinked out of the student's own cache (link mode hardlink): the
        # venv costs no disk beyond the cache, and both are the student's.
        owner, links = ok(checks, user, "sklearn-links").split()
        assert owner == user
        assert int(links) >= 2


def test_records_are_root_only(host, students):
    for student in students:
        record = host.file(f"{DEFAULTS['mlops_course_state_dir']}/{student['user']}.json")
        assert (record.user, record.mode) == ("root", 0o600)


def test_accounts(host, students):
    for student in students:
        account = host.user(student["user"])
        assert account.shell == "/bin/bash"
        home = host.file(account.home)
        assert (home.user, home.mode) == (student["user"], 0o700)
        if student.get("ssh_key"):
            keys = host.file(f"{account.home}/.ssh/authorized_keys").content_string
            assert student["ssh_key"] in keys
        if student.get("password_hash"):
            shadow = host.check_output(f"getent shadow {student['user']}")
            assert shadow.split(":")[1] == student["password_hash"]


def test_student_edit_survived_reprovisioning(host, inspected, students):
    # side_effect.yml edits config.py and removes docker/ as the first
    # student, then provisions again.
    student = students[0]
    seen = inspected[student["user"]]
    assert "STUDENT_EDIT = True" in seen["text"]["src/utils/config.py"]
    assert seen["paths"]["docker"] is None
    record = host.file(f"{DEFAULTS['mlops_course_state_dir']}/{student['user']}.json")
    original = (STARTER / "src/utils/config.py").read_bytes()
    assert json.loads(record.content_string)["files"]["src/utils/config.py"] == (
        hashlib.sha1(original).hexdigest()
    )


def test_students_cannot_reach_each_other(host, hostname):
    """Every account of the seat, hostile included, tries every other one's
    project, venv and uv cache (one remote call: a line per attempt)."""
    users = [student["user"] for student in students_of(hostname)]
    users.append(host_vars_of(hostname)["test_hostile_student"]["user"])
    attempts = {
        "read the project of": "cat ~{other}/mlops-course/pyproject.toml",
        "list the home of": "ls ~{other}",
        "write into the venv of": "touch ~{other}/mlops-course/.venv/bin/planted",
        "write into the uv cache of": "touch ~{other}/.cache/uv/planted",
    }
    lines = [
        f"runuser -u {user} -- bash -c {shlex.quote(command.format(other=other))} 2>&1"
        f" | grep -q 'Permission denied' && echo 'refused: {user} {what} {other}'"
        f" || echo 'ALLOWED: {user} {what} {other}'"
        for user in users
        for other in users
        if other != user
        for what, command in attempts.items()
    ]
    out = host.run("\n".join(lines))
    results = out.stdout.splitlines()
    assert len(results) == len(lines), out.stderr
    assert [line for line in results if not line.startswith("refused: ")] == []


def reported(hostname):
    """Every message, refusal and warning side_effect.yml's re-run reported
    for the host (its JSON report), and the host's stats."""
    path = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "rerun.json"
    text = path.read_text()
    # The report is the one line-leading JSON object (profile_tasks prints too).
    report, _ = json.JSONDecoder().raw_decode(text, text.index("\n{") + 1 if text[0] != "{" else 0)
    lines = []
    for play in report["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get(hostname, {})
            for item in result.get("results", [result]):
                for key in ("msg", "refused", "warnings"):
                    if item.get(key):
                        lines.append(json.dumps(item[key]))
    return lines, report["stats"][hostname]


def test_rerun_refused_every_planted_link(hostname):
    lines, stats = reported(hostname)
    assert (stats["failures"], stats["unreachable"]) == (0, 0), stats
    home = "/home/" + host_vars_of(hostname)["test_hostile_student"]["user"]
    if hostname == "mlops_course-debian12":
        expected = {
            f"{home}/.gitconfig is a symbolic link": [],
            f"{home}/.ssh: a link, not a folder": [],
            "Refused, a link or below one": ["the project folder itself"],
        }
    else:
        expected = {
            f"{home}/.gitconfig is a symbolic link": [],
            f"{home}/.ssh/authorized_keys: a link, not a regular file": [],
            "Refused, a link or below one": [
                ".env",
                ".git/hooks",
                ".venv",
                "data/raw",
                "~/.cache/uv",
            ],
        }
    for said, paths in expected.items():
        found = [line for line in lines if said in line]
        assert found, f"the re-run did not report {said!r}:\n" + "\n".join(lines)
        for path in paths:
            assert path in found[0], found[0]


def test_no_root_owned_target_changed(host):
    before = json.loads(host.file("/root/hostile-before.json").content_string)
    out = host.run(f"python3 -c {shlex.quote(ROOT_STATE)}")
    assert out.rc == 0, out.stderr
    assert json.loads(out.stdout) == before
