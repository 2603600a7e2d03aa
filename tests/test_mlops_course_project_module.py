"""mlops_course's project writer: what it creates, updates and keeps."""

import hashlib
import importlib.util
import json
import shutil
import subprocess

import pytest
from conftest import ROOT

SPEC = importlib.util.spec_from_file_location(
    "mlops_course_project", ROOT / "roles/mlops_course/library/mlops_course_project.py"
)
writer = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(writer)


class FakeModule:
    def __init__(self, check_mode=False, **params):
        self.check_mode = check_mode
        self.params = {
            "dirs": [],
            "files": [],
            "recorded": {},
            "probe": [],
            "guard": [],
            "dir_mode": "0755",
            "git": False,
            "environment": [],
        }
        self.params.update(params)

    @staticmethod
    def get_bin_path(name):
        return shutil.which(name)

    @staticmethod
    def run_command(argv, cwd=None):
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr


FILES = [
    {"path": "src/utils/config.py", "content": "DEBUG = True\n", "mode": "0644"},
    {"path": ".env", "content": "KEY=value\n", "mode": "0600"},
]
DIRS = ["docker", "src", "src/utils"]


def provision(root, recorded=None, files=FILES, check_mode=False, guard=()):
    module = FakeModule(
        check_mode=check_mode,
        root=str(root),
        dirs=DIRS,
        files=files,
        recorded=recorded or {},
        probe=[".git"],
        guard=list(guard),
    )
    # The record goes through JSON between runs, as in the role.
    return json.loads(json.dumps(writer.run(module)))


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


@pytest.fixture
def root(tmp_path):
    return tmp_path / "mlops-course"


def test_a_fresh_project_gets_everything(root):
    result = provision(root)
    assert result["changed"] and result["fresh"]
    assert sorted(result["written"]) == [".env", "src/utils/config.py"]
    assert (root / ".env").stat().st_mode & 0o777 == 0o600
    assert (root / "docker").is_dir()
    assert result["record"]["files"][".env"] == sha1("KEY=value\n")
    assert result["existing"] == []


def test_a_second_run_changes_nothing(root):
    first = provision(root)
    second = provision(root, first["record"])
    assert not second["changed"]
    assert second["written"] == second["kept"] == []
    assert second["record"] == first["record"]


def test_a_students_edit_is_kept_and_reported(root):
    first = provision(root)
    (root / "src/utils/config.py").write_text("DEBUG = False  # mine\n")
    second = provision(root, first["record"])
    assert second["kept"] == ["src/utils/config.py"]
    assert not second["changed"]
    assert (root / "src/utils/config.py").read_text() == "DEBUG = False  # mine\n"
    # The record keeps what the role wrote, so the file stays the student's.
    assert second["record"] == first["record"]


def test_a_course_update_reaches_untouched_files_only(root):
    first = provision(root)
    (root / ".env").write_text("KEY=mine\n")
    updated = [{**entry, "content": entry["content"] + "# v2\n"} for entry in FILES]
    second = provision(root, first["record"], files=updated)
    assert second["written"] == ["src/utils/config.py"]
    assert second["kept"] == [".env"]
    assert (root / "src/utils/config.py").read_text().endswith("# v2\n")
    assert second["record"]["files"][".env"] == first["record"]["files"][".env"]


def test_removed_files_and_folders_stay_removed(root):
    first = provision(root)
    (root / ".env").unlink()
    (root / "docker").rmdir()
    second = provision(root, first["record"])
    assert second["kept"] == [".env", "docker"]
    assert not (root / ".env").exists() and not (root / "docker").exists()


def test_a_symlink_is_never_followed(root, tmp_path):
    first = provision(root)
    outside = tmp_path / "outside"
    outside.write_text("untouched\n")
    (root / ".env").unlink()
    (root / ".env").symlink_to(outside)
    second = provision(root, first["record"])
    assert second["refused"] == [".env"]
    assert outside.read_text() == "untouched\n"


def test_nothing_is_written_below_a_linked_folder(root, tmp_path):
    first = provision(root)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "src/utils/config.py").unlink()
    (root / "src/utils").rmdir()
    (root / "src/utils").symlink_to(outside)
    second = provision(root, first["record"])
    assert second["refused"] == ["src/utils", "src/utils/config.py"]
    assert second["written"] == [] and list(outside.iterdir()) == []
    # The record keeps what the role wrote, for when the link goes away.
    assert second["record"]["files"]["src/utils/config.py"] == sha1("DEBUG = True\n")


