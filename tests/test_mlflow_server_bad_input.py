"""mlflow_server: bad input fails in the validation step, before anything
changes, with a message that names the variable. Secrets never show up in
the output, even when they are the problem."""

import json
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, PlaybookRun, playbook

# Valid basic-auth secrets, so that each case below has exactly one problem.
AUTH = {
    "mlflow_server_auth_enabled": True,
    "mlflow_server_auth_admin_password": "fast-test-admin-password",
    "mlflow_server_flask_secret_key": "fast-test-flask-secret-key",
}

BAD_INPUT = {
    "MANAGE for everyone, unconfirmed": (
        {"mlflow_server_auth_default_permission": "MANAGE"},
        "mlflow_server_auth_default_permission",
    ),
    "an API body limit below a full log-batch": (
        {"mlflow_server_tls_api_max_body_size": "512k"},
        "mlflow_server_tls_api_max_body_size",
    ),
    "more calls per account than per address": (
        {"mlflow_server_tls_account_connections": 40},
        "mlflow_server_tls_account_connections",
    ),
    "a disk guard at 100 %": (
        {"mlflow_server_disk_min_free_percent": 100},
        "mlflow_server_disk_min_free_percent",
    ),
    "a relative folder for the disk guard": (
        {"mlflow_server_disk_guard_paths": ["var/lib/seaweedfs"]},
        "mlflow_server_disk_guard_paths",
    ),
    "unknown backend": ({"mlflow_server_backend": "mysql"}, "mlflow_server_backend"),
    "backend from the seed's file store": (
        {"mlflow_server_backend": "file"},
        "mlflow_server_backend",
    ),
    "port out of range": ({"mlflow_server_port": 70000}, "mlflow_server_port"),
    "proxy on MLflow's own port": (
        {"mlflow_server_tls_port": 5000, "mlflow_server_port": 5000},
        "mlflow_server_tls_port",
    ),
    "unknown certificate source": (
        {"mlflow_server_tls_source": "acme"},
        "mlflow_server_tls_source",
    ),
    "certificate files without the key": (
        {"mlflow_server_tls_source": "files", "mlflow_server_tls_cert_file": "/etc/hostname"},
        "mlflow_server_tls_cert_file",
    ),
    "relative lab CA folder": (
        {"mlflow_server_tls_ca_dir": "credentials/tls"},
        "mlflow_server_tls_ca_dir",
    ),
    "uv cache in /tmp": ({"mlflow_server_uv_cache_dir": "/tmp/uv"}, "mlflow_server_uv_cache_dir"),
    "uv cache in //tmp": ({"mlflow_server_uv_cache_dir": "//tmp/uv"}, "mlflow_server_uv_cache_dir"),
    "uv cache in /dev/shm": (
        {"mlflow_server_uv_cache_dir": "/dev/shm/uv"},
        "mlflow_server_uv_cache_dir",
    ),
    "port zero": ({"mlflow_server_port": 0}, "mlflow_server_port"),
    "a port the unprivileged server cannot bind": (
        {"mlflow_server_port": 80, "mlflow_server_tls": False},
        "mlflow_server_port",
    ),
    "root as the service account": ({"mlflow_server_user": "root"}, "mlflow_server_user"),
    "a login account as the service account": (
        {"mlflow_server_user": "nobody"},
        "mlflow_server_user",
    ),
    "config in /etc itself": ({"mlflow_server_config_dir": "/etc"}, "mlflow_server_config_dir"),
    "sqlite database straight in /var/lib": (
        {"mlflow_server_sqlite_path": "/var/lib/mlflow.db"},
        "mlflow_server_sqlite_path",
    ),
    "backups in /tmp itself": ({"mlflow_server_backup_dir": "/tmp"}, "mlflow_server_backup_dir"),
    "too little memory for two workers": (
        {"mlflow_server_memory_max": "512M"},
        "mlflow_server_memory_max",
    ),
    "garbage collection after some time": (
        {"mlflow_server_gc_older_than_days": "a month"},
        "mlflow_server_gc_older_than_days",
    ),
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
    "postgresql database name that is no identifier": (
        {"mlflow_server_backend": "postgresql", "mlflow_server_postgresql_database": "ml flow"},
        "mlflow_server_postgresql_database",
    ),
    "a worker without threads": (
        {"mlflow_server_worker_threads": 0},
        "mlflow_server_worker_threads",
    ),
    "negative auth cache lifetime": (
        {"mlflow_server_auth_cache_ttl_seconds": -60},
        "mlflow_server_auth_cache_ttl_seconds",
    ),
    "allowed host list in one string": (
        {"mlflow_server_allowed_hosts": ["a.example,b.example"]},
        "mlflow_server_allowed_hosts",
    ),
    "a version nobody locked (a typo)": (
        {"mlflow_server_version": "3.17.9"},
        "mlflow_server_requirements_file",
    ),
    "a lock that pins another MLflow": (
        {
            "mlflow_server_requirements_file": str(
                ROOT / "roles/mlflow_server/files/locks/mlflow-3.16.1.txt"
            )
        },
        "mlflow_server_requirements_file",
    ),
    "a permission for a user nobody listed": (
        {
            **AUTH,
            "mlflow_server_auth_experiments": ["class"],
            "mlflow_server_auth_permissions": [
                {"experiment": "class", "user": "eve", "permission": "EDIT"}
            ],
        },
        "mlflow_server_auth_permissions: eve (on class) is not a known user",
    ),
    "a permission on an experiment nobody listed": (
        {
            **AUTH,
            "mlflow_server_auth_users": [{"name": "ada", "password": "ada-password-0123"}],
            "mlflow_server_auth_permissions": [
                {"experiment": "class", "user": "ada", "permission": "EDIT"}
            ],
        },
        "mlflow_server_auth_permissions: class is not in mlflow_server_auth_experiments",
    ),
    "an unknown permission": (
        {
            **AUTH,
            "mlflow_server_auth_experiments": ["class"],
            "mlflow_server_auth_permissions": [
                {"experiment": "class", "user": "admin", "permission": "WRITE"}
            ],
        },
        "mlflow_server_auth_permissions",
    ),
    "a user's short password": (
        {**AUTH, "mlflow_server_auth_users": [{"name": "ada", "password": "short-pw"}]},
        "mlflow_server_auth_users: ada needs a password of 12 characters or more",
    ),
    "a user listed twice": (
        {
            **AUTH,
            "mlflow_server_auth_users": [
                {"name": "ada", "password": "ada-password-0123"},
                {"name": "ada", "password": "ada-password-4567"},
            ],
        },
        "mlflow_server_auth_users: ada is listed twice",
    ),
    "a user named like the admin": (
        {
            **AUTH,
            "mlflow_server_auth_users": [{"name": "admin", "password": "other-password-0123"}],
        },
        "mlflow_server_auth_users: admin is listed twice (or is the admin",
    ),
    "a user's password hash that werkzeug does not know": (
        {
            **AUTH,
            "mlflow_server_auth_users": [
                {"name": "ada", "password": "ada-password-0123", "password_hash": "md5"}
            ],
        },
        "mlflow_server_auth_users: ada has password_hash md5, not a werkzeug method",
    ),
    "a scrypt method with its cost alone (werkzeug takes N:r:p or none)": (
        {
            **AUTH,
            "mlflow_server_auth_users": [
                {"name": "ada", "password": "ada-password-0123", "password_hash": "scrypt:1024"}
            ],
        },
        "mlflow_server_auth_users: ada has password_hash scrypt:1024, not a werkzeug method",
    ),
    "a scrypt method past OpenSSL's memory bound": (
        {
            **AUTH,
            "mlflow_server_auth_users": [
                {
                    "name": "ada",
                    "password": "ada-password-0123",
                    "password_hash": "scrypt:2097152:8:1",
                }
            ],
        },
        "mlflow_server_auth_users: ada has password_hash scrypt:2097152:8:1, not a werkzeug",
    ),
    "a scrypt cost that is not a power of 2": (
        {
            **AUTH,
            "mlflow_server_auth_users": [
                {"name": "ada", "password": "ada-password-0123", "password_hash": "scrypt:1000:8:1"}
            ],
        },
        "mlflow_server_auth_users: ada has password_hash scrypt:1000:8:1, not a werkzeug method",
    ),
}

