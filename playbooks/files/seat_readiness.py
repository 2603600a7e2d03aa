"""Readiness of one student's seat, printed as one JSON object.

Usage: seat_readiness.py STUDENT PROJECT_DIR EXPERIMENT SEAT

Runs as root; every check runs as the student, in their login environment,
in their project, with the environment exactly as provisioned (`uv run
--no-sync` changes nothing). Arguments reach each command as argv, never
through a shell string. The run goes to EXPERIMENT (the lab's readiness
experiment, never the class's), named with a random token and tagged with
the seat and the student.

What a student's login files print cannot pass for a result: the run id is
the one MLflow holds under this check's token, written by the lookup to a
pipe of the check's own (not stdout). Each command runs in a systemd scope
of its own; its output is read up to 1 MiB, for 10 minutes at most and no
longer than its first process lives, then everything left in the scope
(processes it started, detached or not) is killed, so nothing a student
starts can hold the check. A failure says what failed: the step, its exit
status or signal, and the last line of its output that reads like an error.
"""

import json
import os
import pwd
import re
import secrets
import select
import signal
import subprocess
import sys
import time

student, project_dir, experiment, seat = sys.argv[1:5]
project = f"{pwd.getpwnam(student).pw_dir}/{project_dir}"
OUTPUT_LIMIT = 1 << 20
TIME_LIMIT = 600
# The starter's run, found by its name on the server; its id goes to the
# check's pipe (the last argument, a file descriptor).
FIND_AND_TAG = (
    "import os, sys, mlflow\n"
    "from src.utils.config import Config\n"
    "experiment_name, run_name, seat, student, pipe = sys.argv[1:6]\n"
    "mlflow.set_tracking_uri(Config.MLFLOW_TRACKING_URI)\n"
    "client = mlflow.MlflowClient()\n"
    "experiment = client.get_experiment_by_name(experiment_name)\n"
    "query = f\"attributes.run_name = '{run_name}'\"\n"
    "ids = [experiment.experiment_id] if experiment else []\n"
    "runs = client.search_runs(ids, query, max_results=2) if ids else []\n"
    "if len(runs) != 1:\n"
    "    sys.exit(f'error: {len(runs)} runs named {run_name} on the server, not 1')\n"
    "client.set_tag(runs[0].info.run_id, 'lab.seat', seat)\n"
    "client.set_tag(runs[0].info.run_id, 'lab.student', student)\n"
    "os.write(int(pipe), runs[0].info.run_id.encode())\n"
)
ERROR = re.compile(r"error|exception|traceback|failed|refused|denied|not found", re.IGNORECASE)


def as_student(*argv, env=(), pipe=None):
    """(status, output) of argv run as the student in the project: status
    is the exit code, or a sentence when it was killed.

    The student controls what runs (their shell's startup files, the
    project): it gets no input and no terminal, its output is read as text
    whatever the bytes, and its whole session is killed after TIME_LIMIT
    seconds or OUTPUT_LIMIT bytes of output.
    """
    # The login shell runs `cd "$1" && shift && exec env ... "$@"`: the
    # arguments are positional parameters, never parsed by the shell.
    script = 'cd "$1" && shift && exec env "$@"'
    scope = f"mlops-lab-readiness-{secrets.token_hex(8)}.scope"
    command = ["systemd-run", "--scope", "--quiet", f"--unit={scope}", "--"]
    command += ["runuser", "-l", student, "-c", script, "--", "readiness", project, *env, *argv]
    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=(pipe,) if pipe is not None else (),
    )
    out, limit, deadline = bytearray(), None, time.monotonic() + TIME_LIMIT
    while limit is None:
        left = deadline - time.monotonic()
        if left <= 0:
            limit = f"killed after {TIME_LIMIT} s"
        elif select.select([child.stdout], [], [], min(left, 1.0))[0]:
            block = os.read(child.stdout.fileno(), 65536)
            if not block:
                break
            out += block
            if len(out) > OUTPUT_LIMIT:
                limit = f"killed after {OUTPUT_LIMIT >> 20} MiB of output"
        elif child.poll() is not None:
            break  # the command is done; what it left behind holds the pipe
    # Whatever is left of it (a detached process too) goes now.
    subprocess.run(
        ["systemctl", "kill", "--signal=SIGKILL", scope],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    child.stdout.close()
    code = child.wait()
    text = out[:OUTPUT_LIMIT].decode(errors="replace")
    if limit:
        return limit, text
    if code < 0:
        return f"killed by {signal.Signals(-code).name}", text
    return code, text


def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def why(step, status, text):
    """The step, how it ended and the last line that reads like an error."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR.search(line)]
    detail = (errors or lines or ["no output"])[-1][:160]
    ended = f"exit {status}" if isinstance(status, int) else status
    return f"{step} failed ({ended}): {detail}"


rc, out = as_student("uv", "--version")
# uv's own line, whatever the login files printed before it.
versions = re.findall(r"^uv (\S+)", out, re.MULTILINE)
uv_version = versions[-1] if rc == 0 and versions else "missing"
rc, out = as_student(
    "uv", "run", "--no-sync", "python", "-c", "import platform; print(platform.python_version())"
)
python_version = (
    last_line(out) if rc == 0 and re.fullmatch(r"[0-9.]+", last_line(out)) else "missing"
)
rc, out = as_student("uv", "run", "--no-sync", "python", "-c", "import mlflow")
mlflow_import = rc == 0
run_id, error, seconds = "", "" if mlflow_import else why("import mlflow", rc, out), 0.0

run_name = f"readiness-check-{secrets.token_hex(8)}"
if not error:
    started = time.monotonic()
    rc, out = as_student(
        "uv", "run", "--no-sync", "python", "-m", "src.models.train", "--run-name", run_name,
        env=[f"MLFLOW_EXPERIMENT_NAME={experiment}"],
    )  # fmt: skip
    seconds = round(time.monotonic() - started, 1)
    error = "" if rc == 0 else why("the starter experiment", rc, out)
if not error:
    reader, writer = os.pipe()
    rc, out = as_student(
        "uv", "run", "--no-sync", "python", "-c", FIND_AND_TAG,
        experiment, run_name, seat, student, str(writer), pipe=writer,
    )  # fmt: skip
    os.close(writer)
    # Every writer is gone with the scope: what is there, without waiting.
    os.set_blocking(reader, False)
    try:
        found = os.read(reader, 64).decode(errors="replace")
    except BlockingIOError:
        found = ""
    os.close(reader)
    if rc != 0:
        error = why("finding and tagging the run", rc, out)
    elif not re.fullmatch(r"[0-9a-f]{32}", found):
        error = f"finding the run failed: it gave no run id ({found[:40]!r})"
    else:
        run_id = found

print(
    json.dumps(
        {
            "student": student,
            "uv": uv_version,
            "python": python_version,
            "mlflow_import": mlflow_import,
            "run_id": run_id,
            "run_name": run_name,
            "seconds": seconds,
            "error": error,
        }
    )
)
