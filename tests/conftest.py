"""Helpers for the fast tests: real ansible-playbook runs on localhost, in
check mode, with no containers. Each run's JSON report is parsed."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The ansible-playbook of the venv that runs pytest.
ANSIBLE_PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
# Modules on localhost run with this interpreter, not whatever is on PATH.
LOCAL_PYTHON = ["-e", f"ansible_python_interpreter={sys.executable}"]
# Roles with an interface of their own (lab_common only serves the others).
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks/main.yml").is_file())


class PlaybookRun:
    def __init__(self, completed, host=None):
        """The run as `host` saw it (None: localhost, or the first host of each task)."""
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        # The report, without what other callbacks print after it.
        report, _ = json.JSONDecoder().raw_decode(completed.stdout, completed.stdout.index("{"))
        tasks = [task for play in report["plays"] for task in play["tasks"]]
        # One entry per task, in order: (task name, result).
        if host is None:
            self.tasks = [
                (
                    task["task"]["name"],
                    task["hosts"].get("localhost") or next(iter(task["hosts"].values()), {}),
                )
                for task in tasks
            ]
        else:
            stats = report["stats"][host]
            self.rc = 2 if stats["failures"] or stats["unreachable"] else 0
            ran = [task for task in tasks if host in task["hosts"]]
            self.tasks = [(task["task"]["name"], task["hosts"][host]) for task in ran]

    @property
    def failure(self):
        """The first failed task as (index, name, message), or None."""
        for index, (name, result) in enumerate(self.tasks):
            if result.get("failed"):
                items = result.get("results") or [result]
                message = " ".join(str(item.get("msg", "")) for item in items if item.get("failed"))
                return index, name, message
        return None

    def changed_before(self, index):
        return [name for name, result in self.tasks[:index] if result.get("changed")]

    def assert_rejected(self, variable):
        """The run failed in a validation step, before any change, naming `variable`."""
        assert self.rc != 0, "the run succeeded"
        assert self.failure, f"no task failed:\n{self.stderr}"
        index, task, message = self.failure
        assert variable in message, f"{task!r} failed with {message!r}"
        assert self.changed_before(index) == [], "something changed before the check failed"
        assert "validat" in task.lower() or "check" in task.lower(), task


def playbook(inventory, path, *args, cwd=None):
    """ansible-playbook with the JSON callback; the completed process."""
    env = dict(
        os.environ,
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="1",
    )
    command = [ANSIBLE_PLAYBOOK, "-i", str(inventory), *args, str(path)]
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def role_play(role, variables=None):
    return [
        {
            "name": f"Apply {role}",
            "hosts": "all",
            "gather_facts": False,
            "vars": variables or {},
            "roles": [{"role": role}],
        }
    ]


@pytest.fixture(scope="session")
def run_role_cases(tmp_path_factory):
    """Apply one role in check mode to many cases in one ansible-playbook run.

    Each case is a host of its own (a local connection) whose host variables
    are the case's, so a case that fails stops only itself; one start of
    Ansible serves them all. Returns {case: PlaybookRun as that host saw it};
    the same cases are run once per test session (and xdist worker).
    """
    done = {}

    def run(role, cases, tags=None):
        key = json.dumps([role, cases, tags], sort_keys=True, default=str)
        if key not in done:
            folder = tmp_path_factory.mktemp(role)
            names = {case: f"case{index}" for index, case in enumerate(cases)}
            hosts = {
                names[case]: {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    **variables,
                }
                for case, variables in cases.items()
            }
            inventory = folder / "inventory.yml"
            inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
            play = folder / "play.yml"
            play.write_text(yaml.safe_dump(role_play(role)))
            args = ["--check", "--forks", "4"] + (["--tags", tags] if tags else [])
            completed = playbook(inventory, play, *args, cwd=folder)
            done[key] = {case: PlaybookRun(completed, host) for case, host in names.items()}
        return done[key]

    return run


@pytest.fixture
def run_role(tmp_path):
    """Apply one role to localhost in check mode with the given variables."""

    def run(role, variables, tags=None):
        play = tmp_path / "play.yml"
        play.write_text(yaml.safe_dump(role_play(role, variables)))
        args = ["-c", "local", "--check", *LOCAL_PYTHON] + (["--tags", tags] if tags else [])
        return PlaybookRun(playbook("localhost,", play, *args, cwd=tmp_path))

    return run
