"""Bad input fails before anything changes, with a message that names the
variable. Runs each role for real (check mode) on localhost."""

import pytest

BAD_INPUT = {
    "uv_version not a version": ("uv", {"uv_version": "latest"}, "uv_version"),
    "uv_version with a v": ("uv", {"uv_version": "v0.13.9"}, "uv_version"),
    "unknown uv install method": ("uv", {"uv_install_method": "curl"}, "uv_install_method"),
    "sha256 of the wrong length": (
        "uv",
        {"uv_install_method": "release", "uv_release_sha256": {"x86_64": "abc123"}},
        "uv_release_sha256",
    ),
    "sha256 for an unknown arch": (
        "uv",
        {"uv_release_sha256": {"sparc": "a" * 64}},
        "uv_release_sha256",
    ),
    "uv proxy without scheme": ("uv", {"uv_proxy_url": "proxy:3128"}, "uv_proxy_url"),
    "uv version without wheel hashes": ("uv", {"uv_version": "0.13.7"}, "uv_pypi_sha256"),
    "uv wheel hash of the wrong length": (
        "uv",
        {"uv_pypi_sha256": {"0.13.9": ["abc123"]}},
        "uv_pypi_sha256",
    ),
    "malformed python_min_version": ("python", {"python_min_version": "3.x"}, "python_min_version"),
    "python_min_version as words": (
        "python",
        {"python_min_version": "three"},
        "python_min_version",
    ),
    "malformed uv interpreter": (
        "python",
        {"python_uv_versions": ["latest"]},
        "python_uv_versions",
    ),
    "identity without an email": (
        "git",
        {"git_users": [{"user": "student", "name": "Ada Student"}]},
        "email",
    ),
    "identity with a bad email": (
        "git",
        {"git_users": [{"user": "student", "name": "Ada", "email": "ada"}]},
        "git_users",
    ),
    "identity listed twice": (
        "git",
        {
            "git_users": [
                {"user": "student", "name": "Ada", "email": "a@example.edu"},
                {"user": "student", "name": "Bob", "email": "b@example.edu"},
            ]
        },
        "git_users",
    ),
    "proxy without scheme": (
        "lab_network",
        {"lab_network_proxy_url": "proxy:3128"},
        "lab_network_proxy_url",
    ),
    "CA that is a private key": (
        "lab_network",
        {
            "lab_network_ca_certificates": [
                {
                    "name": "oops",
                    "content": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
                }
            ]
        },
        "lab_network_ca_certificates",
    ),
    "object store as root": ("object_store", {"object_store_user": "root"}, "object_store_user"),
    "object store as a login account": (
        "object_store",
        {"object_store_user": "nobody"},
        "object_store_user",
    ),
    "object store version without a lock": (
        "object_store",
        {"object_store_seaweedfs_version": "4.49"},
        "object_store_seaweedfs_version",
    ),
    "object store data in /var/lib itself": (
        "object_store",
        {"object_store_data_dir": "/var/lib"},
        "object_store_data_dir",
    ),
    "object store port twice": (
        "object_store",
        {"object_store_filer_port": 9333},
        "object_store_s3_port",
    ),
    "object store gRPC port on another's": (
        "object_store",
        {"object_store_volume_port": 8333, "object_store_s3_port": 18333},
        "object_store_s3_port",
    ),
    "object store key for an unknown bucket": (
        "object_store",
        {
            "object_store_buckets": ["mlflow"],
            "object_store_access_keys": [
                {
                    "name": "mlflow",
                    "access_key": "A" * 20,
                    "secret_key": "s" * 32,
                    "buckets": ["other"],
                }
            ],
        },
        "object_store_access_keys",
    ),
    "object store secret too short, never shown": (
        "object_store",
        {
            "object_store_buckets": ["mlflow"],
            "object_store_access_keys": [
                {
                    "name": "mlflow",
                    "access_key": "A" * 20,
                    "secret_key": "hunter2",
                    "buckets": ["mlflow"],
                }
            ],
        },
        "object_store_access_keys",
    ),
    "object store with too little memory": (
        "object_store",
        {"object_store_memory_max": "64M"},
        "object_store_memory_max",
    ),
}


# One worker runs the cases, in one batch (run_role_cases).
@pytest.mark.xdist_group("roles-bad-input")
@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_fails_first_and_names_the_variable(run_role_cases, case):
    role, _, named = BAD_INPUT[case]
    cases = {name: variables for name, (other, variables, _) in BAD_INPUT.items() if other == role}
    run = run_role_cases(role, cases)[case]
    run.assert_rejected(named)
    assert "hunter2" not in run.stdout + run.stderr


@pytest.mark.parametrize("role", ["uv", "python", "git", "lab_network", "object_store"])
def test_defaults_pass_validation(run_role, role):
    run = run_role(role, {}, tags=f"{role}_validate")
    assert run.rc == 0, run.failure
