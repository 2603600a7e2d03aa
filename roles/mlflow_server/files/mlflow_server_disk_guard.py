"""The MLflow server's disk guard, run every minute by its timer.

    mlflow_server_disk_guard.py PATH...

Reads the free share of each path's file system (the space an unprivileged
process may still use). While any is below MLFLOW_DISK_GUARD_MIN_FREE_PERCENT,
the file `uploads-paused` exists in $RUNTIME_DIRECTORY, which makes the TLS
proxy answer artifact uploads with 507, and every run warns in the journal;
reads and the tracking API go on. `state.json` there holds the figures
(verify.yml and report.yml print them). A path that cannot be read makes the
run fail, so the unit shows it, without pausing anything.
"""

import datetime
import json
import os
import sys

FLAG = "uploads-paused"
STATE = "state.json"


def write_atomically(directory, name, text):
    staged = os.path.join(directory, f".{name}.new")
    with open(staged, "w") as stream:
        stream.write(text)
    os.chmod(staged, 0o644)
    os.replace(staged, os.path.join(directory, name))


def measure(path):
    info = os.statvfs(path)
    total = info.f_blocks * info.f_frsize
    free = info.f_bavail * info.f_frsize
    return {
        "free_bytes": free,
        "total_bytes": total,
        "free_percent": round(100.0 * free / total, 1) if total else 0.0,
    }


def main(paths):
    minimum = float(os.environ["MLFLOW_DISK_GUARD_MIN_FREE_PERCENT"])
    directory = os.environ["RUNTIME_DIRECTORY"]
    disks, unreadable = {}, []
    for path in paths:
        try:
            disks[path] = measure(path)
        except OSError as error:
            unreadable.append(path)
            print(f"<3>cannot read the free space of {path}: {error}")
    low = {path: disk for path, disk in disks.items() if disk["free_percent"] < minimum}
    was_paused = os.path.exists(os.path.join(directory, FLAG))
    state = {
        "checked": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "min_free_percent": minimum,
        "uploads_paused": bool(low),
        "disks": disks,
        "unreadable": unreadable,
    }
    if low:
        summary = ", ".join(f"{path} {disk['free_percent']}% free" for path, disk in low.items())
        write_atomically(directory, FLAG, summary + "\n")
        print(f"<4>artifact uploads paused, below {minimum:g}% free: {summary}")
    elif was_paused:
        os.unlink(os.path.join(directory, FLAG))
        print(f"<5>artifact uploads resumed: every disk has {minimum:g}% free or more")
    write_atomically(directory, STATE, json.dumps(state, indent=2) + "\n")
    return 1 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
