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


def test_every_student_logged_a_run(server):
    experiment = api(server, "experiments/get-by-name?experiment_name=iris-classification")
    assert experiment["status"] == 200, experiment
    experiment_id = experiment["body"]["experiment"]["experiment_id"]
    runs = api(
        server,
        "runs/search",
        json.dumps({"experiment_ids": [experiment_id], "max_results": 1000}),
    )
    assert runs["status"] == 200, runs
    finished = {
        run["info"]["user_id"]
        for run in runs["body"].get("runs", [])
        if run["info"]["status"] == "FINISHED"
    }
    assert finished >= STUDENTS


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
        assert "MLFLOW_TRACKING_URI=http://classroom-server:5000" in text
        assert "MLFLOW_TRACKING_USERNAME=" + home.rsplit("/", 1)[1] in text
        assert ADMIN[1] not in text
