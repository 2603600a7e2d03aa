"""What the lab's package cache does for a seat, and what it refuses.

The tests run in file order: the server's state first, then a seat's installs
through both caches (with timings and byte counts printed), then a crash and
a restart of the index cache.
"""

import json
import pathlib
import re
import shlex
import time

import pytest
import yaml
from conftest import SERVER
from service_checks import assert_sandboxed, journal, request, unit_users

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEFAULTS = yaml.safe_load((ROOT / "roles/package_cache/defaults/main.yml").read_text())
APT_PORT = DEFAULTS["package_cache_apt_port"]
PYPI_PORT = DEFAULTS["package_cache_pypi_port"]
APT_CACHE = DEFAULTS["package_cache_apt_cache_dir"]
PYPI_CACHE = DEFAULTS["package_cache_pypi_cache_dir"]
UNITS = {"apt-cacher-ng.service": "apt-cacher-ng", "proxpi.service": "proxpi"}
INDEX_URL = f"http://{SERVER}:{PYPI_PORT}/index/"
APT_PROXY = f"http://{SERVER}:{APT_PORT}"

# Sends one raw HTTP request to the apt cache and prints the status line.
RAW_REQUEST = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30) as s:
    s.sendall(sys.argv[3].encode().decode('unicode_escape').encode())
    print(s.recv(4096).decode(errors='replace').splitlines()[0])
