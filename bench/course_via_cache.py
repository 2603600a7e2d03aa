#!/usr/bin/env python3
"""Copy the course content with its uv.lock pointed at the lab's index cache.

  course_via_cache.py --src files/course --dest DIR --index http://HOST:3141/index/

A uv.lock records the index it was resolved against and each file's URL:
`uv sync --locked` refuses a lock made against another index than the seat's,
and downloads from the file URLs in the lock. For the cache mode of
bench/provision_scale.sh the lock must therefore name the cache (as
roles/package_cache/README.md describes): the registry becomes the cache's
index URL and each file URL becomes <index>/<project>/<file name>. Versions
and hashes stay as locked. The seats get DIR as mlops_course_content_dir.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

PUBLIC_REGISTRY = '{ registry = "https://pypi.org/simple" }'
PACKAGE = re.compile(r'^name = "(?P<name>[^"]+)"$', re.MULTILINE)
FILE_URL = re.compile(r'url = "https://files\.pythonhosted\.org/packages/[^"]*/(?P<file>[^"/]+)"')


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def rewrite(lock: str, index: str) -> tuple[str, int]:
    """The lock with the cache's registry and file URLs, and how many files moved."""
    # uv records the index URL as configured (trailing slash included) and
    # compares it as such.
    registry = index
    files = index.rstrip("/")
    blocks = re.split(r"(?m)^(?=\[\[package\]\]$)", lock)
    count = 0
    out = []
    for block in blocks:
        match = PACKAGE.search(block)
        text = block
        if match and PUBLIC_REGISTRY in block:
            project = normalise(match["name"])
            text = text.replace(PUBLIC_REGISTRY, f'{{ registry = "{registry}" }}')
            text, moved = FILE_URL.subn(
                lambda found, project=project: f'url = "{files}/{project}/{found["file"]}"',
                text,
            )
            count += moved
        out.append(text)
    return "".join(out), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--index", required=True)
    args = parser.parse_args()

    shutil.copytree(args.src, args.dest, dirs_exist_ok=True)
    lock_path = args.dest / "uv.lock"
    text, count = rewrite(lock_path.read_text(), args.index)
    if PUBLIC_REGISTRY in text or "files.pythonhosted.org" in text:
        print(f"{lock_path}: public index URLs left after the rewrite", file=sys.stderr)
        return 1
    lock_path.write_text(text)
    print(f"{lock_path}: {count} file URLs now through {args.index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
