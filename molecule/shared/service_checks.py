"""Checks of the lab's systemd services, shared by the scenarios' tests.

Each takes a testinfra host: the unit's journal, the users its processes
run as, its sandbox (the lab_common role's), and HTTP requests made from
inside the container, as a client there would make them.
"""

import json
import re
import shlex

# urllib in the container: redirects are not followed, only the given CA is
# trusted (the system's when none is given), and a refused or unanswered
# request is status 0 with the error as the body.
REQUEST = """
import hashlib, json, ssl, sys, urllib.error, urllib.request
url, headers, cafile, method, data, data_file, timeout = sys.argv[1:8]
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
context = ssl.create_default_context(cafile=cafile or None)
opener = urllib.request.build_opener(Stay, urllib.request.HTTPSHandler(context=context))
body = open(data_file, "rb").read() if data_file else (data.encode() if data else None)
request = urllib.request.Request(url, data=body, headers=json.loads(headers), method=method or None)
try:
    with opener.open(request, timeout=float(timeout)) as response:
        status, out, got = response.status, response.read(), dict(response.headers)
except urllib.error.HTTPError as error:
    status, out, got = error.code, error.read(), dict(error.headers)
except OSError as error:
    status, out, got = 0, str(error).encode(), {}
print(json.dumps({"status": status, "body": out[:1 << 20].decode(errors="replace"),
                  "headers": got, "sha256": hashlib.sha256(out).hexdigest()}))
"""

# What `systemctl show` gives for the lab_common sandbox.
SANDBOX = {
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "PrivateUsers": "yes",
    "MemoryDenyWriteExecute": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "UMask": "0027",
}


def request(
    host, url, headers=None, *, method="", data="", data_file="", ca="", timeout=30, user=""
):
    """One HTTP request from inside the host, as root or the given user:
    {status, body, headers, sha256}. Without a method, urllib's: POST with
    data, else GET."""
    argv = ["runuser", "-u", user, "--"] if user else []
    argv += [
        "python3", "-c", REQUEST, url, json.dumps(headers or {}), ca, method, data, data_file,
        str(timeout),
    ]  # fmt: skip
    return json.loads(host.check_output(shlex.join(argv)))


def journal(host, unit, lines=40):
    return host.run(f"journalctl -u {unit} -n {lines} --no-pager -o cat").stdout


def unit_users(host, unit):
    """The users of the unit's main process and its children."""
    pid = host.check_output(f"systemctl show --property MainPID --value {unit}")
    return set(host.check_output(f"ps -o user= --pid {pid} --ppid {pid}").split())


def exposure(host, unit):
    """`systemd-analyze security`'s score of the unit (printed for the log)."""
    report = host.check_output(f"systemd-analyze security {unit} 2>&1 | tail -n 1")
    print(f"\nsystemd-analyze security {unit}: {report}")
    return float(re.search(r"level for \S+: (\d+\.\d+)", report).group(1))


def assert_sandboxed(host, unit, max_exposure=2.0):
    """The unit runs in the lab's sandbox, and scores at most max_exposure."""
    shown = host.check_output(f"systemctl show {unit} --property {','.join(SANDBOX)}")
    properties = dict(line.split("=", 1) for line in shown.splitlines())
    assert properties == SANDBOX, properties
    assert exposure(host, unit) <= max_exposure
