#!/usr/bin/env bash
# The MLflow web UI of the local virtual classroom (`make lab`), in a real
# browser: headless Chromium from Debian's packages, trusting only the lab CA
# (a throw-away NSS database), logs in as the admin and opens the
# experiments page. Saves reports/mlflow-ui.png and fails unless the page
# shows the class experiment.
#   scripts/ui-screenshot.sh [URL] [EXPERIMENT]
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-https://127.0.0.1:8443}
experiment=${2:-iris-classification}
ca=.credentials/tls/ca.crt
password_file=.credentials/mlflow/admin

case $url in
  https://127.0.0.1:* | https://localhost:*) ;;
  *) echo "only the local classroom on loopback, got $url" >&2; exit 2 ;;
esac
for needed in chromium certutil; do
  if ! command -v "$needed" >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "missing $needed: apt-get install chromium libnss3-tools" >&2
      exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium libnss3-tools >/dev/null
  fi
done

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# Chromium reads its trusted CAs from $HOME/.pki/nssdb: only the lab's here.
mkdir -p "$profile/home/.pki/nssdb"
certutil -N --empty-password -d "sql:$profile/home/.pki/nssdb"
certutil -A -t "C,," -n mlops-lab-ca -i "$ca" -d "sql:$profile/home/.pki/nssdb"

# The admin's password goes into the URL (basic-auth), so into this
# process's arguments on the control node only, for the few seconds it runs.
login="admin:$(cat "$password_file")@"
page="${url/https:\/\//https://$login}/#/experiments"
browse() {
  HOME="$profile/home" timeout 120 chromium --headless --no-sandbox --disable-gpu \
    --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$profile/chromium" \
    --window-size=1400,900 --virtual-time-budget=25000 "$@" "$page" 2>/dev/null
}
mkdir -p reports
browse --screenshot="$PWD/reports/mlflow-ui.png" >/dev/null
dom=$(browse --dump-dom)
if grep -q "$experiment" <<<"$dom"; then
  echo "The MLflow UI at $url shows $experiment over HTTPS (lab CA trusted): reports/mlflow-ui.png"
else
  echo "The MLflow UI at $url does not show $experiment; see reports/mlflow-ui.png" >&2
  exit 1
fi
