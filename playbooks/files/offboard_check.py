"""Check one student's offboarding archive and describe it.

Usage: offboard_check.py FOLDER

FOLDER (offboard/<user>/ on the control node) holds, per seat,
<seat>.bundle, <seat>-uncommitted.patch and <seat>-untracked.tar, and
mlflow-runs.json. Each bundle must be a git bundle that clones (bare) into
a repository with at least one commit, each patch must be there, each tar
must list, the export must parse. Only then is FOLDER/manifest.json written
(sizes, sha256, commits, files, runs); it is removed first, so a failed
check leaves none. Prints the manifest as one JSON line.
"""

import hashlib
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile

folder = pathlib.Path(sys.argv[1])
manifest_file = folder / "manifest.json"
manifest_file.unlink(missing_ok=True)


def sha256(path):
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git(*argv, cwd=None):
    return subprocess.run(
        ["git", *argv], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


seats = {}
for bundle in sorted(folder.glob("*.bundle")):
    seat = bundle.name.removesuffix(".bundle")
    untracked = folder / f"{seat}-untracked.tar"
    uncommitted = folder / f"{seat}-uncommitted.patch"
    # git clone takes other things for a repository too (a "gitdir:" file).
    with bundle.open("rb") as stream:
        if stream.readline() not in (b"# v2 git bundle\n", b"# v3 git bundle\n"):
            sys.exit(f"{bundle}: not a git bundle")
    with tempfile.TemporaryDirectory() as scratch:
        # Bare: the student's files are never written out on the control node.
        clone = pathlib.Path(scratch, "project.git")
        git("clone", "--bare", "--quiet", str(bundle), str(clone))
        commits = int(git("rev-list", "--count", "--all", cwd=clone))
        branches = git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=clone).split()
    with tarfile.open(untracked) as archive:
        files = [member.name for member in archive.getmembers() if member.isfile()]
    seats[seat] = {
        "bundle": {"bytes": bundle.stat().st_size, "sha256": sha256(bundle)},
        "commits": commits,
        "branches": branches,
        "uncommitted": {"bytes": uncommitted.stat().st_size, "sha256": sha256(uncommitted)},
        "untracked": {
            "bytes": untracked.stat().st_size,
            "sha256": sha256(untracked),
            "files": len(files),
        },
    }
if not seats:
    sys.exit(f"{folder}: no project archive")
if min(seat["commits"] for seat in seats.values()) < 1:
    sys.exit(f"{folder}: a bundle holds no commit")

runs_file = folder / "mlflow-runs.json"
export = json.loads(runs_file.read_text())
manifest = {
    "student": export["student"],
    "seats": seats,
    "mlflow": {
        "runs": len(export["runs"]),
        "artifacts": sum(len(run["artifacts"]) for run in export["runs"]),
        "sha256": sha256(runs_file),
    },
}
manifest_file.write_text(json.dumps(manifest, indent=2) + "\n")
manifest_file.chmod(0o600)
print(json.dumps(manifest))
