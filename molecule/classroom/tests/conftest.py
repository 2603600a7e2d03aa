from podman_host import host  # noqa: F401
