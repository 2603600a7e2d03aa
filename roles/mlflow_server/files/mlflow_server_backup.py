"""One consistent backup of the MLflow server, taken while it runs.

Run by mlflow-server-backup.service (root, sandboxed), with the Python of
the server's venv (boto3 for a bucket), with one argument, the JSON
settings the mlflow_server role writes. Into <backup_dir>/<UTC time>/:

- db/<name>: each sqlite database, through sqlite's online backup API (a
  consistent copy while the server writes), made by a child process that
  is the server's user (so no file of the server's gets a root owner), then
  checked with PRAGMA integrity_check;
- <database>.pgc: pg_dump -Fc of each PostgreSQL database (the URIs come
  from the environment and basic_auth.ini, never from a command line);
- artifacts/: the local artifact store; a file unchanged since the previous
  backup (same size and time) is a hard link to it, so each backup is whole
  and costs only what changed. Links and special files are skipped, and so
  is (counted, named in the journal) an entry that cannot be read: a tree
  a client made deep or long cannot stop the backup;
- bucket/: the objects of the S3 artifact store under its prefix, with the
  same hard links for objects of unchanged size and time (the keys come
  from the server's environment); an object whose key cannot be a path
  there (too long, a file that is also a folder: any client may upload
  such names) goes to bucket-keys/ under an encoded name, its key in the
  manifest, and restores to that key; one object that cannot be fetched is
  counted ("failed") and the rest go on (the backup is kept, and the run
  then exits 1 so that its unit fails and says so);
- manifest.json, written last; the folder is renamed into place only then.

The newest `keep` complete backups are kept; older ones are deleted.
Everything is root's, folders 0700, files 0600.

    backup.py SETTINGS                      take a backup
    backup.py SETTINGS restore-bucket DIR   upload DIR/bucket/ back (restore.yml)
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
# Objects whose key cannot be a path of the backup, by encoded name.
ENCODED = "bucket-keys"


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


LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


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
    # libpq options of the URI (?sslmode=...&sslrootcert=...), as its variables.
    for name, value in urllib.parse.parse_qsl(parts.query):
        if name in LIBPQ_OPTIONS:
            environment[LIBPQ_OPTIONS[name]] = value
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "--file", target],
        env=environment,
        check=True,
    )
    os.chmod(target, 0o600)


DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def open_directory(name, dir_fd=None):
    """A folder's descriptor, None when it is missing or no folder."""
    try:
        return os.open(name, DIRECTORY, dir_fd=dir_fd)
    except OSError:
        return None


