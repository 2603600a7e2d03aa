"""The course lock pointed at the lab's package cache.

A uv.lock records the index each package was resolved against and the URL
of each of its files. `uv sync --locked` refuses a lock whose index is not
the one the seat uses, and downloads from the recorded URLs, so a seat that
goes through the lab cache (roles/package_cache: proxpi) needs a copy of the
lock that names the cache: the registry becomes the cache's index URL and
each file URL becomes <cache>/<project>/<file name>, where proxpi serves it.
Versions and hashes stay as locked, so the seat installs the same bytes.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

PACKAGE_NAME = re.compile(r'^name = "(?P<name>[^"]+)"$', re.MULTILINE)
FILE_URL = re.compile(r'url = "[a-z][a-z0-9+.-]*://[^"]*/(?P<file>[^"/]+)"')
PACKAGE_START = re.compile(r"(?m)^(?=\[\[package\]\]$)")


def _normalise(name: str) -> str:
    # PEP 503: the project's path on a simple index.
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_via_cache(lock: str, cache_url: str, registry: str = "https://pypi.org/simple") -> str:
    """LOCK with the packages of REGISTRY fetched through CACHE_URL instead."""
    if not isinstance(lock, str) or not cache_url:
        raise AnsibleFilterError(
            "mlops_course_lock_via_cache needs the lock's text and a cache URL"
        )
    old_source = f'{{ registry = "{registry}" }}'
    new_source = f'{{ registry = "{cache_url}" }}'
    files_base = cache_url.rstrip("/")
    blocks = []
    for block in PACKAGE_START.split(lock):
        name = PACKAGE_NAME.search(block)
        text = block
        if name and f"source = {old_source}" in block:
            base = f"{files_base}/{_normalise(name['name'])}"
            text = FILE_URL.sub(lambda found, base=base: f'url = "{base}/{found["file"]}"', block)
        blocks.append(text.replace(old_source, new_source))
    return "".join(blocks)


class FilterModule:
    def filters(self):
        return {"mlops_course_lock_via_cache": lock_via_cache}
