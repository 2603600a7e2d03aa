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
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())


class PlaybookRun:
    def __init__(self, completed):
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        # The report, without what other callbacks print after it.
        report, _ = json.JSONDecoder().raw_decode(completed.stdout, completed.stdout.index("{"))
        # One entry per task, in order: (task name, result on localhost, or
        # on the first host that ran it).
        self.tasks = [
            (
                task["task"]["name"],
                task["hosts"].get("localhost") or next(iter(task["hosts"].values()), {}),
            )
            for play in report["plays"]
            for task in play["tasks"]
        ]

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


@pytest.fixture
def run_role(tmp_path):
    """Apply one role to localhost in check mode with the given variables."""

    def run(role, variables, tags=None):
        play = tmp_path / "play.yml"
        play.write_text(
            yaml.safe_dump(
                [
                    {
                        "name": f"Apply {role}",
                        "hosts": "localhost",
                        "gather_facts": False,
                        "vars": variables,
                        "roles": [{"role": role}],
                    }
                ]
            )
        )
        args = ["-c", "local", "--check", *LOCAL_PYTHON] + (["--tags", tags] if tags else [])
        return PlaybookRun(playbook("localhost,", play, *args, cwd=tmp_path))

    return run
