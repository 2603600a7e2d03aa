"""students: bad input fails in the validation, before anything changes,
with a message that names the variable and the student, never a secret.
Runs the role in check mode on localhost (see conftest.py)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, PlaybookRun, playbook

ADA = {"user": "ada", "name": "Ada Lovelace", "email": "ada@example.edu"}
SECRET = "hunter2-Secret-Value"

BAD_INPUT = {
    "root as a student": ({"students_roster": [{**ADA, "user": "root"}]}, "students_roster"),
    "a service user of the project": (
        {"students_roster": [{**ADA, "user": "mlflow"}], "students_reserved_users": ["mlflow"]},
        "students_roster",
    ),
    "an existing system account": (
        # daemon exists on every Debian machine, with UID 1.
        {"students_roster": [{**ADA, "user": "daemon"}]},
        "students_roster",
    ),
    "a system account below a raised min UID": (
        {"students_roster": [{**ADA, "user": "daemon"}], "students_min_uid": 500},
        "students_roster",
    ),
    "user name with a capital and a space": (
        {"students_roster": [{**ADA, "user": "Ada Lovelace"}]},
        "students_roster",
    ),
    "user name starting with a digit": (
        {"students_roster": [{**ADA, "user": "1ada"}]},
        "students_roster",
    ),
    "user name longer than 32": (
        {"students_roster": [{**ADA, "user": "a" * 33}]},
        "students_roster",
    ),
    "the same student twice": (
        {"students_roster": [ADA, {**ADA, "name": "Ada Again"}]},
        "students_roster",
    ),
    "full name with a colon": (
        {"students_roster": [{**ADA, "name": "Ada:0:0:root"}]},
        "students_roster",
    ),
    "full name with a line break": (
        {"students_roster": [{**ADA, "name": "Ada\nroot::0:0::/root:/bin/bash"}]},
        "students_roster",
    ),
    "email without @": (
        {"students_roster": [{**ADA, "email": "ada.example.edu"}]},
        "students_roster",
    ),
    "clear-text password": (
        {"students_roster": [{**ADA, "password_hash": "secret"}]},
        "students_roster",
    ),
    "ssh key that is no key line": (
        {"students_roster": [{**ADA, "ssh_key": "ssh-ed25519 AAAA\ncommand=x"}]},
        "students_roster",
    ),
    "nobody, UID 65534": ({"students_roster": [{**ADA, "user": "nobody"}]}, "students_roster"),
    "sudo as a students group": ({"students_groups": ["sudo"]}, "students_groups"),
    "input (the console's keyboard) as a students group": (
        {"students_groups": ["input"]},
        "students_groups",
    ),
    "a classmate's own group": (
        {
            "students_roster": [ADA, {**ADA, "user": "bob", "email": "bob@example.edu"}],
            "students_groups": ["bob"],
        },
        "students_groups",
    ),
    "docker as a students group": ({"students_groups": ["docker"]}, "students_groups"),
    "kmem as a students group (reads the kernel's memory)": (
        {"students_groups": ["kmem"]},
        "students_groups",
    ),
    "the former cache group, privileged now": (
        {"students_groups": ["uv-cache"]},
        "students_groups",
    ),
    "home readable by everyone": ({"students_home_mode": "0755"}, "students_home_mode"),
    "a missing account, not to be created": (
        {"students_roster": [{**ADA, "user": "nosuchstudent"}]},
        "students_roster",
    ),
}


# One worker runs the cases, in one batch (run_role_cases).
@pytest.mark.xdist_group("students-bad-input")
@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_fails_first_and_names_the_variable(run_role_cases, case):
    cases = {name: variables for name, (variables, _) in BAD_INPUT.items()}
    run = run_role_cases("students", cases)[case]
    named = BAD_INPUT[case][1]
    run.assert_rejected(named)


def test_a_failing_entry_never_prints_its_secrets(run_role):
    bad = {**ADA, "user": "Bad User", "password_hash": SECRET, "ssh_key": f"not-a-key {SECRET}"}
    run = run_role("students", {"students_roster": [bad]})
    run.assert_rejected("students_roster")
    message = run.failure[2]
    assert "entry 1" in message and "password_hash" in message and "ssh_key" in message
    assert SECRET not in run.stdout + run.stderr


def test_a_full_roster_passes_validation(run_role):
    roster = [
        {
            **ADA,
            "password_hash": "$6$salt$" + "a" * 86,
            "ssh_key": "ssh-ed25519 AAAAC3Nz ada@laptop",
        },
        {"user": "bob_2", "name": "Bob O'Neil-Smith", "email": "bob@example.edu", "ssh_key": ""},
    ]
    run = run_role(
        "students",
        {"students_roster": roster, "students_create_accounts": True, "students_groups": ["audio"]},
        tags="students_validate",
    )
    assert run.rc == 0, run.failure


def test_roster_csv_feeds_the_students(run_role):
    roster = ROOT / "files/roster.example.csv"
    students = f"{{{{ lookup('ansible.builtin.file', '{roster}') | community.general.from_csv }}}}"
    run = run_role(
        "students",
        {"students_roster": students, "students_create_accounts": True},
        tags="students_validate",
    )
    assert run.rc == 0, run.failure


def test_a_student_is_one_person_on_every_seat(tmp_path):
    """playbooks/workstations.yml refuses, before any change, one user name
    with two full names on two seats."""
    inventory = tmp_path / "hosts.yml"
    seat = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(
        yaml.safe_dump(
            {
                "workstations": {
                    "hosts": {
                        "seat-a": {**seat, "lab_students": [ADA]},
                        "seat-b": {**seat, "lab_students": [{**ADA, "name": "Ada Byron"}]},
                    }
                }
            }
        )
    )
    completed = playbook(inventory, ROOT / "playbooks/workstations.yml", "--check")
    run = PlaybookRun(completed)
    assert run.rc != 0
    index, task, message = run.failure
    assert "lab_students: ada" in message, message
    assert run.changed_before(index) == []


@pytest.mark.parametrize(
    ("env", "user", "created"),
    [({"SUDO_USER": "alice", "USER": "root"}, "alice", False), ({"USER": "root"}, "student", True)],
    ids=["through sudo", "root alone"],
)
def test_the_default_inventory_provisions_the_invoking_user(env, user, created):
    """inventory/hosts.yml: the user who called sudo, or, for root alone, a
    `student` account that the run creates."""
    completed = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "ansible"),
            "localhost",
            "-i",
            str(ROOT / "inventory/hosts.yml"),
            "-m",
            "ansible.builtin.debug",
            "-a",
            "msg={{ {'user': students_roster[0].user, 'create': students_create_accounts}"
            " | to_json }}",
        ],
        env={**{k: v for k, v in os.environ.items() if k not in ("SUDO_USER", "USER")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    said = completed.stdout.split('"msg": ', 1)[1].splitlines()[0].strip()
    assert json.loads(json.loads(said)) == {"user": user, "create": created}