SECRETS = (
    "fast-test-admin-password",
    "fast-test-flask-secret-key",
    "password1234",
    "short-pw",
    "ada-password-0123",
    "ada-password-4567",
    "other-password-0123",
)


# One worker runs the cases, in one batch (run_role_cases).
@pytest.mark.xdist_group("mlflow_server-bad-input")
@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_fails_first_and_names_the_variable(run_role_cases, case):
    cases = {name: variables for name, (variables, _) in BAD_INPUT.items()}
    run = run_role_cases("mlflow_server", cases)[case]
    named = BAD_INPUT[case][1]
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
            "mlflow_server_backend": "postgresql",
            "mlflow_server_postgresql_install": False,
            "mlflow_server_postgresql_uri": "postgresql://ml:p%40ss@db.example.edu:5432/mlflow"
            "?sslmode=verify-full&sslrootcert=/etc/ssl/certs/db-ca.pem",
        },
        {
            "mlflow_server_artifacts_store": "s3",
            "mlflow_server_s3_bucket": "lab-artifacts",
            "mlflow_server_s3_endpoint_url": "https://s3.example.edu",
        },
    ],
    ids=["auth", "local postgres", "external postgres", "external postgres over TLS", "s3"],
)
def test_production_settings_pass_validation(run_role, variables):
    run = run_role("mlflow_server", variables, tags="mlflow_server_validate")
    assert run.rc == 0, run.failure


