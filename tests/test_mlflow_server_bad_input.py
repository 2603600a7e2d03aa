"""mlflow_server: bad input fails in the validation step, before anything
changes, with a message that names the variable. Secrets never show up in
the output, even when they are the problem."""

import pytest

# Valid basic-auth secrets, so that each case below has exactly one problem.
AUTH = {
    "mlflow_server_auth_enabled": True,
    "mlflow_server_auth_admin_password": "fast-test-admin-password",
    "mlflow_server_flask_secret_key": "fast-test-flask-secret-key",
}

BAD_INPUT = {
    "unknown backend": ({"mlflow_server_backend": "mysql"}, "mlflow_server_backend"),
    "backend from the seed's file store": (
        {"mlflow_server_backend": "file"},
        "mlflow_server_backend",
    ),
    "port out of range": ({"mlflow_server_port": 70000}, "mlflow_server_port"),
    "port zero": ({"mlflow_server_port": 0}, "mlflow_server_port"),
    "postgres without credentials": (
        {"mlflow_server_backend": "postgresql"},
        "mlflow_server_postgresql_password",
    ),
    "external postgres URI without credentials": (
        {
            "mlflow_server_backend": "postgresql",
            "mlflow_server_postgresql_install": False,
            "mlflow_server_postgresql_uri": "postgresql://db.example.edu/mlflow",
        },
        "mlflow_server_postgresql_uri",
    ),
    "auth on without an admin password": (
        {**AUTH, "mlflow_server_auth_admin_password": ""},
        "mlflow_server_auth_admin_password",
    ),
    "auth on with the well-known default password": (
        {**AUTH, "mlflow_server_auth_admin_password": "password1234"},
        "mlflow_server_auth_admin_password",
    ),
    "auth on with a short admin password": (
        {**AUTH, "mlflow_server_auth_admin_password": "short"},
        "mlflow_server_auth_admin_password",
    ),
    "auth on without a Flask secret key": (
        {**AUTH, "mlflow_server_flask_secret_key": ""},
        "mlflow_server_flask_secret_key",
    ),
    "relative sqlite path, as in the seed": (
        {"mlflow_server_sqlite_path": "mlflow.db"},
        "mlflow_server_sqlite_path",
    ),
    "relative artifacts dir, as in the seed": (
        {"mlflow_server_artifacts_dir": "./artifacts"},
        "mlflow_server_artifacts_dir",
    ),
    "relative auth database": (
        {**AUTH, "mlflow_server_auth_database_uri": "sqlite:///basic_auth.db"},
        "mlflow_server_auth_database_uri",
    ),
    "state dir outside /var/lib": (
        {"mlflow_server_state_dir": "/srv/mlflow"},
        "mlflow_server_state_dir",
    ),
    "relative install dir": (
        {"mlflow_server_install_dir": "opt/mlflow"},
        "mlflow_server_install_dir",
    ),
    "MLflow without the Host-header middleware": (
        {"mlflow_server_version": "2.22.0"},
        "mlflow_server_version",
    ),
    "s3 store without a bucket": (
        {"mlflow_server_artifacts_store": "s3"},
        "mlflow_server_s3_bucket",
    ),
    "negative auth cache lifetime": (
        {"mlflow_server_auth_cache_ttl_seconds": -60},
        "mlflow_server_auth_cache_ttl_seconds",
    ),
    "allowed host list in one string": (
        {"mlflow_server_allowed_hosts": ["a.example,b.example"]},
        "mlflow_server_allowed_hosts",
    ),
}

SECRETS = ("fast-test-admin-password", "fast-test-flask-secret-key", "password1234")


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_fails_first_and_names_the_variable(run_role, case):
    variables, named = BAD_INPUT[case]
    run = run_role("mlflow_server", variables)
    run.assert_rejected(named)
    message = run.failure[2]
    for secret in SECRETS:
        assert secret not in message


def test_defaults_pass_validation(run_role):
    run = run_role("mlflow_server", {}, tags="mlflow_server_validate")
    assert run.rc == 0, run.failure


@pytest.mark.parametrize(
    "variables",
    [
        AUTH,
        {"mlflow_server_backend": "postgresql", "mlflow_server_postgresql_password": "pg-secret"},
        {
            "mlflow_server_backend": "postgresql",
            "mlflow_server_postgresql_install": False,
            "mlflow_server_postgresql_uri": "postgresql://ml:p%40ss@db.example.edu:5432/mlflow",
        },
        {
            "mlflow_server_artifacts_store": "s3",
            "mlflow_server_s3_bucket": "lab-artifacts",
            "mlflow_server_s3_endpoint_url": "https://s3.example.edu",
        },
    ],
    ids=["auth", "local postgres", "external postgres", "s3"],
)
def test_production_settings_pass_validation(run_role, variables):
    run = run_role("mlflow_server", variables, tags="mlflow_server_validate")
    assert run.rc == 0, run.failure


def test_secret_checks_hide_the_secrets(run_role):
    run = run_role("mlflow_server", AUTH, tags="mlflow_server_validate")
    assert run.rc == 0, run.failure
    hidden = [result for name, result in run.tasks if "Check the secrets without" in name]
    assert hidden and all("censored" in result for result in hidden)
