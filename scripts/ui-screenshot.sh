#!/usr/bin/env bash
# The MLflow web UI of the local virtual classroom (`make lab`), in a real
# browser: headless Chromium from Debian's packages, driven by playwright-core
# (scripts/ui-screenshot/), trusting only the lab CA (a throw-away NSS
# database), logs in as the admin and opens the experiments page, then the
# Model Registry's page of the demo's model. Saves reports/mlflow-ui.png and
# reports/mlflow-ui-model.png, and fails unless they show the instructor's
# demo experiment and the model's alias `champion` (lab_demo).
#   scripts/ui-screenshot.sh [URL] [EXPERIMENT] [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-https://127.0.0.1:8443}
experiment=${2:-iris-demo}
model=${3:-iris-classifier}
ca=.credentials/tls/ca.crt
password_file=.credentials/mlflow/admin

case $url in
  https://127.0.0.1:* | https://localhost:*) ;;
  *) echo "only the local classroom on loopback, got $url" >&2; exit 2 ;;
esac
# Only the packages of the missing commands: a Node.js from elsewhere
# (with its own npm) conflicts with Debian's npm package.
declare -A package_of=([chromium]=chromium [certutil]=libnss3-tools [node]=nodejs [npm]=npm)
missing=()
for needed in chromium certutil node npm; do
  command -v "$needed" >/dev/null || missing+=("${package_of[$needed]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing commands: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# playwright-core drives the browser; it downloads none of its own.
driver=.cache/ui-screenshot
if [ ! -e "$driver/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$driver"
  cp scripts/ui-screenshot/package.json "$driver/"
  npm install --prefix "$driver" --no-audit --no-fund --silent >/dev/null
fi
cp scripts/ui-screenshot/screenshot.mjs "$driver/"

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# Chromium reads its trusted CAs from $HOME/.pki/nssdb: only the lab's here.
mkdir -p "$profile/home/.pki/nssdb"
certutil -N --empty-password -d "sql:$profile/home/.pki/nssdb"
certutil -A -t "C,," -n mlops-lab-ca -i "$ca" -d "sql:$profile/home/.pki/nssdb"

mkdir -p reports
if HOME="$profile/home" MLFLOW_USER=admin MLFLOW_PASSWORD="$(cat "$password_file")" \
  timeout 180 node "$driver/screenshot.mjs" "$url" "$experiment" "$model" "$PWD/reports/mlflow-ui.png"; then
  echo "The MLflow UI at $url shows $experiment and $model@champion over HTTPS (lab CA trusted):"
  echo "  reports/mlflow-ui.png, reports/mlflow-ui-model.png"
else
  echo "The MLflow UI at $url does not show $experiment and $model@champion; see reports/mlflow-ui*.png" >&2
  exit 1
fi
