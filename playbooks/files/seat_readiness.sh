#!/usr/bin/env bash
# Readiness of one student's seat, printed as one JSON object.
# Usage: seat_readiness.sh STUDENT PROJECT_DIR (relative to the student's home)
# Runs as root; every check runs as the student, in their project, with the
# environment exactly as provisioned (`uv run --no-sync` changes nothing).
set -u
student="$1"
project="$(getent passwd "$student" | cut -d: -f6)/$2"

as_student() {
  runuser -u "$student" -- bash -lc "cd '$project' && $1" 2>&1
}

uv_version="$(as_student 'uv --version' | awk 'NR == 1 {print $2}')"
python_version="$(as_student 'uv run --no-sync python -c "import platform; print(platform.python_version())"' | tail -n 1)"
if as_student 'uv run --no-sync python -c "import mlflow"' >/dev/null; then
  mlflow_import=true
else
  mlflow_import=false
fi
started=$(date +%s.%N)
experiment="$(as_student 'uv run --no-sync python -m src.models.train --run-name readiness-check')"
experiment_rc=$?
finished=$(date +%s.%N)

STUDENT="$student" UV_VERSION="$uv_version" PYTHON_VERSION="$python_version" \
MLFLOW_IMPORT="$mlflow_import" EXPERIMENT="$experiment" EXPERIMENT_RC="$experiment_rc" \
STARTED="$started" FINISHED="$finished" python3 - <<'PY'
import json, os, re

output = os.environ["EXPERIMENT"]
run = re.search(r"\brun ([0-9a-f]{32})\b", output)
print(json.dumps({
    "student": os.environ["STUDENT"],
    "uv": os.environ["UV_VERSION"] or "missing",
    "python": os.environ["PYTHON_VERSION"] if re.fullmatch(r"[0-9.]+", os.environ["PYTHON_VERSION"]) else "missing",
    "mlflow_import": os.environ["MLFLOW_IMPORT"] == "true",
    "run_id": run.group(1) if run and os.environ["EXPERIMENT_RC"] == "0" else "",
    "seconds": round(float(os.environ["FINISHED"]) - float(os.environ["STARTED"]), 1),
    "error": "" if run else output.strip().splitlines()[-1][:200] if output.strip() else "no output",
}))
PY
