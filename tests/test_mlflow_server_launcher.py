"""mlflow_server's launcher: the uvicorn command it runs instead of MLflow's.
(The molecule scenarios check the bounded pool in a running server.)"""

import importlib.util

import pytest
from conftest import ROOT

PATH = ROOT / "roles/mlflow_server/files/mlflow_server_launcher.py"
_spec = importlib.util.spec_from_file_location("mlflow_server_launcher", PATH)
launcher = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launcher)

# What MLflow 3.17 builds (mlflow.server._build_uvicorn_command), before the app.
UVICORN = ["/venv/bin/python", "-m", "uvicorn", "--host", "127.0.0.1", "--workers", "2"]


@pytest.mark.parametrize(
    ("mlflow_app", "factory"),
    [
        (["--factory", "mlflow.server.auth:create_app"], "1"),
        (["mlflow.server.fastapi_app:app"], "0"),
    ],
)
def test_uvicorn_serves_the_launcher_app_and_is_told_mlflow_s(mlflow_app, factory):
    command, env = launcher.uvicorn_command(UVICORN + mlflow_app)
    assert command == UVICORN + [
        "--app-dir",
        str(PATH.parent),
        "--factory",
        "mlflow_server_launcher:create_app",
    ]
    assert env == {
        "MLOPS_LAB_MLFLOW_APP": mlflow_app[-1],
        "MLOPS_LAB_MLFLOW_APP_FACTORY": factory,
    }
