"""Addresses as users write them: an IPv6 server address gives bracketed
URLs in .env, in MLflow's allowed hosts and CORS origins, and a plain IP
entry in the certificate. Real Ansible runs on localhost, no containers."""

import json
import os
import subprocess
import sys

import yaml
from conftest import ROOT

ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")


def rendered(tmp_path, host, expression, server_vars):
    """`expression` as Ansible renders it for `host` of a two-host lab whose
    server has `server_vars`, with the repository's group_vars."""
    (tmp_path / "group_vars").symlink_to(ROOT / "inventory/group_vars")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "mlflow_servers": {"hosts": {"labserver": {**local, **server_vars}}},
                "workstations": {"hosts": {"seat1": local}},
            }
        )
    )
    done = subprocess.run(
        [ANSIBLE, host, "-i", str(tmp_path / "hosts.yml"), "-m", "ansible.builtin.debug",
         "-a", f"msg={{{{ {expression} | to_json }}}}", "-e", f"@{tmp_path / 'extra.yml'}"],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, ANSIBLE_ROLES_PATH=str(ROOT / "roles")),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(json.loads(done.stdout.split('"msg": ', 1)[1].rsplit("}", 1)[0]))


def test_an_ipv6_server_gives_bracketed_urls(tmp_path):
    (tmp_path / "extra.yml").write_text("{}\n")
    uri = rendered(
        tmp_path, "seat1", "mlops_course_mlflow_tracking_uri", {"ansible_host": "fd00::1"}
    )
    assert uri == "https://[fd00::1]"


def test_an_ipv6_server_without_tls_keeps_its_port(tmp_path):
    (tmp_path / "extra.yml").write_text("lab_mlflow_tls: false\n")
    uri = rendered(
        tmp_path, "seat1", "mlops_course_mlflow_tracking_uri", {"ansible_host": "fd00::1"}
    )
    assert uri == "http://[fd00::1]:5000"


def test_the_servers_names_for_an_ipv6_address(tmp_path):
    (tmp_path / "extra.yml").write_text("{}\n")
    expression = (
        "{'hosts': __mlflow_server_allowed_hosts, 'origins': __mlflow_server_cors_origins,"
        " 'names': __mlflow_server_tls_subject_names}"
    )
    # The role's internal values, loaded as the role loads them.
    role_vars = yaml.safe_load((ROOT / "roles/mlflow_server/vars/main.yml").read_text())
    (tmp_path / "extra.yml").write_text(
        yaml.safe_dump(
            {
                **yaml.safe_load((ROOT / "roles/mlflow_server/defaults/main.yml").read_text()),
                **role_vars,
            }
        )
    )
    seen = rendered(tmp_path, "labserver", expression, {"ansible_host": "fd00::1"})
    assert {"[fd00::1]", "[fd00::1]:443", "[fd00::1]:5000", "labserver:443"} <= set(seen["hosts"])
    assert "fd00::1" not in seen["hosts"]
    assert {"https://[fd00::1]", "https://labserver", "https://localhost"} <= set(seen["origins"])
    assert {"IP:fd00::1", "DNS:labserver", "IP:127.0.0.1", "IP:::1", "DNS:localhost"} <= set(
        seen["names"]
    )