def test_secret_checks_hide_the_secrets(run_role):
    run = run_role("mlflow_server", AUTH, tags="mlflow_server_validate")
    assert run.rc == 0, run.failure
    hidden = [result for name, result in run.tasks if "Check the secrets without" in name]
    assert hidden and all("censored" in result for result in hidden)


def make_certificate(directory, name, san):
    """A self-signed certificate and its key, with openssl."""
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def test_a_key_of_another_certificate_is_refused(run_role, tmp_path):
    cert, _ = make_certificate(tmp_path, "server", "DNS:localhost")
    _, other_key = make_certificate(tmp_path, "other", "DNS:localhost")
    files = {"mlflow_server_tls_source": "files", "mlflow_server_tls_cert_file": cert}
    run = run_role("mlflow_server", {**files, "mlflow_server_tls_key_file": other_key})
    run.assert_rejected("mlflow_server_tls_key_file")


def test_a_certificate_for_other_names_is_refused(run_role, tmp_path):
    cert, key = make_certificate(tmp_path, "server", "DNS:other.example.edu")
    files = {"mlflow_server_tls_source": "files", "mlflow_server_tls_cert_file": cert}
    run = run_role("mlflow_server", {**files, "mlflow_server_tls_key_file": key})
    run.assert_rejected("mlflow_server_tls_cert_file")
    assert "DNS:localhost" in run.failure[2]


def test_the_admins_certificate_passes_validation(run_role, tmp_path):
    cert, key = make_certificate(tmp_path, "server", "DNS:localhost,IP:127.0.0.1")
    files = {"mlflow_server_tls_source": "files", "mlflow_server_tls_cert_file": cert}
    run = run_role(
        "mlflow_server", {**files, "mlflow_server_tls_key_file": key}, tags="mlflow_server_validate"
    )
    assert run.rc == 0, run.failure


LAB_CHECKS = "Check the lab-wide settings"


@pytest.mark.parametrize(
    ("extra", "stores", "expected"),
    [
        (
            {"lab_mlflow_permissions": "open"},
            [],
            "lab_mlflow_permissions: must be shared or private, got open",
        ),
        (
            {"lab_mlflow_permissions": "private", "lab_mlflow_instructors": ["eve"]},
            [],
            "lab_mlflow_instructors: eve is not a known user",
        ),
        ({}, ["seat"], "object_stores: seat is also a workstation"),
        (
            {"object_store_volume_port": 5000},
            ["server"],
            "server: mlflow_server_port and object_store_volume_port both use port 5000",
        ),
    ],
    ids=["unknown permission model", "instructor nobody seats", "store on a seat", "port twice"],
)
def test_the_lab_wide_checks_come_first(tmp_path, extra, stores, expected):
    """The lab's inventory settings (group_vars) with a server and a seat: a
    bad permission model, an object store on a seat or a port used twice
    stops playbooks/mlflow_server.yml before any change."""
    (tmp_path / "group_vars").symlink_to(ROOT / "inventory/group_vars")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    ada = {"user": "ada", "name": "Ada Lovelace", "email": "ada@lab.example"}
    inventory = tmp_path / "hosts.yml"
    groups = {
        "mlflow_servers": {"hosts": {"server": local}},
        "workstations": {"hosts": {"seat": {**local, "lab_students": [ada]}}},
    }
    if stores:
        groups["object_stores"] = {"hosts": dict.fromkeys(stores)}
    inventory.write_text(yaml.safe_dump({"all": {"children": groups}}))
    completed = playbook(
        inventory, ROOT / "playbooks/mlflow_server.yml", "--check", "-e", json.dumps(extra)
    )
    run = PlaybookRun(completed)
    assert run.rc != 0
    index, failed_task, message = run.failure
    assert failed_task == LAB_CHECKS and expected in message, run.failure
    assert run.changed_before(index) == []
