"""mlops_course: bad input fails in the validation, before anything changes,
with a message that names the variable. Runs the role in check mode on
localhost (see conftest.py)."""

import pytest
from conftest import ROOT

# The lab-wide setting the shipped files/course/uv.lock was made for.
LAB = {"mlops_course_excluded_packages": ["sentence-transformers"]}
ADA = {"user": "ada", "name": "Ada Lovelace", "email": "ada@example.edu"}

BAD_INPUT = {
    "unknown install group": (
        {"mlops_course_install_groups": ["dev", "gpu"]},
        "mlops_course_install_groups",
    ),
    "user name with a capital and a space": (
        {"mlops_course_students": [{**ADA, "user": "Ada Lovelace"}]},
        "mlops_course_students",
    ),
    "user name starting with a digit": (
        {"mlops_course_students": [{**ADA, "user": "1ada"}]},
        "mlops_course_students",
    ),
    "the same student twice": (
        {"mlops_course_students": [ADA, {**ADA, "name": "Ada Again"}]},
        "mlops_course_students",
    ),
    "missing lockfile": (
        {"mlops_course_content_dir": "/nonexistent/course"},
        "mlops_course_content_dir",
    ),
    "lock made for other settings": (
        {"mlops_course_requires_python": ">=3.12"},
        "mlops_course_content_dir",
    ),
    "clear-text password": (
        {"mlops_course_students": [{**ADA, "password_hash": "secret"}]},
        "mlops_course_students",
    ),
    "excluded package that is not a dependency": (
        {"mlops_course_excluded_packages": ["sentence-transformer"]},
        "mlops_course_excluded_packages",
    ),
    "per-student .env key that is no variable name": (
        {"mlops_course_student_env": {"ada": {"mlflow password": "x"}}},
        "mlops_course_student_env",
    ),
    "lab cache URL without a scheme": (
        {"mlops_course_lock_cache_url": "labserver:3141/index/"},
        "mlops_course_lock_cache_url",
    ),
    "project outside the home": (
        {"mlops_course_project_dir": "../mlops-course"},
        "mlops_course_project_dir",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_fails_first_and_names_the_variable(run_role, case):
    variables, named = BAD_INPUT[case]
    run = run_role("mlops_course", {**LAB, **variables})
    run.assert_rejected(named)


def test_lab_setting_passes_validation(run_role):
    run = run_role("mlops_course", LAB, tags="mlops_course_validate")
    assert run.rc == 0, run.failure


def test_roster_csv_feeds_the_students(run_role):
    roster = ROOT / "files/roster.example.csv"
    students = f"{{{{ lookup('ansible.builtin.file', '{roster}') | community.general.from_csv }}}}"
    run = run_role(
        "mlops_course",
        {**LAB, "mlops_course_students": students},
        tags="mlops_course_validate",
    )
    assert run.rc == 0, run.failure
    checked = [result for name, result in run.tasks if name.endswith("Check the students")][0]
    assert [item["item"]["user"] for item in checked["results"]] == ["ada", "bob"]
