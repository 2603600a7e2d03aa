"""Readiness of one student's seat, printed as one JSON object.

Usage: seat_readiness.py STUDENT PROJECT_DIR EXPERIMENT SEAT

Runs as root; every check runs as the student, in their login environment,
in their project, with the environment exactly as provisioned (`uv run
--no-sync` changes nothing). Arguments reach each command as argv, never
through a shell string. The run goes to EXPERIMENT (the lab's readiness
experiment, never the class's), tagged with the seat and the student.
"""

import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time

student, project_dir, experiment, seat = sys.argv[1:5]
project = f"{pwd.getpwnam(student).pw_dir}/{project_dir}"

TAG = (
    "import sys, mlflow\n"
    "from src.utils.config import Config\n"
    "mlflow.set_tracking_uri(Config.MLFLOW_TRACKING_URI)\n"
    "client = mlflow.MlflowClient()\n"
    "client.set_tag(sys.argv[1], 'lab.seat', sys.argv[2])\n"
    "client.set_tag(sys.argv[1], 'lab.student', sys.argv[3])\n"
)


def as_student(*argv, env=()):
    """(exit code, output) of argv run as the student in the project.

    The student controls what runs (their shell's startup files, the project):
    it gets no input and no terminal, its output is read as text whatever the
    bytes, and after 10 minutes its whole session is killed.
    """
    # The login shell runs `cd "$1" && shift && exec env ... "$@"`: the
    # arguments are positional parameters, never parsed by the shell.
    script = 'cd "$1" && shift && exec env "$@"'
    command = ["runuser", "-l", student, "-c", script, "--", "readiness", project, *env, *argv]
    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = child.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.stdout.close()
        child.wait()
        return 124, "timed out after 600 s"
    return child.returncode, out.decode(errors="replace")


def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


rc, out = as_student("uv", "--version")
uv_version = out.split()[1] if rc == 0 and len(out.split()) > 1 else "missing"
rc, out = as_student(
    "uv", "run", "--no-sync", "python", "-c", "import platform; print(platform.python_version())"
)
python_version = (
    last_line(out) if rc == 0 and re.fullmatch(r"[0-9.]+", last_line(out)) else "missing"
)
mlflow_import = as_student("uv", "run", "--no-sync", "python", "-c", "import mlflow")[0] == 0

started = time.monotonic()
rc, out = as_student(
    "uv", "run", "--no-sync", "python", "-m", "src.models.train", "--run-name", "readiness-check",
    env=[f"MLFLOW_EXPERIMENT_NAME={experiment}"],
)  # fmt: skip
seconds = round(time.monotonic() - started, 1)
run = re.search(r"^run ([0-9a-f]{32}):", out, re.MULTILINE)
error = "" if rc == 0 and run else last_line(out)[:200] or "no output"
if not error:
    tag_rc, tag_out = as_student(
        "uv", "run", "--no-sync", "python", "-c", TAG, run.group(1), seat, student
    )
    error = "" if tag_rc == 0 else "tagging the run failed: " + last_line(tag_out)[:160]

print(
    json.dumps(
        {
            "student": student,
            "uv": uv_version,
            "python": python_version,
            "mlflow_import": mlflow_import,
            "run_id": run.group(1) if run and not error else "",
            "seconds": seconds,
            "error": error,
        }
    )
)
