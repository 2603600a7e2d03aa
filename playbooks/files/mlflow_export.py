"""Every MLflow run of one student, printed as one JSON object.

Usage: mlflow_export.py API STUDENT EXPERIMENT...

Run on the server against MLflow's REST API on loopback (API, like
http://127.0.0.1:5000/api/2.0/mlflow). With basic-auth, the first line of
standard input is "<admin user>:<password>" (never the command line or the
environment, which other local accounts can read); empty without auth.
A student's runs are those in the
given experiments whose user is the student (the seat account that logged
them). For each: its name, status, times, params, the latest value of every
metric, tags and the list of its artifacts (paths and sizes, not the files).
"""

import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

api, student, experiments = sys.argv[1], sys.argv[2], sys.argv[3:]
headers = {"Content-Type": "application/json"}
token = sys.stdin.readline().rstrip("\n")
if token:
    headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()


def call(path, body=None, query=None):
    url = f"{api}/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"{}")


def experiment_id(name):
    try:
        return call("experiments/get-by-name", query={"experiment_name": name})["experiment"][
            "experiment_id"
        ]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def artifacts(run_id, path=""):
    """Every file of the run's artifacts, walking folders (at most 10000)."""
    found, folders = [], [path]
    while folders and len(found) < 10000:
        folder = folders.pop()
        query = {"run_id": run_id, **({"path": folder} if folder else {})}
        for item in call("artifacts/list", query=query).get("files", []):
            if item.get("is_dir"):
                folders.append(item["path"])
            else:
                found.append({"path": item["path"], "size": int(item.get("file_size", 0))})
    return sorted(found, key=lambda item: item["path"])


runs = []
for name in experiments:
    identifier = experiment_id(name)
    if identifier is None:
        continue
    token = None
    while True:
        body = {
            "experiment_ids": [identifier],
            "filter": f"attributes.user_id = '{student}'",
            "max_results": 1000,
            "run_view_type": "ALL",
        }
        page = call("runs/search", {**body, **({"page_token": token} if token else {})})
        for run in page.get("runs", []):
            info, data = run["info"], run.get("data", {})
            runs.append(
                {
                    "experiment": name,
                    "run_id": info["run_id"],
                    "name": info.get("run_name", ""),
                    "status": info.get("status"),
                    "stage": info.get("lifecycle_stage"),
                    "start_time": info.get("start_time"),
                    "end_time": info.get("end_time"),
                    "params": {p["key"]: p["value"] for p in data.get("params", [])},
                    "metrics": {m["key"]: m["value"] for m in data.get("metrics", [])},
                    "tags": {t["key"]: t["value"] for t in data.get("tags", [])},
                    "artifacts": artifacts(info["run_id"]),
                }
            )
        token = page.get("next_page_token")
        if not token:
            break

print(json.dumps({"student": student, "experiments": experiments, "runs": runs}))
