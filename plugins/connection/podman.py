"""containers.podman.podman with Ansible pipelining, under the short name `podman`.

The collection's plugin refuses pipelining because it runs `podman exec`
without --interactive, so a module sent on stdin never arrives. Passing
--interactive when there is input makes pipelining work: one `podman exec`
per task instead of a temporary directory, a copy and three more execs
(about 3.5x faster per task here). Found through connection_plugins in
ansible.cfg (and the molecule base config), it serves `ansible_connection:
podman`, which molecule's podman driver and inventory/lab.yml set. Real
machines go through SSH, which pipelines with the same setting.
"""

from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as PodmanConnection,
)

DOCUMENTATION = """
name: podman
short_description: Run tasks in podman containers, with pipelining
description:
  - containers.podman.podman, plus pipelining through C(podman exec --interactive).
author: mlops-lab
options:
  remote_addr:
    description: The container to run in.
    default: inventory_hostname
    vars:
      - name: ansible_host
      - name: inventory_hostname
      - name: ansible_podman_host
  remote_user:
    description: The user inside the container.
    env:
      - name: ANSIBLE_REMOTE_USER
    vars:
      - name: ansible_user
  podman_extra_args:
    description: Extra arguments for every podman command.
    default: ""
    vars:
      - name: ansible_podman_extra_args
    env:
      - name: ANSIBLE_PODMAN_EXTRA_ARGS
  podman_executable:
    description: The podman executable.
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
  pipelining:
    description: Send modules on stdin instead of copying them.
    type: boolean
    default: false
    env:
      - name: ANSIBLE_PIPELINING
    ini:
      - section: defaults
        key: pipelining
      - section: connection
        key: pipelining
    vars:
      - name: ansible_pipelining
"""


class Connection(PodmanConnection):
    transport = "podman"
    has_pipelining = True

    def _podman(self, cmd, cmd_args=None, in_data=None, use_container_id=True):
        if in_data and isinstance(cmd, list) and cmd[:1] == ["exec"]:
            cmd = ["exec", "--interactive", *cmd[1:]]
        return super()._podman(cmd, cmd_args, in_data, use_container_id)
