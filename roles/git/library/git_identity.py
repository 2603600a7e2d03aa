#!/usr/bin/python
"""Set user.name and user.email in the running user's ~/.gitconfig."""

import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: git_identity
short_description: Set the running user's git identity in their ~/.gitconfig
description:
  - Runs as the user (become_user), never as root, so a ~/.gitconfig the
    user replaced with a link cannot make root write elsewhere.
  - Reads and writes only user.name and user.email; other settings stay.
  - A ~/.gitconfig that is a symbolic link or not a regular file is left
    alone and reported in RV(refused).
options:
  name: {description: user.name., type: str, required: true}
  email: {description: user.email., type: str, required: true}
"""

RETURN = r"""
path: {description: The file., type: str, returned: always}
set: {description: The keys written (or to write, in check mode)., type: list, returned: always}
refused: {description: Why the file was left alone, or empty., type: str, returned: always}
"""


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "email": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    if os.geteuid() == 0:
        module.fail_json(msg="git_identity runs as the user (become_user), never as root")
    path = os.path.join(pwd.getpwuid(os.geteuid()).pw_dir, ".gitconfig")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        refused = f"{path} is {what}; left alone"
        module.warn(refused)
        module.exit_json(changed=False, path=path, set=[], refused=refused)
    git = [module.get_bin_path("git", required=True), "config", "--file", path]
    # Only that file: a global or system config the user points at a pipe
    # would hold git.
    module.run_command_environ_update = {
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    wanted = {"user.name": module.params["name"], "user.email": module.params["email"]}
    to_set = []
    for key, value in wanted.items():
        rc, out, _ = module.run_command([*git, "--get", key]) if mode is not None else (1, "", "")
        if rc != 0 or out.rstrip("\n") != value:
            to_set.append(key)
    if not module.check_mode:
        for key in to_set:
            module.run_command([*git, key, wanted[key]], check_rc=True)
    module.exit_json(changed=bool(to_set), path=path, set=to_set, refused="")


if __name__ == "__main__":
    main()
