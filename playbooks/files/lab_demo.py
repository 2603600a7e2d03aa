"""The instructor's demo on the lab's MLflow server; prints one JSON object.

Usage (as the instructor, in their course project, with its venv; the
project is importable because `python -c` puts the current folder first):
    python -c "$(cat lab_demo.py)" EXPERIMENT MODEL SWEEP_JSON [--dry-run]

SWEEP_JSON is a list of {"name": ..., "args": [...]}: each entry is one run
of the course's own src/models/train.py (its arguments), named `name`, in
EXPERIMENT. Every run's model becomes a version of the registered MODEL, and
the alias `champion` points at the version of the most accurate run.

Only what is missing is made: a run of that name that FINISHED, a version
of that run, an alias already right are left alone, so a second call adds
nothing and a call cut short is finished by the next. The MLflow account is
the instructor's own, from their .env. With --dry-run nothing is written.
"""

import json
import os
import sys

experiment, model, sweep_json = sys.argv[1:4]
dry_run = "--dry-run" in sys.argv[4:]
sweep = json.loads(sweep_json)

# The course's Config reads the environment before .env: the demo's
# experiment, whatever the instructor's .env names.
os.environ["MLFLOW_EXPERIMENT_NAME"] = experiment

import mlflow  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from src.models import train  # noqa: E402
from src.utils.config import Config  # noqa: E402

ALIAS = "champion"
mlflow.set_tracking_uri(Config.MLFLOW_TRACKING_URI)
client = mlflow.MlflowClient()


def finished_runs():
    """{run name: run} of the demo's finished runs."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return {}
    runs = client.search_runs([found.experiment_id], "attributes.status = 'FINISHED'")
    return {run.info.run_name: run for run in runs}


def registered_versions():
    """{run id: version} of the model's versions (none before the first).

    A search, not a lookup: with basic-auth, asking for a model that does not
    exist yet is refused (403) rather than not found."""
    return {
        version.run_id: version.version
        for version in client.search_model_versions(f"name = '{model}'")
    }


def champion():
    try:
        return client.get_model_version_by_alias(model, ALIAS).version
    except MlflowException:
        return None


done = {"runs_logged": [], "versions_registered": [], "champion": None}
runs = finished_runs()
for entry in sweep:
    if entry["name"] not in runs:
        done["runs_logged"].append(entry["name"])
        if not dry_run:
            train.main([*entry["args"], "--run-name", entry["name"]])
if not dry_run:
    runs = finished_runs()

versions = registered_versions()
for entry in sweep:
    run = runs.get(entry["name"])
    if run is None or run.info.run_id not in versions:
        done["versions_registered"].append(entry["name"])
        if run is not None and not dry_run:
            try:
                registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", model)
            except MlflowException as error:
                # Any account may create a registered model: a name taken
                # first by someone else stops the demo, never serves it.
                if error.error_code != "PERMISSION_DENIED":
                    raise
                sys.exit(
                    f"lab_demo_model: {model} exists and this account may not add versions to it"
                    " (someone else registered that name first); delete it as the MLflow admin"
                    " or set another lab_demo_model"
                )
            versions[run.info.run_id] = registered.version

sweep_runs = [runs[entry["name"]] for entry in sweep if entry["name"] in runs]
if sweep_runs:
    best = max(sweep_runs, key=lambda run: run.data.metrics.get("accuracy", float("-inf")))
    best_version = versions.get(best.info.run_id)
    current = champion()
    if best_version is not None and str(current) != str(best_version):
        done["champion"] = best.info.run_name
        if not dry_run:
            client.set_registered_model_alias(model, ALIAS, best_version)
elif dry_run:
    done["champion"] = "(after the sweep)"

done["changed"] = bool(done["runs_logged"] or done["versions_registered"] or done["champion"])
print(json.dumps(done))
