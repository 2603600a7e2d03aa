#!/usr/bin/python
"""A student's home: private, with their SSH keys; run as the student."""

import errno
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: student_home
short_description: Make the running user's home private and authorise their SSH keys
description:
  - Runs as the student (become_user), never as root, so nothing the student
    planted in their home can redirect a write to a file they do not own.
  - Sets the mode of the home folder itself (the account's home in the
    password database, not $HOME).
  - Adds missing keys to ~/.ssh/authorized_keys and keeps every other line.
    ~/.ssh is created 0700 when missing. A ~/.ssh or authorized_keys that is
    a symbolic link or not a folder or regular file is left alone and
    reported in RV(refused).
options:
  home_mode:
    description: Mode of the home folder.
    type: str
    default: "0700"
  ssh_keys:
    description: SSH public key lines the student's authorized_keys must hold.
    type: list
    elements: str
    default: []
"""

RETURN = r"""
home: {description: The home folder., type: str, returned: always}
refused: {description: Paths left alone, each with the reason., type: list, returned: always}
"""


def kind(path):
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def ensure_mode(path, mode, check_mode):
    """chmod without following a link; True when it changed."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) == mode:
            return False
        if not check_mode:
            os.fchmod(fd, mode)
        return True
    finally:
        os.close(fd)


def read_lines(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "r", encoding="utf-8", errors="surrogateescape") as handle:
        return handle.read().splitlines()


def write_lines(path, lines):
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".authorized_keys.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", errors="surrogateescape") as stream:
            stream.write("".join(line + "\n" for line in lines))
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def authorise(home, keys, check_mode, refused):
    """Add the missing keys; True when something changed (or would)."""
    ssh = os.path.join(home, ".ssh")
    found = kind(ssh)
    changed = False
    if found == "missing":
        changed = True
        if not check_mode:
            os.mkdir(ssh, 0o700)
    elif found != "dir":
        refused.append(f"{ssh}: a {found}, not a folder; the SSH keys were not written")
        return False
    elif os.lstat(ssh).st_mode & 0o022:
        # sshd's StrictModes ignores keys in a folder others may write.
        changed = ensure_mode(ssh, 0o700, check_mode)
    path = os.path.join(ssh, "authorized_keys")
    found = kind(path)
    if found not in ("missing", "file"):
        refused.append(f"{path}: a {found}, not a regular file; the SSH keys were not written")
        return changed
    lines = read_lines(path) if found == "file" else []
    present = {" ".join(line.split()[:2]) for line in lines if line.strip()}
    missing = [key for key in keys if " ".join(key.split()[:2]) not in present]
    if missing and not check_mode:
        write_lines(path, lines + missing)
    return changed or bool(missing)


def main():
    module = AnsibleModule(
        argument_spec={
            "home_mode": {"type": "str", "default": "0700"},
            "ssh_keys": {"type": "list", "elements": "str", "default": [], "no_log": False},
        },
        supports_check_mode=True,
    )
    if os.geteuid() == 0:
        module.fail_json(msg="student_home runs as the student (become_user), never as root")
    home = pwd.getpwuid(os.geteuid()).pw_dir
    if kind(home) != "dir" or os.lstat(home).st_uid != os.geteuid():
        module.fail_json(msg=f"{home} is not a folder owned by the student")
    refused = []
    changed = False
    try:
        changed = ensure_mode(home, int(module.params["home_mode"], 8), module.check_mode)
        if module.params["ssh_keys"]:
            changed = (
                authorise(home, module.params["ssh_keys"], module.check_mode, refused) or changed
            )
    except OSError as error:
        # Only a student's own sabotage gets here (a link swapped in mid-run).
        if error.errno not in (errno.EACCES, errno.EPERM, errno.ELOOP, errno.ENOTDIR):
            raise
        refused.append(f"{error.filename}: {error.strerror}")
    for message in refused:
        module.warn(message)
    module.exit_json(changed=changed, home=home, refused=refused)


if __name__ == "__main__":
    main()