def test_a_linked_project_is_left_alone(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root.symlink_to(outside)
    result = provision(root, {"files": {}, "dirs": []})
    assert (result["changed"], result["refused"]) == (False, ["."])
    assert list(outside.iterdir()) == []


def test_guarded_paths_through_links_are_reported(root, tmp_path):
    provision(root)
    (tmp_path / "elsewhere").mkdir()
    (root / ".venv").symlink_to(tmp_path / "elsewhere")
    (root / ".git").mkdir()
    (root / ".git/hooks").symlink_to(tmp_path / "elsewhere")
    result = provision(root, guard=[".venv", ".git", ".git/hooks", "data/raw"])
    assert result["refused"] == [".git/hooks", ".venv"]


def test_a_removed_project_starts_afresh(root):
    import shutil

    first = provision(root)
    shutil.rmtree(root)
    second = provision(root, first["record"])
    assert second["fresh"] and second["kept"] == []
    assert (root / ".env").exists()


def test_check_mode_writes_nothing(root):
    result = provision(root, check_mode=True)
    assert result["changed"]
    assert not root.exists()


def test_a_file_the_student_made_first_is_kept(root):
    root.mkdir()
    (root / ".env").write_text("KEY=theirs\n")
    result = provision(root)
    assert ".env" in result["kept"]
    assert (root / ".env").read_text() == "KEY=theirs\n"
    assert ".env" not in result["record"]["files"]


UV = shutil.which("true")
SYNC = ["sync", "--locked", "--inexact"]


def environment(root, inputs=(UV, *SYNC)):
    """The fingerprint the module reports, in check mode (nothing written)."""
    module = FakeModule(check_mode=True, root=str(root), environment=list(inputs))
    return writer.run(module)["environment"]


def make_venv(root):
    site = root / ".venv/lib/python3.11/site-packages"
    (site / "numpy-2.0.0.dist-info").mkdir(parents=True)
    (root / ".venv/pyvenv.cfg").write_text("version_info = 3.11.2\n")
    (root / ".venv/bin").mkdir()
    (root / ".venv/bin/python").symlink_to(shutil.which("python3"))
    return site


def test_no_venv_no_fingerprint(root):
    provision(root)
    assert environment(root) is None


def test_the_fingerprint_holds_while_nothing_is_installed(root):
    provision(root)
    site = make_venv(root)
    first = environment(root)
    # Running code leaves bytecode beside the packages, never in their metadata.
    (site / "__pycache__").mkdir()
    (site / "six.py").write_text("")
    assert environment(root) == first


@pytest.mark.parametrize(
    "change",
    [
        lambda root, site: (site / "requests-2.32.0.dist-info").mkdir(),
        lambda root, site: (site / "numpy-2.0.0.dist-info").rename(site / "numpy-2.1.0.dist-info"),
        lambda root, site: (root / "uv.lock").write_text("version = 1\n"),
        lambda root, site: (root / ".venv/pyvenv.cfg").write_text("version_info = 3.12.0\n"),
    ],
    ids=["a package added", "a package upgraded", "another lock", "another interpreter"],
)
def test_the_fingerprint_follows_what_uv_sync_compares(root, change):
    provision(root)
    site = make_venv(root)
    before = environment(root)
    change(root, site)
    assert environment(root) != before


def test_the_fingerprint_follows_the_sync_arguments(root):
    provision(root)
    make_venv(root)
    assert environment(root) != environment(root, (UV, *SYNC, "--group=ml"))


def test_a_linked_venv_has_no_fingerprint(root, tmp_path):
    provision(root)
    (tmp_path / "elsewhere").mkdir()
    (root / ".venv").symlink_to(tmp_path / "elsewhere")
    assert environment(root) is None


def test_git_reports_the_first_commit_and_the_origin(root):
    provision(root)

    def git_state():
        return writer.run(FakeModule(check_mode=True, root=str(root), git=True))["git"]

    assert git_state() is None
    git = ["git", "-C", str(root), "-c", "user.name=T", "-c", "user.email=t@example.edu"]
    subprocess.run([*git, "init", "--quiet"], check=True)
    assert git_state() == {"head": False, "origin": None}
    subprocess.run([*git, "commit", "--quiet", "--allow-empty", "-m", "first"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://git.example.edu/t.git"], check=True)
    assert git_state() == {"head": True, "origin": "https://git.example.edu/t.git"}
