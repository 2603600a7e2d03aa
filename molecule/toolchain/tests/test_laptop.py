"""The embedded default on an instructor's own machine: after the README's
commands as a sudo user (side_effect.yml), that user runs the starter
experiment against the local server with their own MLflow account."""

import json
import os
import pathlib
import re
import shlex

import yaml

SCENARIO = pathlib.Path(__file__).resolve().parents[1]
LAPTOP = yaml.safe_load((SCENARIO / "host_vars/toolchain-laptop.yml").read_text())
USER = LAPTOP["test_laptop_user"]


def as_instructor(host, command):
    return host.run(f"runuser -u {USER} -- bash -lc {shlex.quote(command)}")


def test_site_yml_succeeded_on_the_first_run():
    log = (pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "laptop-run.log").read_text()
    recap = log.split("PLAY RECAP", 1)[1].splitlines()
    localhost = [line for line in recap if line.startswith("localhost")]
    assert localhost and "failed=0" in localhost[0] and "unreachable=0" in localhost[0], log[-3000:]


def test_the_instructor_is_the_student(host):
    env = host.file(f"/home/{USER}/mlops-course/.env")
    assert (env.user, env.mode) == (USER, 0o600)
    assert f"MLFLOW_TRACKING_USERNAME={USER}\n" in env.content_string
    assert not host.user("student").exists


def test_starter_experiment_logs_to_the_local_server(host):
    out = as_instructor(host, "cd ~/mlops-course && uv run --no-sync python -m src.models.train")
    assert out.rc == 0, out.stdout + out.stderr
    # train.py prints "run <id>: accuracy ..." (MLflow's own lines name the run).
    run_id = re.search(r"^run ([0-9a-f]{32}):", out.stdout, re.MULTILINE).group(1)
    query = "cd ~/mlops-course && uv run --no-sync python -c " + shlex.quote(
        "import json, sys, mlflow; from src.utils.config import Config; "
        f"run = mlflow.get_run('{run_id}'); "
        "print(json.dumps({'user': run.info.user_id, 'status': run.info.status, "
        "'uri': mlflow.get_tracking_uri()}))"
    )
    seen = as_instructor(host, query)
    assert seen.rc == 0, seen.stderr
    assert json.loads(seen.stdout.splitlines()[-1]) == {
        "user": USER,
        "status": "FINISHED",
        # The default inventory's server, behind the TLS proxy.
        "uri": "https://127.0.0.1",
    }
