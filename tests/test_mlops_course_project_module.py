"""mlops_course's project writer: what it creates, updates and keeps."""

import hashlib
import importlib.util
import json

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
        }
        self.params.update(params)


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
