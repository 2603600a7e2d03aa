import pytest
from podman_host import host  # noqa: F401

LAPTOP = "toolchain-laptop"


@pytest.fixture(autouse=True)
def _on_its_platform(request, host):  # noqa: F811
    """test_laptop.py checks the laptop, the other files the workstations."""
    on_laptop = host.backend.get_hostname() == LAPTOP
    if on_laptop != (request.module.__name__.endswith("test_laptop")):
        pytest.skip("another platform's check")
