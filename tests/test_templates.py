"""Templates render to files their consumers accept (no containers)."""

import os
import subprocess
import tomllib

import yaml
from conftest import ANSIBLE_PLAYBOOK, LOCAL_PYTHON, ROOT


def render(tmp_path, template, variables):
    dest = tmp_path / "rendered"
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Render",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars": variables,
                    "tasks": [
                        {
                            "name": "Render the template",
                            "ansible.builtin.template": {
                                "src": str(ROOT / template),
                                "dest": str(dest),
                                "mode": "0644",
                            },
                        }
                    ],
                }
            ]
        )
    )
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_NOCOLOR="1")
    completed = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", *LOCAL_PYTHON, str(playbook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return dest.read_text()


def uv_settings(**overrides):
    defaults = yaml.safe_load((ROOT / "roles/uv/defaults/main.yml").read_text())
    return defaults | overrides


def test_uv_toml_defaults_trust_the_system_store_only(tmp_path):
    text = render(tmp_path, "roles/uv/templates/etc/uv/uv.toml.j2", uv_settings())
    assert text.startswith("#"), "starts with the ansible_managed comment"
    assert tomllib.loads(text) == {"system-certs": True}


def test_uv_toml_with_every_setting(tmp_path):
    text = render(
        tmp_path,
        "roles/uv/templates/etc/uv/uv.toml.j2",
        uv_settings(
            uv_index_url="https://mirror.lab.example/simple",
            uv_proxy_url="http://proxy.lab.example:3128",
            uv_no_proxy=["localhost", "mlflow.lab.example"],
            uv_link_mode="hardlink",
            uv_python_install_mirror="https://mirror.lab.example/python",
            uv_python_downloads="manual",
        ),
    )
    assert tomllib.loads(text) == {
        "system-certs": True,
        "link-mode": "hardlink",
        "python-install-mirror": "https://mirror.lab.example/python",
        "python-downloads": "manual",
        "http-proxy": "http://proxy.lab.example:3128",
        "https-proxy": "http://proxy.lab.example:3128",
        "no-proxy": ["localhost", "mlflow.lab.example"],
        "index": [{"url": "https://mirror.lab.example/simple", "default": True}],
    }


def test_apt_proxy_configuration(tmp_path):
    text = render(
        tmp_path,
        "roles/lab_network/templates/etc/apt/apt.conf.d/80lab-proxy.j2",
        {"lab_network_proxy_url": "http://proxy.lab.example:3128"},
    )
    assert 'Acquire::http::Proxy "http://proxy.lab.example:3128";' in text
    assert 'Acquire::https::Proxy "http://proxy.lab.example:3128";' in text