def backup_file(name, source, target, previous, counts):
    """One regular file: a hard link to the previous backup's copy when that
    has the same size and time, otherwise a copy. Size, time and bytes all
    come from one open descriptor, so a file replaced meanwhile is copied
    whole, old or new, never old bytes with the new time."""
    handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=source)
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            counts["skipped"] += 1
            return
        counts["files"] += 1
        counts["bytes"] += info.st_size
        if previous is not None:
            try:
                old = os.stat(name, dir_fd=previous, follow_symlinks=False)
            except OSError:
                old = None
            if (
                old is not None
                and stat.S_ISREG(old.st_mode)
                and (old.st_size, old.st_mtime_ns) == (info.st_size, info.st_mtime_ns)
            ):
                os.link(
                    name,
                    name,
                    src_dir_fd=previous,
                    dst_dir_fd=target,
                    follow_symlinks=False,
                )
                counts["linked"] += 1
                return
        copy = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
            0o600,
            dir_fd=target,
        )
        try:
            while block := os.read(handle, 1 << 20):
                os.write(copy, block)
            os.utime(copy, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(copy)
    finally:
        os.close(handle)


def open_below(root, parts):
    """The folder root/parts..., opened one level at a time without
    following links; None when a level is missing or no folder."""
    current = os.dup(root)
    for part in parts:
        inner = open_directory(part, current)
        os.close(current)
        if inner is None:
            return None
        current = inner
    return current


def backup_tree(source, target, previous):
    """Copy the folder source to target (new); files unchanged since the
    previous backup's copy are hard links to it. Walked through folder
    descriptors, without recursion and without following links, with three
    folders open at a time, so neither depth, width, long paths nor a folder
    swapped for a link can stop or redirect it; an entry that cannot be read
    is counted and skipped."""
    counts = {"files": 0, "bytes": 0, "linked": 0, "skipped": 0, "unreadable": 0}
    os.mkdir(target, 0o700)
    roots = [os.open(source, DIRECTORY), os.open(target, DIRECTORY)]
    roots.append(open_directory(previous) if previous else None)
    stack = [()]
    try:
        while stack:
            parts = stack.pop()
            folders = [open_below(root, parts) if root is not None else None for root in roots]
            origin, copy, before = folders
            try:
                if origin is None or copy is None:
                    raise OSError(f"{'/'.join(parts)}: cannot be opened")
                for name in os.listdir(origin):
                    try:
                        info = os.stat(name, dir_fd=origin, follow_symlinks=False)
                        if stat.S_ISDIR(info.st_mode):
                            os.mkdir(name, 0o700, dir_fd=copy)
                            stack.append((*parts, name))
                        elif stat.S_ISREG(info.st_mode):
                            backup_file(name, origin, copy, before, counts)
                        else:
                            counts["skipped"] += 1
                    except OSError as error:
                        counts["unreadable"] += 1
                        print(
                            f"skipped an artifact that cannot be read: {error}",
                            file=sys.stderr,
                        )
            except OSError as error:
                counts["unreadable"] += 1
                print(f"skipped an artifact folder: {error}", file=sys.stderr)
            finally:
                for folder in folders:
                    if folder is not None:
                        os.close(folder)
    finally:
        for root in roots:
            if root is not None:
                os.close(root)
    return counts


def s3_client(store):
    import boto3  # the server's venv has it; only a bucket needs it

    return boto3.client("s3", endpoint_url=store["endpoint"] or None)


def object_path(key, prefix):
    """The key's path below the prefix, split; None for a key that is not
    a plain relative path (the folder written stays the backup's)."""
    relative = key[len(prefix) :].lstrip("/") if prefix else key
    parts = relative.split("/")
    if not relative or any(part in ("", ".", "..") for part in parts):
        return None
    return parts


def encoded_name(key):
    """The file name of an object kept under bucket-keys/: the same for
    the same key in every backup, safe for any key."""
    return hashlib.sha256(key.encode()).hexdigest()


def place(staged, path):
    """Move the staged file to path, making its folders; OSError when the
    name is too long, a folder is in the way or a file is where a folder
    must be (keys x and x/y)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if os.path.lexists(path):
        raise FileExistsError(path)
    os.rename(staged, path)


def unchanged_copy(candidates, size, mtime):
    """The previous backup's copy of an object of this size and time."""
    for old in candidates:
        if old and os.path.isfile(old) and not os.path.islink(old):
            info = os.stat(old)
            if (info.st_size, info.st_mtime) == (size, mtime):
                return old
    return None


def backup_bucket(store, backup, previous):
    """Every object under the store's prefix into <backup>/bucket/ under its
    key, or, when the key cannot be a path there (too long, a file that is
    also a folder, a . or .. part), into <backup>/bucket-keys/ under an
    encoded name, its key kept in the counts' "encoded". An object whose size
    and time match the previous backup's copy is a hard link to it. An
    object that cannot be fetched is counted in "failed" and named on
    stderr; the others are still backed up."""
    client = s3_client(store)
    prefix = store["prefix"].strip("/")
    counts = {"files": 0, "bytes": 0, "linked": 0, "skipped": 0, "failed": 0, "encoded": {}}
    tree, keys = os.path.join(backup, "bucket"), os.path.join(backup, ENCODED)
    os.mkdir(tree, 0o700)
    os.mkdir(keys, 0o700)
    staged = os.path.join(backup, ".incoming")
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=store["bucket"], Prefix=prefix + "/" if prefix else ""
    )
    for page in pages:
        for item in page.get("Contents", []):
            key, parts = item["Key"], object_path(item["Key"], prefix)
            name = encoded_name(key)
            mtime = item["LastModified"].timestamp()
            old = unchanged_copy(
                [
                    previous and parts and os.path.join(previous, "bucket", *parts),
                    previous and os.path.join(previous, ENCODED, name),
                ],
                item["Size"],
                mtime,
            )
            try:
                if old:
                    os.link(old, staged)
                else:
                    client.download_file(store["bucket"], key, staged)
                    os.chmod(staged, 0o600)
                    os.utime(staged, (mtime, mtime))
            except Exception as error:  # any one object's failure, never the rest
                counts["failed"] += 1
                print(f"could not back up the object {key!r}: {error}", file=sys.stderr)
                if os.path.lexists(staged):
                    os.unlink(staged)
                continue
            try:
                if parts is None:
                    raise ValueError("not a plain path")
                place(staged, os.path.join(tree, *parts))
            except (OSError, ValueError):
                os.rename(staged, os.path.join(keys, name))
                counts["encoded"][name] = key
            counts["files"] += 1
            counts["bytes"] += item["Size"]
            counts["linked"] += bool(old)
    return counts


