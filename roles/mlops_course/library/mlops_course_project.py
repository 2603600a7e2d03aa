#!/usr/bin/python
"""Write a student's course project, never over the student's own changes."""

import glob
import hashlib
import json
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: mlops_course_project
short_description: Write a student's course project, never over the student's own changes
description:
  - Creates the folders and writes the files of a project, running as the
    student who owns it (become_user), so nothing in their home can redirect
    a write elsewhere.
  - The caller passes what the role wrote last time (O(recorded)), the sha1 of
    each file. A file is written when it is missing and was never written
    (create), or when it still holds what the role wrote (update). A file the
    student changed or removed, or a folder they removed, is kept and listed.
  - A project folder that does not exist starts afresh, whatever is recorded.
  - Nothing is written through a symbolic link: a path (or a parent of it)
    that the student replaced with a link is left alone and listed in
    RV(refused); a project folder that is a link refuses the whole project.
  - Returns the new record, for the caller to store where the student cannot
    write.
options:
  root:
    description: The project folder.
    type: path
    required: true
  dirs:
    description: Folders to create, relative to O(root).
    type: list
    elements: str
    default: []
  files:
    description: Files to write, relative to O(root), with their text and mode.
    type: list
    elements: dict
    default: []
  recorded:
    description: The record returned by the previous run (files, dirs).
    type: dict
    default: {}
  probe:
    description: Paths, relative to O(root), to report as existing or not, before any write.
    type: list
    elements: str
    default: []
  guard:
    description:
      - Paths that later steps write through, relative to O(root), or to the
        home when they start with C(~/); each one that is a link, or lies
        below one, is listed in RV(refused).
    type: list
    elements: str
    default: []
  dir_mode:
    description: Mode of the folders this module creates.
    type: str
    default: "0755"
  git:
    description:
      - Report RV(git), what the later git steps depend on (git runs as the
        running user, in the project).
    type: bool
    default: false
  environment:
    description:
      - What the project's environment is synced with (the uv executable
        first, then the sync's arguments). When given, RV(environment) is a
        fingerprint of the environment as it stands after the writes; an
        environment that matches a fingerprint taken after a successful sync
        or check needs neither again.
    type: list
    elements: str
    default: []
"""

RETURN = r"""
fresh: {description: The project folder did not exist., type: bool, returned: always}
written: {description: Files written (or to write, in check mode)., type: list, returned: always}
created: {description: Folders created., type: list, returned: always}
kept: {description: Files and folders left as the student left them., type: list, returned: always}
existing:
  {description: The O(probe) paths that existed before any write., type: list, returned: always}
record: {description: What to pass as O(recorded) next time., type: dict, returned: always}
refused:
  {description: Paths left alone as links (or below one)., type: list, returned: always}
git:
  description:
    - With O(git), when the project has a C(.git) that is no link - C(head),
      whether it has a commit, and C(origin), the origin remote's URL or
      null; else null.
  type: dict
  returned: always
environment:
  description:
    - With O(environment), the sha256 of what `uv sync --check` compares, read
      without running uv - the project's pyproject.toml and uv.lock, the
      venv's configuration and interpreter, the name and time of every
      installed distribution (C(*.dist-info), C(*.pth)), the given arguments
      and the uv executable; null when there is no C(.venv) folder.
  type: str
  returned: always
"""


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def look(path):
    """('missing' | 'dir' | 'file' | 'link' | 'other', sha1 of a regular file or None).

    Links are not followed.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing", None
    if stat.S_ISLNK(info.st_mode):
        return "link", None
    if stat.S_ISDIR(info.st_mode):
        return "dir", None
    if stat.S_ISREG(info.st_mode):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            return "file", sha1(handle.read())
    return "other", None


def through_link(base, relative):
    """True when `relative`, or a folder on the way to it, is a link."""
    current = base
    for part in relative.split("/"):
        current = os.path.join(current, part)
        found, _ = look(current)
        if found == "link":
            return True
        if found == "missing":
            return False
    return False


def file_action(found, found_sha1, wanted_sha1, recorded_sha1):
    if found == "missing":
        return "create" if recorded_sha1 is None else "keep"
    if found != "file":
        return "keep"
    if found_sha1 == wanted_sha1:
        return "same"
    if found_sha1 == recorded_sha1:
        return "update"
    return "keep"


def dir_action(found, recorded):
    if found == "missing":
        return "keep" if recorded else "create"
    return "same" if found == "dir" else "keep"


def plan(root, dirs, files, recorded):
    """The action for every folder and file; see DOCUMENTATION."""
    fresh = look(root)[0] == "missing"
    recorded_files = {} if fresh else dict(recorded.get("files") or {})
    recorded_dirs = set() if fresh else set(recorded.get("dirs") or [])
    dir_actions = {}
    for path in dirs:
        found, _ = look(os.path.join(root, path))
        linked = through_link(root, path)
        dir_actions[path] = "refuse" if linked else dir_action(found, path in recorded_dirs)
    file_actions = {}
    for entry in files:
        wanted = sha1(entry["content"].encode("utf-8"))
        found, found_sha1 = look(os.path.join(root, entry["path"]))
        old = recorded_files.get(entry["path"])
        action = (
            "refuse"
            if through_link(root, entry["path"])
            else file_action(found, found_sha1, wanted, old)
        )
        file_actions[entry["path"]] = (action, wanted, old)
    return fresh, dir_actions, file_actions


def make_dirs(root, path, mode, created):
    """mkdir -p below root, recording what it created."""
    missing = []
    current = os.path.join(root, path) if path else root
    while not os.path.lexists(current):
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        os.mkdir(directory)
        os.chmod(directory, mode)
        created.append(os.path.relpath(directory, root))


