"""The course lock as a seat behind the lab cache gets it (filter
mlops_course_lock_via_cache), checked on the real files/course/uv.lock."""

import importlib.util
import pathlib
import re
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CACHE = "http://labserver:3141/index/"
PUBLIC = "https://pypi.org/simple"


def load_filter():
    path = ROOT / "roles/mlops_course/filter_plugins/lock_via_cache.py"
    spec = importlib.util.spec_from_file_location("lock_via_cache", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()["mlops_course_lock_via_cache"]


@pytest.fixture(scope="module")
def locks():
    original = (ROOT / "files/course/uv.lock").read_text()
    return tomllib.loads(original), tomllib.loads(load_filter()(original, CACHE, PUBLIC))


def registry_packages(lock, registry):
    return [p for p in lock["package"] if p.get("source", {}).get("registry") == registry]


def files_of(package):
    return ([package["sdist"]] if "sdist" in package else []) + package.get("wheels", [])


def test_every_registry_package_moves_to_the_cache(locks):
    original, rewritten = locks
    assert registry_packages(original, PUBLIC)
    assert len(registry_packages(rewritten, CACHE)) == len(registry_packages(original, PUBLIC))
    assert registry_packages(rewritten, PUBLIC) == []


def test_versions_and_hashes_stay_as_locked(locks):
    original, rewritten = locks

    def hashes(lock):
        return {
            (p["name"], p.get("version")): [f["hash"] for f in files_of(p)] for p in lock["package"]
        }

    assert hashes(original) == hashes(rewritten)


def test_file_urls_point_at_the_cache_by_project(locks):
    _, rewritten = locks
    count = 0
    for package in registry_packages(rewritten, CACHE):
        project = re.sub(r"[-_.]+", "-", package["name"]).lower()
        for found in files_of(package):
            count += 1
            assert found["url"] == f"{CACHE}{project}/{found['url'].rsplit('/', 1)[1]}"
    assert count > 100


def test_packages_of_other_sources_are_left_alone():
    lock = (
        "version = 1\n\n[[package]]\n"
        'name = "torch"\nversion = "2.5.1+cpu"\n'
        'source = { registry = "https://download.example/whl/cpu" }\n'
        'wheels = [{ url = "https://download.example/whl/cpu/torch-2.5.1.whl", '
        'hash = "sha256:00" }]\n'
    )
    assert load_filter()(lock, CACHE, PUBLIC) == lock