"""


def apt_cache_says(host, request):
    command = ["python3", "-c", RAW_REQUEST, SERVER, str(APT_PORT), request]
    return host.check_output(shlex.join(command))


def cached_files(server, directory, pattern):
    found = server.run(f"find {directory} -type f -name {shlex.quote(pattern)} -printf '%s %p\\n'")
    return [line.split(" ", 1) for line in found.stdout.splitlines()]


def timed(host, command):
    start = time.monotonic()
    result = host.run(command)
    return result, time.monotonic() - start


# --- the server --------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
def test_units_enabled_and_running_as_their_users(server, unit):
    service = server.service(unit)
    assert service.is_enabled
    assert service.is_running, journal(server, unit)
    assert unit_users(server, unit) == {UNITS[unit]}


@pytest.mark.parametrize("user", UNITS.values())
def test_service_accounts_cannot_log_in(server, user):
    account = server.user(user)
    assert account.shell == "/usr/sbin/nologin"
    assert account.password in ("!", "*", "!*")


@pytest.mark.parametrize("unit", UNITS)
def test_units_are_sandboxed(server, unit):
    assert_sandboxed(server, unit)


@pytest.mark.parametrize("port", [APT_PORT, PYPI_PORT])
def test_caches_listen_on_the_lab_network(server, port):
    assert server.socket(f"tcp://0.0.0.0:{port}").is_listening


@pytest.mark.parametrize(
    ("path", "owner", "group", "mode"),
    [
        ("/etc/proxpi/proxpi.env", "root", "root", 0o600),
        ("/etc/apt-cacher-ng/security.conf", "root", "apt-cacher-ng", 0o640),
        ("/etc/apt-cacher-ng/acng.conf", "root", "root", 0o644),
        (PYPI_CACHE, "proxpi", "proxpi", 0o750),
        (APT_CACHE, "apt-cacher-ng", "apt-cacher-ng", 0o750),
    ],
)
def test_file_owners_and_modes(server, path, owner, group, mode):
    target = server.file(path)
    assert target.exists
    assert (target.user, target.group, target.mode) == (owner, group, mode)


def test_apt_cache_admin_credential_is_set_and_kept_private(server):
    security = server.file("/etc/apt-cacher-ng/security.conf").content_string
    assert re.search(r"^AdminAuth: admin:[A-Za-z0-9]{32}$", security, re.MULTILINE)


def test_index_cache_upstream_uses_the_system_trust_store(server):
    environment = server.check_output("systemctl show proxpi.service --property Environment")
    assert "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt" in environment
    assert "PROXPI_CACHE_DIR=/var/cache/proxpi" in environment


def test_no_secret_on_a_command_line(server):
    security = server.file("/etc/apt-cacher-ng/security.conf").content_string
    secret = re.search(r"^AdminAuth: admin:(\S+)$", security, re.MULTILINE).group(1)
    assert secret not in server.check_output("ps -eo args")


# --- what the apt cache refuses ------------------------------------------------


@pytest.mark.parametrize(
    "request_line",
    [
        "CONNECT pypi.org:443 HTTP/1.1\\r\\nHost: pypi.org:443\\r\\n\\r\\n",
        "CONNECT deb.debian.org:443 HTTP/1.1\\r\\nHost: deb.debian.org:443\\r\\n\\r\\n",
    ],
    ids=["tunnel to the package index", "tunnel to the Debian archive"],
)
def test_apt_cache_opens_no_tunnels(client, request_line):
    assert " 403 " in apt_cache_says(client, request_line)


@pytest.mark.parametrize(
    "request_line",
    [
        # A repository-like path on a host that is not configured (and does
        # not exist, so nothing leaves the lab even if the check failed).
        "GET http://deb.example.invalid/debian/dists/bookworm/Release HTTP/1.1\\r\\n"
        "Host: deb.example.invalid\\r\\nConnection: close\\r\\n\\r\\n",
        # The configured archive on another port.
        "GET http://deb.debian.org:8080/debian/dists/bookworm/Release HTTP/1.1\\r\\n"
        "Host: deb.debian.org:8080\\r\\nConnection: close\\r\\n\\r\\n",
        # A maintenance action of the report page without the credential.
        "GET /acng-report.html?doExpire=Start+Scan+and%2For+Expiration HTTP/1.1\\r\\nHost: cache"
        "\\r\\nConnection: close"
        "\\r\\n\\r\\n",
    ],
    ids=["unconfigured host", "unconfigured port", "maintenance without credential"],
)
def test_apt_cache_refuses_what_apt_does_not_need(client, request_line):
    status = apt_cache_says(client, request_line)
    assert re.search(r" 40[13] ", status), status


# --- a seat -------------------------------------------------------------------


def test_only_the_seat_sends_apt_to_the_cache(host):
    setting = host.file("/etc/apt/apt.conf.d/81lab-apt-cache")
    if host.backend.get_hostname() == SERVER:
        assert not setting.exists
        return
    assert setting.mode == 0o644
    lines = [line for line in setting.content_string.splitlines() if "::" in line]
    # http only: https sources go direct, the cache cannot see inside TLS.
    assert lines == [f'Acquire::http::Proxy "{APT_PROXY}";']


def test_seat_uv_resolves_against_the_cache(client):
    settings = client.file("/etc/uv/uv.toml").content_string
    assert f'url = "{INDEX_URL}"' in settings
    # The seat's own uv came through the cache as well.
    assert client.run("uv --version").rc == 0


def test_seat_installs_a_package_through_the_index_cache(client, server):
    venv = "/tmp/package-cache-small"
    result = client.run(
        f"rm -rf {venv} && uv venv --quiet {venv} && "
        f"uv pip install --no-cache --python {venv}/bin/python iniconfig"
    )
    assert result.rc == 0, f"{result.stderr}\n{journal(server, 'proxpi.service')}"
    version = client.check_output(
        f"{venv}/bin/python -c 'import importlib.metadata as m; print(m.version(\"iniconfig\"))'"
    )
    stored = cached_files(server, PYPI_CACHE, f"iniconfig-{version}-*.whl")
    assert stored, f"iniconfig {version} is not in {PYPI_CACHE}"
    log = server.check_output("journalctl -u proxpi.service --no-pager -o cat")
    assert f"GET /index/iniconfig/iniconfig-{version}-" in log


def test_first_install_through_the_index_cache(client, server):
    """numpy (about 17 MB) installed three ways: straight from the upstream
    index (the baseline), through the cache while it fetches (the first
    seat), and from the cache (the next seats)."""
    baseline_venv, venv = "/tmp/package-cache-direct", "/tmp/package-cache-numpy"
    upstream = DEFAULTS["package_cache_pypi_upstream_url"]
    install = "uv pip install --no-cache --quiet --python {venv}/bin/python {index} numpy"
    client.run(f"rm -rf {baseline_venv} {venv} && uv venv -q {baseline_venv} && uv venv -q {venv}")
    wheel = f"numpy-*{client.system_info.arch}*.whl"
    cached_before = bool(cached_files(server, PYPI_CACHE, wheel))
    runs = {}
    for label, target, index in [
        ("direct from upstream", baseline_venv, f"--default-index {upstream}"),
        ("through the cache, first seat", venv, ""),
        ("through the cache, next seat", venv, "--reinstall"),
    ]:
        result, seconds = timed(client, install.format(venv=target, index=index))
        assert result.rc == 0, result.stderr
        runs[label] = seconds
    wheels = cached_files(server, PYPI_CACHE, wheel)
    assert wheels, "numpy is not in the cache"
    megabytes = int(wheels[0][0]) / 1e6
    print(f"\nuv pip install numpy ({megabytes:.1f} MB wheel; cached before: {cached_before})")
    for label, seconds in runs.items():
        print(f"  {label:32s} {seconds:6.2f} s")


# From a seat: one big wheel straight from the upstream (the baseline), and
# another of the same release through the cache twice (the first seat's
# fetch, then the next seats'). Wheels no seat here installs, so neither the
# cache nor anything on the way has seen them. Prints bytes and seconds.
FETCH = """
import json, sys, time, urllib.parse, urllib.request
cache, upstream, project, arch = sys.argv[1:5]
accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
def files(base):
    request = urllib.request.Request(f"{base}{project}/", headers=accept)
    return json.load(urllib.request.urlopen(request, timeout=60))["files"]
