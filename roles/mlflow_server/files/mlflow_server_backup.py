#!/usr/bin/python3
"""One consistent backup of the MLflow server, taken while it runs.

Run by mlflow-server-backup.service (root, sandboxed) with one argument, the
JSON settings the mlflow_server role writes. Into <backup_dir>/<UTC time>/:

- db/<name>: each sqlite database, through sqlite's online backup API (a
  consistent copy while the server writes), made by a child process that
  is the server's user (so no file of the server's gets a root owner), then
  checked with PRAGMA integrity_check;
- <database>.pgc: pg_dump -Fc of each PostgreSQL database (the URIs come
  from the environment and basic_auth.ini, never from a command line);
- artifacts/: the local artifact store; a file unchanged since the previous
  backup (same size and time) is a hard link to it, so each backup is whole
  and costs only what changed. Links and special files are skipped;
- manifest.json, written last; the folder is renamed into place only then.

The newest `keep` complete backups are kept; older ones are deleted.
Everything is root's, folders 0700, files 0600.
"""

import configparser
import datetime
import hashlib
import json
import os
import pwd
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import urllib.parse

STAMP = re.compile(r"^\d{8}T\d{6}Z$")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup_sqlite(source, account, target):
    """sqlite's online backup of source into target, made as account."""
    stage = tempfile.mkdtemp(prefix="mlflow-backup.")
    os.chown(stage, account.pw_uid, account.pw_gid)
    staged = os.path.join(stage, os.path.basename(target))
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.umask(0o077)
            with sqlite3.connect(source) as origin, sqlite3.connect(staged) as copy:
                origin.backup(copy)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    # Root's again before anything else is done there.
    os.chown(stage, 0, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        shutil.rmtree(stage)
        raise RuntimeError(f"the online backup of {source} failed")
    os.chown(staged, 0, 0)
    os.chmod(staged, 0o600)
    with sqlite3.connect(staged) as copy:
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        raise RuntimeError(f"the copy of {source} fails its integrity check: {verdict}")
    shutil.move(staged, target)
    shutil.rmtree(stage)


def backup_postgresql(uri, target):
    parts = urllib.parse.urlsplit(uri)
    environment = dict(
        os.environ,
        PGHOST=parts.hostname or "localhost",
        PGPORT=str(parts.port or 5432),
        PGUSER=urllib.parse.unquote(parts.username or ""),
        PGPASSWORD=urllib.parse.unquote(parts.password or ""),
        PGDATABASE=urllib.parse.unquote(parts.path.lstrip("/")),
    )
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "--file", target],
        env=environment,
        check=True,
    )
    os.chmod(target, 0o600)


def backup_tree(source, target, previous):
    """Copy source to target; files unchanged since previous are hard links."""
    counts = {"files": 0, "bytes": 0, "linked": 0, "skipped": 0}
    os.mkdir(target, 0o700)
    for entry in os.scandir(source):
        path = os.path.join(target, entry.name)
        before = os.path.join(previous, entry.name) if previous else None
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            inner = backup_tree(
                entry.path, path, before if before and os.path.isdir(before) else None
            )
            counts = {key: counts[key] + inner[key] for key in counts}
        elif stat.S_ISREG(info.st_mode):
            counts["files"] += 1
            counts["bytes"] += info.st_size
            old = os.lstat(before) if before and os.path.lexists(before) else None
            if (
                old
                and stat.S_ISREG(old.st_mode)
                and (old.st_size, old.st_mtime_ns) == (info.st_size, info.st_mtime_ns)
            ):
                os.link(before, path)
                counts["linked"] += 1
            else:
                shutil.copy2(entry.path, path, follow_symlinks=False)
                os.chown(path, 0, 0)
                os.chmod(path, 0o600)
        else:
            counts["skipped"] += 1
    return counts


def complete_backups(directory):
    return sorted(
        name
        for name in os.listdir(directory)
        if STAMP.match(name) and os.path.isfile(os.path.join(directory, name, "manifest.json"))
    )


def main(settings_file):
    with open(settings_file) as stream:
        settings = json.load(stream)
    directory = settings["backup_dir"]
    account = pwd.getpwnam(settings["user"])
    os.umask(0o077)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    earlier = complete_backups(directory)
    if stamp in earlier:
        raise RuntimeError(f"a backup {stamp} exists already")
    partial = os.path.join(directory, f".{stamp}.partial")
    for name in os.listdir(directory):
        if name.endswith(".partial"):
            shutil.rmtree(os.path.join(directory, name))
    os.mkdir(partial, 0o700)
    manifest = {
        "stamp": stamp,
        "mlflow_version": settings["mlflow_version"],
        "backend": settings["backend"],
        "sqlite": {},
        "postgresql": {},
    }

    os.mkdir(os.path.join(partial, "db"), 0o700)
    # Every database and folder of the settings must be there and readable:
    # a backup that silently holds nothing is worse than a failed one.
    for source in settings["sqlite"]:
        os.stat(source)
        name = os.path.basename(source)
        backup_sqlite(source, account, os.path.join(partial, "db", name))
        manifest["sqlite"][source] = sha256(os.path.join(partial, "db", name))

    uris = {}
    if settings["backend"] == "postgresql":
        uris["tracking"] = os.environ["MLFLOW_BACKEND_STORE_URI"]
    if settings.get("auth_config"):
        auth = configparser.ConfigParser(interpolation=None)
        auth.read(settings["auth_config"])
        if auth["mlflow"]["database_uri"].startswith("postgresql"):
            uris["auth"] = auth["mlflow"]["database_uri"]
    for role, uri in uris.items():
        target = os.path.join(partial, f"{role}.pgc")
        backup_postgresql(uri, target)
        manifest["postgresql"][role] = sha256(target)

    if settings.get("artifacts_dir"):
        os.listdir(settings["artifacts_dir"])
        previous = os.path.join(directory, earlier[-1], "artifacts") if earlier else None
        manifest["artifacts"] = backup_tree(
            settings["artifacts_dir"],
            os.path.join(partial, "artifacts"),
            previous if previous and os.path.isdir(previous) else None,
        )

    with open(os.path.join(partial, "manifest.json"), "w") as stream:
        json.dump(manifest, stream, indent=2)
    final = os.path.join(directory, stamp)
    os.rename(partial, final)

    kept = complete_backups(directory)
    for name in kept[: max(0, len(kept) - settings["keep"])]:
        shutil.rmtree(os.path.join(directory, name))
    print(json.dumps({"backup": final, **{k: v for k, v in manifest.items() if k != "stamp"}}))


if __name__ == "__main__":
    main(sys.argv[1])
