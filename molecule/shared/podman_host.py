"""testinfra `host` fixture that runs commands with `podman exec`.

Molecule hands testinfra an Ansible inventory whose hosts use the podman
connection, which testinfra can only drive through a full Ansible run per
command (about a second each). The platforms are podman containers named
like their inventory hosts, so the podman backend reaches them directly.
Import it from a scenario's tests/conftest.py.
"""

import pytest
import testinfra


@pytest.fixture(scope="module")
def host(_testinfra_host):
    fast = testinfra.get_host(f"podman://{_testinfra_host.backend.host}")
    # host.ansible (inventory variables, modules) still goes through Ansible.
    fast.ansible = _testinfra_host.ansible
    return fast
