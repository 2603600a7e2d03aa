"""Owner, mode and content of the root-owned targets a hostile student aims
links at, as JSON. side_effect.yml records it before the student plants the
links; the tests compare it with the state after provisioning again."""

import hashlib
import json
import os

TARGETS = ["/etc", "/etc/shadow", "/etc/ld.so.preload", "/srv/canary/dir", "/srv/canary/file"]
LISTED = ["/etc", "/srv/canary/dir"]


def state(path):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    entry = {"uid": info.st_uid, "gid": info.st_gid, "mode": oct(info.st_mode)}
    if os.path.isfile(path):
        with open(path, "rb") as handle:
            entry["sha256"] = hashlib.sha256(handle.read()).hexdigest()
    return entry


print(
    json.dumps(
        {
            "targets": {path: state(path) for path in TARGETS},
            "listings": {path: sorted(os.listdir(path)) for path in LISTED},
        },
        sort_keys=True,
    )
)