def restore_bucket(settings, backup):
    """Upload the backup's objects to the store under their keys (bucket/
    by path, bucket-keys/ by the manifest); objects already there with the
    same size are left as they are, nothing is deleted."""
    store = settings["s3"]
    client = s3_client(store)
    prefix = store["prefix"].strip("/")
    with open(os.path.join(backup, "manifest.json")) as stream:
        encoded = json.load(stream).get("bucket", {}).get("encoded", {})
    present = {}
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=store["bucket"], Prefix=prefix + "/" if prefix else ""
    )
    for page in pages:
        present.update((item["Key"], item["Size"]) for item in page.get("Contents", []))
    wanted = []
    source = os.path.join(backup, "bucket")
    for folder, _, files in os.walk(source):
        for name in files:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, source)
            wanted.append((path, f"{prefix}/{relative}" if prefix else relative))
    wanted += [(os.path.join(backup, ENCODED, name), key) for name, key in encoded.items()]
    counts = {"uploaded": 0, "present": 0}
    for path, key in wanted:
        if os.path.islink(path):
            continue
        if present.get(key) == os.path.getsize(path):
            counts["present"] += 1
            continue
        client.upload_file(path, store["bucket"], key)
        counts["uploaded"] += 1
    print(json.dumps({"restored_bucket": store["bucket"], **counts}))


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

    if settings.get("s3"):
        manifest["bucket"] = {
            "name": settings["s3"]["bucket"],
            "prefix": settings["s3"]["prefix"],
            **backup_bucket(
                settings["s3"],
                partial,
                os.path.join(directory, earlier[-1]) if earlier else None,
            ),
        }

    with open(os.path.join(partial, "manifest.json"), "w") as stream:
        json.dump(manifest, stream, indent=2)
    final = os.path.join(directory, stamp)
    os.rename(partial, final)

    kept = complete_backups(directory)
    for name in kept[: max(0, len(kept) - settings["keep"])]:
        shutil.rmtree(os.path.join(directory, name))
    print(json.dumps({"backup": final, **{k: v for k, v in manifest.items() if k != "stamp"}}))
    # Kept, but loud: the unit fails (OnFailure= logs it) when objects are missing.
    failed = manifest.get("bucket", {}).get("failed", 0)
    if failed:
        print(f"{failed} objects of the bucket could not be backed up", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "restore-bucket":
        with open(sys.argv[1]) as stream:
            restore_bucket(json.load(stream), sys.argv[3])
    else:
        sys.exit(main(sys.argv[1]))