names = [f["filename"] for f in files(cache)]
wanted = [name for name in names if "manylinux" in name and arch in name]
direct_name, cached_name = wanted[-1], wanted[-2]
direct = {f["filename"]: f["url"] for f in files(upstream)}[direct_name]
def fetch(url):
    start = time.monotonic()
    size = len(urllib.request.urlopen(url, timeout=120).read())
    return size, time.monotonic() - start
print(json.dumps({"files": [direct_name, cached_name], "runs": [
    ["direct from upstream", *fetch(urllib.parse.urljoin(f"{upstream}{project}/", direct))],
    ["cache, first seat", *fetch(f"{cache}{project}/{cached_name}")],
    ["cache, next seats", *fetch(f"{cache}{project}/{cached_name}")],
]}))
"""


def test_fetch_speed_through_the_index_cache(client, server):
    upstream = DEFAULTS["package_cache_pypi_upstream_url"]
    # Wheels for another architecture: no seat here installs them.
    foreign = "aarch64" if client.system_info.arch == "x86_64" else "x86_64"
    command = ["python3", "-c", FETCH, INDEX_URL, upstream, "numpy", foreign]
    started = int(server.check_output("date +%s"))
    result = json.loads(client.check_output(shlex.join(command)))
    stored = cached_files(server, PYPI_CACHE, result["files"][1])
    assert stored, f"{result['files'][1]} is not in {PYPI_CACHE}"
    fresh = server.file(stored[0][1]).mtime.timestamp() >= started
    print("\nfetch from the seat: {} (direct), {} (cache)".format(*result["files"]))
    print(f"  (the cache had {'not ' if fresh else ''}fetched it before this test)")
    for label, size, seconds in result["runs"]:
        rate = size / 1e6 / seconds
        print(f"  {label:24s} {size / 1e6:5.1f} MB {seconds:6.2f} s {rate:7.1f} MB/s")
    first, cached = result["runs"][1][1], result["runs"][2][1]
    assert first == cached
    assert int(stored[0][0]) == cached
    total = server.check_output(f"du -sb {PYPI_CACHE}").split()[0]
    print(f"  index cache store: {int(total) / 1e6:.1f} MB in {PYPI_CACHE}")


def test_seat_downloads_a_debian_package_through_the_apt_cache(client, server):
    client.run("apt-get clean")
    result = client.run(
        "DEBIAN_FRONTEND=noninteractive apt-get install --download-only --yes --quiet hello"
    )
    assert result.rc == 0, f"{result.stderr}\n{journal(server, 'apt-cacher-ng.service')}"
    assert client.run("ls /var/cache/apt/archives/hello_*.deb").rc == 0
    stored = cached_files(server, APT_CACHE, "hello_*.deb")
    assert stored, f"hello is not in {APT_CACHE}"
    log = server.file("/var/log/apt-cacher-ng/apt-cacher.log").content_string
    client_ip = client.check_output("hostname -I").split()[0]
    assert re.search(rf"\|O\|\d+\|{re.escape(client_ip)}\|debrep/pool/.*/hello_", log)


def apt_log_totals(server):
    """Bytes apt-cacher-ng fetched upstream (I) and served to seats (O)."""
    log = server.file("/var/log/apt-cacher-ng/apt-cacher.log").content_string
    totals = {"I": 0, "O": 0}
    for line in log.splitlines():
        fields = line.split("|")
        if len(fields) >= 5 and fields[1] in totals:
            totals[fields[1]] += int(fields[2])
    return totals


def test_next_seat_gets_the_debian_package_from_the_cache_alone(client, server):
    before = apt_log_totals(server)
    client.run("apt-get clean")
    result, seconds = timed(
        client, "DEBIAN_FRONTEND=noninteractive apt-get install --download-only --yes --quiet hello"
    )
    assert result.rc == 0, result.stderr
    # The cache logs a transfer when it has ended.
    deadline = time.monotonic() + 10
    while (after := apt_log_totals(server))["O"] == before["O"] and time.monotonic() < deadline:
        time.sleep(0.5)
    served, fetched = after["O"] - before["O"], after["I"] - before["I"]
    stored = server.check_output(f"du -sb {APT_CACHE}").split()[0]
    print(
        f"\nnext seat: hello served {served} bytes in {seconds:.2f} s, {fetched} bytes fetched "
        f"upstream\napt cache in total: {after['I'] / 1e6:.1f} MB fetched upstream, "
        f"{after['O'] / 1e6:.1f} MB served, {int(stored) / 1e6:.1f} MB stored in {APT_CACHE}"
    )
    assert served > 0
    assert fetched == 0


# --- failures -----------------------------------------------------------------


def wait_healthy(server, timeout):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        answer = request(server, f"http://127.0.0.1:{PYPI_PORT}/health", timeout=5)
        if answer["status"] == 200 and json.loads(answer["body"]).get("status") == "success":
            return time.monotonic() - start
        time.sleep(0.5)
    pytest.fail(f"proxpi not healthy within {timeout} s\n{journal(server, 'proxpi.service')}")


def test_index_cache_comes_back_after_a_crash_and_keeps_its_files(client, server):
    wheels = cached_files(server, PYPI_CACHE, "iniconfig-*.whl")
    assert wheels
    path = wheels[0][1]
    mtime = server.file(path).mtime
    pid = server.check_output("systemctl show --property MainPID --value proxpi.service")
    server.check_output(f"kill -9 {pid}")
    seconds = wait_healthy(server, 60)
    print(f"\nproxpi healthy again {seconds:.1f} s after kill -9")
    assert server.check_output("systemctl show --property MainPID --value proxpi.service") != pid
    venv = "/tmp/package-cache-after-crash"
    result = client.run(
        f"rm -rf {venv} && uv venv -q {venv} && "
        f"uv pip install --no-cache --quiet --python {venv}/bin/python iniconfig"
    )
    assert result.rc == 0, f"{result.stderr}\n{journal(server, 'proxpi.service')}"
    # Served from the disk cache, not fetched again.
    assert server.file(path).mtime == mtime
