"""After site.yml and the readiness check, the lab server holds a run from
every student of every seat, each logged under the student's own account."""

import json
import shlex

import pytest

ADMIN = ("admin", "classroom-admin-Passw0rd")
STUDENTS = {"ada", "grace", "alan"}

QUERY = """
import base64, json, sys, urllib.error, urllib.request
user, password, path, body = sys.argv[1:5]
request = urllib.request.Request(
    "http://127.0.0.1:5000/api/2.0/mlflow/" + path,
    data=body.encode() if body else None,
    headers={"Content-Type": "application/json",
             "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()})
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        print(json.dumps({"status": response.status, "body": json.load(response)}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code, "body": {}}))
"""


def api(host, path, body="", auth=ADMIN):
    command = shlex.join(["python3", "-c", QUERY, auth[0], auth[1], path, body])
    return json.loads(host.check_output(command))


@pytest.fixture(scope="module")
def server(host):
    if host.backend.get_hostname() != "classroom-server":
        pytest.skip("server checks")
    return host


def runs_of(server, experiment_name):
    experiment = api(server, f"experiments/get-by-name?experiment_name={experiment_name}")
    assert experiment["status"] == 200, experiment
    experiment_id = experiment["body"]["experiment"]["experiment_id"]
    runs = api(
        server,
        "runs/search",
        json.dumps({"experiment_ids": [experiment_id], "max_results": 1000}),
    )
    assert runs["status"] == 200, runs
    return runs["body"].get("runs", [])


def test_every_student_logged_a_readiness_run_tagged_with_the_seat(server):
    finished = {}
    for run in runs_of(server, "lab-readiness"):
        tags = {tag["key"]: tag["value"] for tag in run["data"].get("tags", [])}
        if run["info"]["status"] == "FINISHED" and "lab.student" in tags:
            assert tags["lab.student"] == run["info"]["user_id"], tags
            finished[tags["lab.student"]] = tags["lab.seat"]
    assert finished == {
        "ada": "classroom-seat1",
        "grace": "classroom-seat1",
        "alan": "classroom-seat2",
    }


def test_the_class_experiment_holds_no_readiness_runs(server):
    names = [run["info"].get("run_name") for run in runs_of(server, "iris-classification")]
    assert "readiness-check" not in names


def test_every_student_has_an_own_account(server):
    for student in STUDENTS:
        assert api(server, f"users/get?username={student}")["status"] == 200
    # The students' credentials are not the admin's, and anonymous calls fail.
    assert api(server, "experiments/search", '{"max_results": 1}', auth=("", ""))["status"] == 401


def test_seat_env_points_at_the_server_with_student_credentials(host):
    if not host.backend.get_hostname().startswith("classroom-seat"):
        pytest.skip("seat checks")
    homes = host.check_output("getent passwd | awk -F: '$3 >= 1000 && $3 < 60000 {print $6}'")
    assert homes, "the seat has students"
    for home in homes.split():
        env = host.file(f"{home}/mlops-course/.env")
        assert env.exists
        assert env.mode == 0o600
        text = env.content_string
        assert "MLFLOW_TRACKING_URI=https://classroom-server\n" in text
        assert "MLFLOW_TRACKING_SERVER_CERT_PATH=/etc/ssl/certs/ca-certificates.crt" in text
        assert "MLFLOW_TRACKING_USERNAME=" + home.rsplit("/", 1)[1] in text
        assert ADMIN[1] not in text


# From a seat, over the classroom network, as a student: only the lab CA
# (the file the seat was given) is trusted.
SEAT_HTTPS = """
import json, ssl, sys, urllib.error, urllib.request
url, cafile = sys.argv[1], sys.argv[2]
try:
    context = ssl.create_default_context(cafile=cafile or None)
    with urllib.request.urlopen(url, timeout=30, context=context) as response:
        print(json.dumps({"status": response.status, "body": response.read().decode()}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code, "body": ""}))
except OSError as error:
    print(json.dumps({"status": 0, "body": str(error)}))
"""
LAB_CA = "/usr/local/share/ca-certificates/mlops-lab/mlops-lab-ca.crt"


def test_a_seat_reaches_the_server_over_https_trusting_only_the_lab_ca(host):
    if host.backend.get_hostname() != "classroom-seat1":
        pytest.skip("seat checks")
    for cafile, status in ((LAB_CA, 200), ("/etc/ssl/certs/ca-certificates.crt", 200)):
        command = shlex.join(
            ["python3", "-c", SEAT_HTTPS, "https://classroom-server/health", cafile]
        )
        answer = json.loads(host.check_output(f"runuser -u ada -- {command}"))
        assert (answer["status"], answer["body"].strip()) == (status, "OK"), (cafile, answer)
    # Python's own CA list (certifi, as MLflow's client uses by default) lacks the lab CA.
    certifi = "/usr/lib/python3/dist-packages/certifi/cacert.pem"
    if host.file(certifi).exists:
        command = shlex.join(
            ["python3", "-c", SEAT_HTTPS, "https://classroom-server/health", certifi]
        )
        assert "CERTIFICATE_VERIFY_FAILED" in json.loads(host.check_output(command))["body"]
    # Plain HTTP to MLflow's own port does not reach the server: it listens on loopback.
    command = shlex.join(["python3", "-c", SEAT_HTTPS, "http://classroom-server:5000/health", ""])
    assert json.loads(host.check_output(command))["status"] == 0
