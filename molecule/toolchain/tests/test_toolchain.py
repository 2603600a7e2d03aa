"""What a student and an admin see on a provisioned workstation."""

import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
UV_DEFAULTS = yaml.safe_load((ROOT / "roles/uv/defaults/main.yml").read_text())
PYTHON_DEFAULTS = yaml.safe_load((ROOT / "roles/python/defaults/main.yml").read_text())
TEST_CA = (pathlib.Path(__file__).parents[1] / "files/test-lab-ca.crt").read_text().strip()


def as_student(host, command):
    return host.run(f"runuser -u student -- bash -lc {command!r}")


def version_tuple(text):
    return tuple(int(part) for part in text.split("."))


def test_student_runs_the_pinned_uv(host):
    result = as_student(host, "cd && uv --version && uvx --version")
    assert result.rc == 0, result.stderr
    assert f"uv {UV_DEFAULTS['uv_version']}" in result.stdout
    assert f"uvx {UV_DEFAULTS['uv_version']}" in result.stdout


def test_uv_lives_outside_root(host):
    link = host.file("/usr/local/bin/uv")
    assert link.is_symlink
    assert link.linked_to == "/opt/uv/venv/bin/uv"
    assert host.file("/opt/uv/venv/bin/uv").mode & 0o005 == 0o005
    assert not host.file("/root/.cache/pip").exists
    assert not host.file("/root/.cache/uv").exists


def test_uv_was_installed_by_hash(host):
    requirement = host.file("/opt/uv/requirements.txt").content_string.split()
    assert requirement[0] == f"uv=={UV_DEFAULTS['uv_version']}"
    assert requirement[1:] == [
        f"--hash=sha256:{sha256}"
        for sha256 in UV_DEFAULTS["uv_pypi_sha256"][UV_DEFAULTS["uv_version"]]
    ]


def test_uv_settings_file(host):
    settings = host.file("/etc/uv/uv.toml")
    assert settings.user == "root"
    assert settings.mode == 0o644
    assert "system-certs = true" in settings.content_string


def test_uv_resolves_through_system_settings(host):
    # Behind a TLS-intercepting proxy this only succeeds when uv trusts the
    # system store, which only /etc/uv/uv.toml tells it to do here.
    result = as_student(
        host, "cd && env | grep -c '^UV_' ; echo six | uv pip compile --no-cache --quiet -"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.splitlines()[0] == "0", "no UV_ variable may leak into the test"
    assert any(line.startswith("six==") for line in result.stdout.splitlines())


def test_git_system_default_branch(host):
    assert host.check_output("git config --system init.defaultBranch") == "main"


def test_git_identity_belongs_to_the_student(host):
    """Set back after the student changed it (side_effect.yml)."""
    gitconfig = host.file("/home/student/.gitconfig")
    assert gitconfig.user == "student"
    assert "user.email=ada.student@example.edu" in as_student(host, "git config --list").stdout
    assert as_student(host, "git config user.name").stdout.strip() == "Ada Student"


def test_python_meets_the_minimum(host):
    version = host.check_output("python3 -c 'import platform; print(platform.python_version())'")
    assert version_tuple(version)[:2] >= version_tuple(PYTHON_DEFAULTS["python_min_version"])
    assert host.package("python3-venv").is_installed
    venv = as_student(
        host, "python3 -m venv /tmp/student-venv && /tmp/student-venv/bin/pip --version"
    )
    assert venv.rc == 0, venv.stderr


def test_lab_ca_is_trusted(host):
    bundle = host.file("/etc/ssl/certs/ca-certificates.crt").content_string
    assert TEST_CA in bundle
    assert host.file("/usr/local/share/ca-certificates/mlops-lab/test-lab-ca.crt").mode == 0o644


def test_no_proxy_configured_when_none_is_set(host):
    assert not host.file("/etc/apt/apt.conf.d/80lab-proxy").exists
    assert "http_proxy" not in host.file("/etc/environment").content_string
