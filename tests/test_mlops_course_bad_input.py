"""mlops_course: bad input fails in the validation, before anything changes,
with a message that names the variable. Runs the role in check mode on
localhost (see conftest.py)."""

import pytest
from conftest import ROOT

# The lab-wide settings: the course content, and the exclusion the shipped
# files/course/uv.lock was made for.
LAB = {
    "mlops_course_content_dir": str(ROOT / "files/course"),
    "mlops_course_excluded_packages": ["sentence-transformers"],
}
ADA = {"user": "ada", "name": "Ada Lovelace", "email": "ada@example.edu"}
TOKEN = "glpat-Secret-Token-123"

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
    "full name with a colon": (
        {"mlops_course_students": [{**ADA, "name": "Ada: Lovelace"}]},
        "mlops_course_students",
    ),
    "full name with a line break": (
        {"mlops_course_students": [{**ADA, "name": "Ada\nLovelace"}]},
        "mlops_course_students",
    ),
    "email without @": (
        {"mlops_course_students": [{**ADA, "email": "ada"}]},
        "mlops_course_students",
    ),
    "git remote with a token": (
        {
            "mlops_course_students": [
                {**ADA, "git_remote": f"https://ada:{TOKEN}@git.example.edu/x.git"}
            ]
        },
        "mlops_course_students",
    ),
    "git remote with a token as the user": (
        {
            "mlops_course_students": [
                {**ADA, "git_remote": f"https://{TOKEN}@git.example.edu/x.git"}
            ]
        },
        "mlops_course_students",
    ),
    ".env credentials for a user not on the seat": (
        {
            "mlops_course_students": [ADA],
            "mlops_course_student_env": {"eve": {"MLFLOW_TRACKING_USERNAME": "eve"}},
        },
        "mlops_course_student_env",
    ),
    ".env value with a line break": (
        {"mlops_course_env_extra": {"API_HOST": "0.0.0.0\nMLFLOW_TRACKING_URI=http://evil:5000"}},
        "mlops_course_env_extra",
    ),
    "per-student .env value with a line break": (
        {
            "mlops_course_students": [ADA],
            "mlops_course_student_env": {"ada": {"MLFLOW_TRACKING_PASSWORD": "x\nDEBUG=True"}},
        },
        "mlops_course_student_env",
    ),
    "tracking URI without a scheme": (
        {"mlops_course_mlflow_tracking_uri": "mlflow.lab:5000"},
        "mlops_course_mlflow_tracking_uri",
    ),
    "tracking URI with a path": (
        {"mlops_course_mlflow_tracking_uri": "http://mlflow.lab:5000/api/2.0"},
        "mlops_course_mlflow_tracking_uri",
    ),
    "project in ~/.ssh": ({"mlops_course_project_dir": ".ssh"}, "mlops_course_project_dir"),
    "project in ~/.config": (
        {"mlops_course_project_dir": ".config/mlops"},
        "mlops_course_project_dir",
    ),
    "project folder with a quote": (
        {"mlops_course_project_dir": "mlops'course"},
        "mlops_course_project_dir",
    ),
    "state directory /": ({"mlops_course_state_dir": "/"}, "mlops_course_state_dir"),
    "state directory /home": ({"mlops_course_state_dir": "/home"}, "mlops_course_state_dir"),
    "state directory /etc": ({"mlops_course_state_dir": "/etc"}, "mlops_course_state_dir"),
    "state directory in /tmp": ({"mlops_course_state_dir": "/tmp/mlops"}, "mlops_course_state_dir"),
    "state directory in /var/lock, which anyone writes": (
        {"mlops_course_state_dir": "/var/lock/mlops_course"},
        "mlops_course_state_dir",
    ),
    "state directory through ..": (
        {"mlops_course_state_dir": "/var/lib/../../home/ada/state"},
        "mlops_course_state_dir",
    ),
    "state directory in a home": (
        {"mlops_course_state_dir": "/home/ada/state"},
        "mlops_course_state_dir",
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


# One worker runs the cases, in one batch (run_role_cases).
@pytest.mark.xdist_group("mlops_course-bad-input")
@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_fails_first_and_names_the_variable(run_role_cases, case):
    cases = {name: {**LAB, **variables} for name, (variables, _) in BAD_INPUT.items()}
    run = run_role_cases("mlops_course", cases)[case]
    named = BAD_INPUT[case][1]
    run.assert_rejected(named)


def test_lab_setting_passes_validation(run_role):
    run = run_role("mlops_course", LAB, tags="mlops_course_validate")
    assert run.rc == 0, run.failure


def test_a_full_lab_seat_passes_validation(run_role):
    """Everything the checks above refuse, given as a lab gives it."""
    seat = {
        **LAB,
        "mlops_course_students": [
            {**ADA, "git_remote": "https://git.example.edu/ada/mlops-course.git"},
            {
                "user": "bob",
                "name": "Bob O'Neil-Smith",
                "email": "bob@example.edu",
                "git_remote": "",
            },
        ],
        "mlops_course_env_extra": {"API_HOST": "0.0.0.0"},
        "mlops_course_student_env": {"ada": {"MLFLOW_TRACKING_PASSWORD": "n0-line-breaks\there"}},
        "mlops_course_mlflow_tracking_uri": "https://[fd00::1]:5443/",
        "mlops_course_project_dir": "courses/mlops-course",
    }
    run = run_role("mlops_course", seat, tags="mlops_course_validate")
    assert run.rc == 0, run.failure


def test_a_failing_entry_never_prints_its_git_token(run_role):
    remote = f"https://ada:{TOKEN}@git.example.edu/x.git"
    run = run_role(
        "mlops_course", {**LAB, "mlops_course_students": [{**ADA, "git_remote": remote}]}
    )
    run.assert_rejected("mlops_course_students")
    assert "(ada): git_remote" in run.failure[2]
    assert TOKEN not in run.stdout + run.stderr