def write(path, content, mode):
    """Atomically: a temporary file in the same folder, renamed over the target."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".mlops-course.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content.encode("utf-8"))
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def guarded(root, paths):
    """The guard paths that are, or lie below, a link."""
    home = pwd.getpwuid(os.geteuid()).pw_dir
    found = []
    for path in paths:
        base, relative = (home, path[2:]) if path.startswith("~/") else (root, path)
        if through_link(base, relative):
            found.append(path)
    return found


def refuse_project(recorded):
    """The result for a project folder that is a link: nothing is touched."""
    return {
        "changed": False,
        "fresh": False,
        "written": [],
        "created": [],
        "kept": [],
        "existing": [],
        "refused": ["."],
        "record": recorded,
        "git": None,
        "environment": None,
    }


def git_state(module, root):
    """Whether the repository has a first commit, and its origin remote."""
    if look(os.path.join(root, ".git"))[0] not in ("dir", "file"):
        return None
    git = module.get_bin_path("git")
    if git is None:
        return None
    head, _, _ = module.run_command([git, "rev-parse", "--quiet", "--verify", "HEAD"], cwd=root)
    rc, origin, _ = module.run_command([git, "remote", "get-url", "origin"], cwd=root)
    return {"head": head == 0, "origin": origin.strip() if rc == 0 else None}


def stat_of(path):
    """Identity of what path leads to (links followed), or None."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [os.path.realpath(path), info.st_ino, info.st_size, info.st_mtime_ns]


def fingerprint(root, inputs):
    """What `uv sync --check` compares, without running uv (see RETURN)."""
    venv = os.path.join(root, ".venv")
    if look(venv)[0] != "dir":
        return None
    python = os.path.join(venv, "bin", "python")
    parts = {
        "inputs": inputs,
        "uv": stat_of(inputs[0]),
        "project": [look(os.path.join(root, name)) for name in ("pyproject.toml", "uv.lock")],
        "pyvenv.cfg": look(os.path.join(venv, "pyvenv.cfg")),
        "python": [look(python), stat_of(python)],
        "installed": {},
    }
    for site in sorted(
        glob.glob(os.path.join(glob.escape(venv), "lib", "python*", "site-packages"))
    ):
        with os.scandir(site) as entries:
            parts["installed"][os.path.relpath(site, venv)] = sorted(
                [entry.name, entry.stat(follow_symlinks=False).st_mtime_ns]
                for entry in entries
                if entry.name.endswith((".dist-info", ".pth"))
            )
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def run(module):
    params = module.params
    root = params["root"]
    dir_mode = int(params["dir_mode"], 8)
    if look(root)[0] not in ("missing", "dir"):
        return refuse_project(params["recorded"])
    existing = [path for path in params["probe"] if os.path.lexists(os.path.join(root, path))]
    fresh, dir_actions, file_actions = plan(
        root, params["dirs"], params["files"], params["recorded"]
    )

    wanted_dirs = sorted(path for path, action in dir_actions.items() if action == "create")
    writes = [
        entry for entry in params["files"] if file_actions[entry["path"]][0] in ("create", "update")
    ]
    kept = sorted(
        [path for path, action in dir_actions.items() if action == "keep"]
        + [path for path, (action, _, _) in file_actions.items() if action == "keep"]
    )
    refused = sorted(
        [path for path, action in dir_actions.items() if action == "refuse"]
        + [path for path, (action, _, _) in file_actions.items() if action == "refuse"]
        + guarded(root, params["guard"])
    )
    created = []
    if not module.check_mode:
        if fresh:
            make_dirs(root, "", dir_mode, created)
        for path in wanted_dirs:
            make_dirs(root, path, dir_mode, created)
        for entry in writes:
            target = os.path.join(root, entry["path"])
            make_dirs(root, os.path.dirname(entry["path"]), dir_mode, created)
            write(target, entry["content"], int(entry["mode"], 8))
    else:
        created = ([""] if fresh else []) + wanted_dirs

    files_record = {}
    for path, (action, wanted, old) in file_actions.items():
        if action not in ("keep", "refuse"):
            files_record[path] = wanted
        elif old is not None:
            files_record[path] = old
    environment = params.get("environment") or []
    return {
        "changed": bool(created or writes),
        "fresh": fresh,
        "written": [entry["path"] for entry in writes],
        "created": sorted(path for path in created if path not in ("", ".")),
        "kept": kept,
        "existing": existing,
        "refused": refused,
        "record": {"dirs": sorted(dir_actions), "files": dict(sorted(files_record.items()))},
        "git": git_state(module, root) if params.get("git") else None,
        "environment": fingerprint(root, environment) if environment else None,
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "dirs": {"type": "list", "elements": "str", "default": []},
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "str", "required": True},
                    "content": {"type": "str", "required": True, "no_log": False},
                    "mode": {"type": "str", "default": "0644"},
                },
            },
            "recorded": {"type": "dict", "default": {}},
            "probe": {"type": "list", "elements": "str", "default": []},
            "guard": {"type": "list", "elements": "str", "default": []},
            "dir_mode": {"type": "str", "default": "0755"},
            "git": {"type": "bool", "default": False},
            "environment": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    for entry in module.params["files"]:
        if os.path.isabs(entry["path"]) or ".." in entry["path"].split("/"):
            module.fail_json(msg=f"files: {entry['path']} is not a path inside the project")
    if os.geteuid() == 0:
        module.fail_json(
            msg="mlops_course_project runs as the student (become_user), never as root"
        )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
