#!/usr/bin/python
"""Read, in one module call, what a role needs to know of a host before it changes anything."""

import grp
import hashlib
import os
import pwd
import resource
import signal
import stat
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: lab_probe
short_description: Read many facts of a host in one module call, changing nothing
description:
  - A re-run of a converged seat pays for every module call that reaches the
    host. Each role asks this module once for all it needs to know (files,
    folders, links, packages, accounts, the output of read-only commands) and
    skips every task the answer proves to have nothing to do.
  - Never follows a link: paths are looked at with lstat, files are read with
    O_NOFOLLOW. It runs as root, so it is for paths root controls (system
    folders, the homes themselves); what lies inside a home is read as its
    owner: by a command the probe runs as that user (O(user_commands)), or
    by the role's own module.
  - Changes nothing, in check mode too.
options:
  files:
    description:
      - Paths to look at (RV(files)), each with what the role's task would
        leave there, as that task states it; C(met) in RV(files) says whether
        the path is so already. Only C(path) is required.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: The path., type: path, required: true}
      state:
        description: What must be there; nothing when not given.
        type: str
        choices: [file, directory, link, absent]
      sha256: {description: A file's content (its sha256)., type: str}
      src: {description: A link's target, as the link holds it., type: str}
      owner: {description: Owner (a name)., type: str}
      group: {description: Group (a name)., type: str}
      mode: {description: Mode, like "0644"., type: str}
  read:
    description: Regular files whose text to return (RV(text)), up to 1 MiB each.
    type: list
    elements: path
    default: []
  list:
    description: Folders whose entries to look at (RV(lists)).
    type: list
    elements: path
    default: []
  packages:
    description: Debian packages whose installed version to return (RV(packages)).
    type: list
    elements: str
    default: []
  commands:
    description:
      - Read-only commands to run, by name, each an argv (RV(commands)).
        A missing executable gives rc 127.
    type: dict
    default: {}
  users:
    description: Accounts to look up in the password database (RV(users)).
    type: list
    elements: str
    default: []
  user_commands:
    description:
      - Read-only commands to run as a user, by name, each C(user) and
        C(argv) (RV(user_commands)). The command is that user alone (their
        UID, GID and no other group), with HOME their home, in C(/): what it
        reads in the home, it reads with the owner's rights. No such account
        gives rc 127; a command still running after 20 s is killed with its
        process group (rc 124); output past 1 MiB is cut.
    type: dict
    default: {}
"""

RETURN = r"""
files:
  description:
    - By path, C(type) (missing, file, dir, link or other); when it exists
      also C(mode) (like "0644"), C(uid), C(gid) and C(mtime); C(sha256) of a
      regular file and C(target) of a link; and C(met), whether the path is
      as the entry of O(files) states.
  type: dict
  returned: always
text:
  description: By path, the file's text, or null when it is no regular file.
  type: dict
  returned: always
lists:
  description:
    - By folder, its entries by name, each described as in RV(files) (no
      C(met)); null when it is no folder.
  type: dict
  returned: always
packages: {description: By package, the installed version, or null., type: dict, returned: always}
commands:
  description:
    - By name, C(rc), C(stdout), C(stderr) (without their last line break) and
      C(stdout_lines), as the command module gives them.
  type: dict
  returned: always
user_commands:
  description: By name, as RV(commands).
  type: dict
  returned: always
users:
  description:
    - By account, C(uid), C(gid), C(gecos), C(home), C(shell), C(groups) (the
      supplementary groups), C(home_type) (the home folder's type, as in
      RV(files)) and, for a folder, C(home_mode) and C(home_uid) (from lstat;
      null otherwise); null when there is no such account.
  type: dict
  returned: always
time: {description: The host's clock, seconds since the epoch., type: float, returned: always}
"""

EXAMPLES = r"""
- name: Look at what the role manages
  lab_probe:
    files:
      - {path: /etc/uv, state: directory, owner: root, group: root, mode: "0755"}
      - {path: /usr/local/bin/uv, state: link, src: /opt/uv/venv/bin/uv}
    packages: [python3-venv]
    commands:
      version: [/usr/local/bin/uv, --version]
  register: __uv_probe
  check_mode: false
"""

READ_LIMIT = 1024 * 1024
USER_COMMAND_TIMEOUT = 20
KINDS = ((stat.S_ISLNK, "link"), (stat.S_ISDIR, "dir"), (stat.S_ISREG, "file"))


def sha256_of(fd):
    digest = hashlib.sha256()
    for block in iter(lambda: os.read(fd, 1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def look(path):
    """What is at path, without following a link."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {"type": "missing"}
    kind = next((name for test, name in KINDS if test(info.st_mode)), "other")
    found = {
        "type": kind,
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "uid": info.st_uid,
        "gid": info.st_gid,
        "mtime": info.st_mtime,
    }
    if kind == "link":
        found["target"] = os.readlink(path)
    elif kind == "file":
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            found["sha256"] = sha256_of(fd)
        finally:
            os.close(fd)
    return found


STATES = {"file": "file", "directory": "dir", "link": "link", "absent": "missing"}


def uid_of(name):
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def gid_of(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def met(found, wanted):
    """Whether what was found is what the entry of `files` states."""
    if wanted.get("state") and found["type"] != STATES[wanted["state"]]:
        return False
    if found["type"] == "missing":
        return True
    checks = (
        ("sha256", lambda: found.get("sha256") == wanted["sha256"].lower()),
        ("src", lambda: found.get("target") == wanted["src"]),
        ("mode", lambda: found["mode"] == f"{int(wanted['mode'], 8):04o}"),
        ("owner", lambda: found["uid"] == uid_of(wanted["owner"])),
        ("group", lambda: found["gid"] == gid_of(wanted["group"])),
    )
    return all(wanted.get(key) is None or check() for key, check in checks)


def read(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(READ_LIMIT).decode("utf-8", errors="surrogateescape")


def listing(path):
    if look(path)["type"] != "dir":
        return None
    return {name: look(os.path.join(path, name)) for name in sorted(os.listdir(path))}


def packages(module, names):
    found = dict.fromkeys(names)
    if not names:
        return found
    dpkg_query = module.get_bin_path("dpkg-query")
    if dpkg_query is None:
        return found
    # Unknown names make dpkg-query exit 1; the known ones are still listed.
    _, out, _ = module.run_command(
        [dpkg_query, "--show", "--showformat=${Package}\t${db:Status-Abbrev}\t${Version}\n", *names]
    )
    for line in out.splitlines():
        name, status, version = (line.split("\t") + ["", ""])[:3]
        if name in found and status.startswith("ii"):
            found[name] = version
    return found


def run(module, argv, user=None):
    """argv's rc and output; as user (a name) when given, with none of root's
    groups, HOME theirs and the working folder /."""
    argv = [str(arg) for arg in argv or []]
    if not argv:
        return {"rc": 127, "stdout": "", "stderr": "no command given"}
    executable = argv[0] if os.path.isabs(argv[0]) else module.get_bin_path(argv[0])
    if not executable or not os.access(executable, os.X_OK):
        return {"rc": 127, "stdout": "", "stderr": f"{argv[0]}: no such executable"}
    if user is None:
        rc, out, err = module.run_command([executable, *argv[1:]])
    else:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            return {"rc": 127, "stdout": "", "stderr": f"no account {user}"}
        rc, out, err = run_as(entry, [executable, *argv[1:]])
    # As the command module gives them.
    out, err = out.rstrip("\r\n"), err.rstrip("\r\n")
    return {"rc": rc, "stdout": out, "stderr": err, "stdout_lines": out.splitlines()}


def run_as(entry, argv):
    """rc, stdout, stderr of argv as the account entry alone. What the user
    controls cannot hold the probe: the command is killed with its process
    group after USER_COMMAND_TIMEOUT seconds (rc 124), and its output goes
    to unlinked files it cannot grow past READ_LIMIT."""

    def limit_output():
        resource.setrlimit(resource.RLIMIT_FSIZE, (READ_LIMIT, READ_LIMIT))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            argv,
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=[],
            env={
                "HOME": entry.pw_dir,
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LC_ALL": "C",
            },
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=limit_output,  # noqa: PLW1509 (the module starts no threads)
        )
        try:
            rc = process.wait(timeout=USER_COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            rc = 124
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read(READ_LIMIT).decode(errors="replace"))
    if rc == 124:
        texts[1] += f"\nstopped after {USER_COMMAND_TIMEOUT} s"
    return rc, texts[0], texts[1]


def home_of(path):
    """The home folder's type (as look gives it; a link is never followed),
    and its mode and owner's UID when it is a folder: nothing inside a
    student's home is looked at."""
    found = look(path) if os.path.isabs(path) else {"type": "missing"}
    return {
        "home_type": found["type"],
        "home_mode": found.get("mode") if found["type"] == "dir" else None,
        "home_uid": found.get("uid") if found["type"] == "dir" else None,
    }


def account(name):
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    groups = sorted(group.gr_name for group in grp.getgrall() if name in group.gr_mem)
    return {
        "uid": entry.pw_uid,
        "gid": entry.pw_gid,
        "gecos": entry.pw_gecos,
        "home": entry.pw_dir,
        "shell": entry.pw_shell,
        "groups": groups,
        **home_of(entry.pw_dir),
    }


def described(entry):
    found = look(entry["path"])
    return {**found, "met": met(found, entry)}


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "path", "required": True},
                    "state": {"type": "str", "choices": list(STATES)},
                    "sha256": {"type": "str"},
                    "src": {"type": "str"},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "mode": {"type": "str"},
                },
            },
            "read": {"type": "list", "elements": "path", "default": []},
            "list": {"type": "list", "elements": "path", "default": []},
            "packages": {"type": "list", "elements": "str", "default": []},
            "commands": {"type": "dict", "default": {}},
            "users": {"type": "list", "elements": "str", "default": []},
            "user_commands": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    params = module.params
    module.exit_json(
        changed=False,
        files={entry["path"]: described(entry) for entry in params["files"]},
        text={path: read(path) for path in params["read"]},
        lists={path: listing(path) for path in params["list"]},
        packages=packages(module, params["packages"]),
        commands={name: run(module, argv) for name, argv in params["commands"].items()},
        users={name: account(name) for name in params["users"]},
        user_commands={
            name: run(module, (command or {}).get("argv"), user=(command or {}).get("user", ""))
            for name, command in params["user_commands"].items()
        },
        time=time.time(),
    )


if __name__ == "__main__":
    main()
