"""package_cache (and the apt cache setting of lab_network): bad input fails
in the validation step, before anything changes, with a message that names
the variable. Runs each role for real (check mode) on localhost."""

import pytest

BAD_INPUT = {
    "bind address as a host name": (
        {"package_cache_bind_address": "labserver.example.edu"},
        "package_cache_bind_address",
    ),
    "two bind addresses": (
        {"package_cache_bind_address": "10.0.0.1 127.0.0.1"},
        "package_cache_bind_address",
    ),
    "apt port out of range": ({"package_cache_apt_port": 70000}, "package_cache_apt_port"),
    "pypi port zero": ({"package_cache_pypi_port": 0}, "package_cache_pypi_port"),
    "both caches on one port": (
        {"package_cache_apt_port": 3141, "package_cache_pypi_port": 3141},
        "package_cache_pypi_port",
    ),
    "apt cache dir outside /var/cache": (
        {"package_cache_apt_cache_dir": "/srv/apt-cache"},
        "package_cache_apt_cache_dir",
    ),
    "relative pypi cache dir": (
        {"package_cache_pypi_cache_dir": "cache/proxpi"},
        "package_cache_pypi_cache_dir",
    ),
    "both caches in one dir": (
        {
            "package_cache_apt_cache_dir": "/var/cache/lab",
            "package_cache_pypi_cache_dir": "/var/cache/lab",
        },
        "package_cache_pypi_cache_dir",
    ),
    "proxy without a scheme": (
        {"package_cache_proxy_url": "proxy.campus.example:3128"},
        "package_cache_proxy_url",
    ),
    "upstream index without the trailing slash": (
        {"package_cache_pypi_upstream_url": "https://pypi.org/simple"},
        "package_cache_pypi_upstream_url",
    ),
    "upstream index as a file path": (
        {"package_cache_pypi_upstream_url": "/srv/wheels/"},
        "package_cache_pypi_upstream_url",
    ),
    "proxpi version not a version": (
        {"package_cache_pypi_proxpi_version": "latest"},
        "package_cache_pypi_proxpi_version",
    ),
    "gunicorn without --no-control-socket": (
        {"package_cache_pypi_gunicorn_version": "23.0.0"},
        "package_cache_pypi_gunicorn_version",
    ),
    "cache size in words": (
        {"package_cache_pypi_cache_size": "ten gigabytes"},
        "package_cache_pypi_cache_size",
    ),
    "cache size with a unit proxpi does not take": (
        {"package_cache_pypi_cache_size": "10GiB"},
        "package_cache_pypi_cache_size",
    ),
    "negative index ttl": ({"package_cache_pypi_index_ttl": -1}, "package_cache_pypi_index_ttl"),
    "one thread": ({"package_cache_pypi_threads": 1}, "package_cache_pypi_threads"),
    "tasks limit below the threads": (
        {"package_cache_pypi_threads": 64, "package_cache_pypi_tasks_max": 64},
        "package_cache_pypi_tasks_max",
    ),
    "memory limit in words": (
        {"package_cache_pypi_memory_max": "lots"},
        "package_cache_pypi_memory_max",
    ),
    "service account root": ({"package_cache_pypi_user": "root"}, "package_cache_pypi_user"),
    "repository without backends": (
        {
            "package_cache_apt_repositories": [
                {"name": "debrep", "match": ["/debian"], "backends": []},
            ]
        },
        "package_cache_apt_repositories",
    ),
    "repository backend without a slash": (
        {
            "package_cache_apt_repositories": [
                {
                    "name": "debrep",
                    "match": ["/debian"],
                    "backends": ["http://mirror.example/debian"],
                }
            ]
        },
        "package_cache_apt_repositories",
    ),
    "repository match that opens a second rule": (
        {
            "package_cache_apt_repositories": [
                {
                    "name": "debrep",
                    "match": ["/debian ; http://elsewhere.example/"],
                    "backends": ["http://mirror.example/debian/"],
                }
            ]
        },
        "package_cache_apt_repositories",
    ),
    "repository listed twice": (
        {
            "package_cache_apt_repositories": [
                {"name": "debrep", "match": ["/debian"], "backends": ["http://a.example/debian/"]},
                {"name": "debrep", "match": ["/debian2"], "backends": ["http://b.example/debian/"]},
            ]
        },
        "package_cache_apt_repositories",
    ),
}


# One worker runs the cases, in one batch (run_role_cases).
@pytest.mark.xdist_group("package_cache-bad-input")
@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_fails_first_and_names_the_variable(run_role_cases, case):
    cases = {name: variables for name, (variables, _) in BAD_INPUT.items()}
    run_role_cases("package_cache", cases)[case].assert_rejected(BAD_INPUT[case][1])


def test_defaults_pass_validation(run_role):
    run = run_role("package_cache", {}, tags="package_cache_validate")
    assert run.rc == 0, run.failure


@pytest.mark.parametrize(
    "variables",
    [
        {"package_cache_bind_address": "127.0.0.1"},
        {"package_cache_bind_address": "::"},
        {"package_cache_bind_address": "fd00:10::5", "package_cache_pypi_cache_size": "500M"},
        {"package_cache_proxy_url": "http://user:secret@proxy.campus.example:3128"},
        {"package_cache_pypi_upstream_url": "https://mirror.campus.example/pypi/simple/"},
    ],
    ids=["loopback only", "every IPv6 address", "one IPv6 address", "proxy", "mirror upstream"],
)
def test_lab_settings_pass_validation(run_role, variables):
    run = run_role("package_cache", variables, tags="package_cache_validate")
    assert run.rc == 0, run.failure


def test_proxy_credentials_stay_out_of_the_message(run_role):
    run = run_role("package_cache", {"package_cache_proxy_url": "proxy:3128 secret-password"})
    run.assert_rejected("package_cache_proxy_url")
    assert "secret-password" not in run.failure[2]


@pytest.mark.parametrize(
    "url",
    ["labserver:3142", "https://labserver:3142", "http://labserver:3142/debian", "ftp://labserver"],
)
def test_lab_network_rejects_an_apt_cache_url_that_is_not_plain_http(run_role, url):
    run_role("lab_network", {"lab_network_apt_proxy_url": url}).assert_rejected(
        "lab_network_apt_proxy_url"
    )


def test_lab_network_takes_an_apt_cache_url(run_role):
    run = run_role(
        "lab_network",
        {"lab_network_apt_proxy_url": "http://labserver:3142"},
        tags="lab_network_validate",
    )
    assert run.rc == 0, run.failure
