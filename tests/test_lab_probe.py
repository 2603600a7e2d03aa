"""lab_common's lab_probe: what it reports of paths, and whether each is as a
role's task would leave it (`met`), never following a link."""

import hashlib
import importlib.util
import os
import pwd
import shutil

import pytest
from conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "lab_probe", ROOT / "roles/lab_common/library/lab_probe.py"
)
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)

ME = pwd.getpwuid(os.getuid()).pw_name


def described(path, **wanted):
    return probe.described({"path": str(path), **wanted})


def test_a_file_as_the_task_states_it(tmp_path):
    path = tmp_path / "uv.toml"
    path.write_text("system-certs = true\n")
    path.chmod(0o644)
    sha256 = hashlib.sha256(b"system-certs = true\n").hexdigest()
    found = described(path, state="file", owner=ME, mode="0644", sha256=sha256)
    assert found["met"] and found["sha256"] == sha256 and found["mode"] == "0644"


@pytest.mark.parametrize(
    "wanted",
    [
        {"state": "directory"},
        {"mode": "0600"},
        {"sha256": "0" * 64},
        {"owner": "no-such-user-of-the-lab"},
        {"state": "absent"},
    ],
    ids=["another type", "another mode", "another text", "an unknown owner", "there at all"],
)
def test_a_file_otherwise_is_not_met(tmp_path, wanted):
    path = tmp_path / "uv.toml"
    path.write_text("x\n")
    path.chmod(0o644)
    assert not described(path, **wanted)["met"]


def test_absent_and_missing(tmp_path):
    assert described(tmp_path / "gone", state="absent") == {"type": "missing", "met": True}
    assert not described(tmp_path / "gone", state="file")["met"]
    # Nothing stated: a missing path is as wanted (the probe only looks).
    assert described(tmp_path / "gone")["met"]


def test_a_link_is_reported_never_followed(tmp_path):
    target = tmp_path / "secret"
    target.write_text("root's own\n")
    link = tmp_path / "uv"
    link.symlink_to(target)
    found = described(link, state="link", src=str(target))
    assert found["met"] and found["target"] == str(target) and "sha256" not in found
    assert not described(link, state="file")["met"]
    assert probe.read(str(link)) is None
    assert probe.read(str(target)) == "root's own\n"


def test_a_folder_listing(tmp_path):
    (tmp_path / "a.crt").write_text("a\n")
    (tmp_path / "sub").mkdir()
    listed = probe.listing(str(tmp_path))
    assert listed["a.crt"]["type"] == "file" and listed["sub"]["type"] == "dir"
    assert probe.listing(str(tmp_path / "a.crt")) is None


def test_an_account_with_its_home():
    found = probe.account(ME)
    assert found["uid"] == os.getuid() and found["home_type"] in ("dir", "missing")
    assert probe.account("no-such-user-of-the-lab") is None


def test_a_home_is_looked_at_not_followed(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o750)
    home.chmod(0o750)
    assert probe.home_of(str(home)) == {
        "home_type": "dir",
        "home_mode": "0750",
        "home_uid": os.getuid(),
    }
    # A link where the home should be: its type only, nothing behind it.
    (tmp_path / "link").symlink_to(home)
    assert probe.home_of(str(tmp_path / "link")) == {
        "home_type": "link",
        "home_mode": None,
        "home_uid": None,
    }
    assert probe.home_of("relative/home")["home_type"] == "missing"


class _Module:
    """What run() asks of AnsibleModule, for a command run as a user."""

    @staticmethod
    def get_bin_path(name):
        return shutil.which(name)


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a command as another user: needs root")
def test_a_user_command_runs_as_that_user_alone():
    nobody = pwd.getpwnam("nobody")
    found = probe.run(_Module, ["sh", "-c", 'id -u; id -G; echo "$HOME"; pwd'], user="nobody")
    assert found["rc"] == 0, found
    assert found["stdout_lines"] == [str(nobody.pw_uid), str(nobody.pw_gid), nobody.pw_dir, "/"]


def test_a_user_command_for_no_account_is_not_run():
    found = probe.run(_Module, ["id"], user="no-such-user-of-the-lab")
    assert found["rc"] == 127 and "no account" in found["stderr"]


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a command as another user: needs root")
def test_a_user_command_that_hangs_or_floods_cannot_hold_the_probe(monkeypatch):
    monkeypatch.setattr(probe, "USER_COMMAND_TIMEOUT", 1)
    # A child of the command that outlives it is killed with it.
    hung = probe.run(_Module, ["sh", "-c", "sleep 30 & sleep 30"], user="nobody")
    assert hung["rc"] == 124 and "stopped after 1 s" in hung["stderr"], hung
    flood = probe.run(_Module, ["sh", "-c", "yes | head -c 5000000"], user="nobody")
    assert len(flood["stdout"]) <= probe.READ_LIMIT, len(flood["stdout"])
