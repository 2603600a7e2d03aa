"""A real MLflow client for the tests, run as an unprivileged user with
`uv run --with mlflow-skinny==<version>`. Talks to the server over HTTP with
basic-auth credentials from a JSON settings file.

    mlflow_client.py SETTINGS log EXPERIMENT TAG OUT   log a run, write its id to OUT
    mlflow_client.py SETTINGS check RUN_JSON TAG       read the run back, print what was found
    mlflow_client.py SETTINGS register RUN_JSON        register model versions from two sources
    mlflow_client.py SETTINGS multipart EXPERIMENT OUT log 9 MiB in 5 MiB parts, read it back
    mlflow_client.py SETTINGS delete RUN_JSON          move the run to the bin
    mlflow_client.py SETTINGS exists RUN_JSON          whether the run exists (in the bin or not)
    mlflow_client.py SETTINGS hostile RUN_JSON         artifacts no file system holds by name
"""

import hashlib
import json
import os
import pathlib
import sys
import tempfile
import time

settings = json.loads(pathlib.Path(sys.argv[1]).read_text())
os.environ["MLFLOW_TRACKING_URI"] = settings["uri"]
if settings.get("password"):
    os.environ["MLFLOW_TRACKING_USERNAME"] = settings["username"]
    os.environ["MLFLOW_TRACKING_PASSWORD"] = settings["password"]

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

LOSSES = [1.0, 0.5, 0.25]


def log(experiment, tag, out):
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=tag) as run:
        mlflow.log_params({"alpha": "0.5", "tag": tag})
        for step, loss in enumerate(LOSSES):
            mlflow.log_metric("loss", loss, step=step)
        with tempfile.TemporaryDirectory() as directory:
            notes = pathlib.Path(directory, "notes.txt")
            notes.write_text(f"artifact of {tag}\n")
            mlflow.log_artifact(str(notes))
    result = {"run_id": run.info.run_id, "experiment": experiment, "tag": tag}
    pathlib.Path(out).write_text(json.dumps(result))
    print(json.dumps(result))


def check(run_json):
    expected = json.loads(pathlib.Path(run_json).read_text())
    client = MlflowClient()
    run = client.get_run(expected["run_id"])
    history = client.get_metric_history(run.info.run_id, "loss")
    with tempfile.TemporaryDirectory() as directory:
        local = client.download_artifacts(run.info.run_id, "notes.txt", directory)
        artifact = pathlib.Path(local).read_text()
    print(
        json.dumps(
            {
                "experiment": client.get_experiment(run.info.experiment_id).name,
                "status": run.info.status,
                "params": run.data.params,
                "losses": [m.value for m in sorted(history, key=lambda m: m.step)],
                "artifacts": [a.path for a in client.list_artifacts(run.info.run_id)],
                "artifact": artifact,
                "expected": expected,
            }
        )
    )


def register(run_json):
    run_id = json.loads(pathlib.Path(run_json).read_text())["run_id"]
    client = MlflowClient()
    name = f"regex-check-{run_id[:8]}"
    client.create_registered_model(name)
    allowed = client.create_model_version(name, f"runs:/{run_id}/notes.txt", run_id=run_id)
    try:
        client.create_model_version(name, "file:///etc/passwd", run_id=run_id)
        rejected = None
    except MlflowException as error:
        rejected = error.error_code
    print(json.dumps({"allowed": allowed.version, "rejected": rejected}))


def multipart(experiment, out):
    # Proxied multipart: the server uploads each part to its S3 store.
    os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] = "true"
    os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = str(5 * 1024 * 1024)
    os.environ["MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE"] = str(5 * 1024 * 1024)
    mlflow.set_experiment(experiment)
    with tempfile.TemporaryDirectory() as directory:
        big = pathlib.Path(directory, "big.bin")
        big.write_bytes(os.urandom(9 * 1024 * 1024))
        uploaded = hashlib.sha256(big.read_bytes()).hexdigest()
        with mlflow.start_run(run_name="multipart") as run:
            start = time.monotonic()
            mlflow.log_artifact(str(big))
            seconds = time.monotonic() - start
        client = MlflowClient()
        local = client.download_artifacts(run.info.run_id, "big.bin", directory + "/down")
        downloaded = hashlib.sha256(pathlib.Path(local).read_bytes()).hexdigest()
        result = {
            "run_id": run.info.run_id,
            "uploaded": uploaded,
            "downloaded": downloaded,
            "seconds": seconds,
            "artifacts": [a.path for a in client.list_artifacts(run.info.run_id)],
        }
    pathlib.Path(out).write_text(json.dumps(result))
    print(json.dumps(result))


def delete(run_json):
    run_id = json.loads(pathlib.Path(run_json).read_text())["run_id"]
    MlflowClient().delete_run(run_id)
    print(json.dumps({"deleted": run_id}))


def exists(run_json):
    run_id = json.loads(pathlib.Path(run_json).read_text())["run_id"]
    try:
        stage = MlflowClient().get_run(run_id).info.lifecycle_stage
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        stage = None
    print(json.dumps({"run_id": run_id, "stage": stage}))


def hostile(run_json):
    """What any student may upload to their own run and an object store
    takes: x beside x/y (a file that is also a folder), a name of 250
    characters (past 255 with any suffix) and a folder of 300 (past 255)."""
    run_id = json.loads(pathlib.Path(run_json).read_text())["run_id"]
    client = MlflowClient()
    with tempfile.TemporaryDirectory() as directory:
        hostile = (("x", None), ("y", "x"), ("n" * 250, None), ("long.txt", "f" * 300))
        for name, folder in hostile:
            path = pathlib.Path(directory, name)
            path.write_text(f"hostile {(folder or '')[:8]}/{name[:8]}\n")
            client.log_artifact(run_id, str(path), artifact_path=folder)
    names = [a.path for a in client.list_artifacts(run_id)]
    names += [a.path for a in client.list_artifacts(run_id, "x")]
    print(json.dumps({"run_id": run_id, "artifacts": sorted(names)}))


if __name__ == "__main__":
    action, arguments = sys.argv[2], sys.argv[3:]
    actions = {
        "log": log,
        "check": check,
        "register": register,
        "multipart": multipart,
        "delete": delete,
        "exists": exists,
        "hostile": hostile,
    }
    actions[action](*arguments)
