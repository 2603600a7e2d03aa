import pytest
import testinfra
from podman_host import host  # noqa: F401

# The platforms of molecule.yml: the cache and a seat on the same network.
SERVER = "package_cache-server"
CLIENT = "package_cache-client"


@pytest.fixture(scope="module")
def server():
    return testinfra.get_host(f"podman://{SERVER}")


@pytest.fixture(scope="module")
def client():
    return testinfra.get_host(f"podman://{CLIENT}")
