#!/usr/bin/env bash
# The baseline of bench/provision_cold.sh: the seed's Lab 1 (and Lab 2's git,
# .env and config.py steps) done by hand, as one script, on a fresh Debian
# machine. Run it as root inside the machine:
#   baseline_lab1.sh <student> <uv version>
# As root it installs what the seed's prerequisites ask for (git, Python with
# venv and pip) and creates the student's account, then runs the rest as the
# student. Differences from the seed, all forced by this lab's network:
# - uv comes from the package index with pip (GitHub is unreachable here), at
#   the version the Ansible-provisioned seat runs (bench/provision_cold.sh);
# - sentence-transformers is left out of `uv add ... --group ml` (its torch
#   index is unreachable here; mlops_course_excluded_packages);
# - uv must use the system's certificates (UV_SYSTEM_CERTS), as the uv role's
#   /etc/uv/uv.toml makes it.
# Prints "PHASE <name> <seconds>" after each step.
set -euo pipefail

student=${1:?usage: baseline_lab1.sh <student> <uv version>}
uv_version=${2:?usage: baseline_lab1.sh <student> <uv version>}

phase_start=$(date +%s.%N)
phase() {
  local now
  now=$(date +%s.%N)
  awk -v name="$1" -v a="$phase_start" -v b="$now" 'BEGIN { printf "PHASE %s %.1f\n", name, b - a }'
  phase_start=$now
}

if [[ $(id -u) -eq 0 ]]; then
  # The seed's prerequisites: git, and Python with venv and pip.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq git python3-venv python3-pip >/dev/null
  phase apt
  id "$student" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$student"
  install -m 0755 "$0" /tmp/baseline_lab1_student.sh
  exec runuser -u "$student" -- /tmp/baseline_lab1_student.sh "$student" "$uv_version"
fi

cd "$HOME"
export PATH=$HOME/.local/bin:$PATH UV_SYSTEM_CERTS=1
# "Git installed and configured" (prerequisites).
git config --global user.name "MLOps Student"
git config --global user.email "$student@example.com"
git config --global init.defaultBranch main

# Lab 1, Step 1: install uv (from the package index; see above).
python3 -m pip install --quiet --user --break-system-packages --no-warn-script-location \
  "uv==$uv_version"
uv --version
phase uv_install

# Step 2: create the project.
uv init mlops-course
cd mlops-course
phase uv_init

# Step 3: add the dependencies, line by line as the seed does.
uv add --no-progress 'mlflow[extras]' scikit-learn pandas numpy matplotlib seaborn
uv add --no-progress fastapi uvicorn python-dotenv
uv add --no-progress pytest black ruff mypy pre-commit --group dev
uv add --no-progress optuna --group ml
uv sync --no-progress
.venv/bin/python -c "import mlflow; print(mlflow.__version__)"
.venv/bin/mlflow --version
phase uv_add_sync

# Step 4: the folder structure.
mkdir -p src/{data,models,evaluation,utils}
mkdir -p tests/{unit,integration}
mkdir -p notebooks
mkdir -p docker
mkdir -p .github/workflows
touch src/__init__.py
touch src/data/__init__.py
touch src/models/__init__.py
touch src/evaluation/__init__.py
touch src/utils/__init__.py
cat >.gitignore <<'EOF'
# Python
__pycache__/
*.py[cod]
*$py.class
.Python
build/
develop-eggs/
dist/
downloads/
eggs/
.eggs/
lib/
lib64/
parts/
sdist/
var/
wheels/
*.egg-info/
.installed.cfg
*.egg

# Virtual environments
.env
.venv
env/
venv/
ENV/
env.bak/
venv.bak/

# MLFlow
mlruns/
mlartifacts/

# Data
data/raw/
data/processed/
*.csv
*.xlsx
*.json
*.pkl

# Models
models/
*.joblib
*.pickle

# Jupyter Notebook
.ipynb_checkpoints
*.ipynb

# IDE
.vscode/
.idea/
*.swp
*.swo

# OS
.DS_Store
Thumbs.db
EOF

# Lab 2, Step 1: the git repository (nothing is pushed).
git init --quiet
git add .gitignore
git commit --quiet -m "Initial commit: project structure"
git branch -M main

# Lab 2, Step 2: .env and src/utils/config.py.
cat >.env <<'EOF'
# MLFlow Configuration
MLFLOW_TRACKING_URI=http://localhost:5000
MLFLOW_EXPERIMENT_NAME=iris-classification

# Database Configuration (for later use)
DATABASE_URL=sqlite:///mlflow.db

# API Configuration
API_HOST=0.0.0.0
API_PORT=8000

# Development Settings
DEBUG=True
LOG_LEVEL=INFO
EOF
cat >src/utils/config.py <<'EOF'
import os
from dotenv import load_dotenv

load_dotenv()

class Config:
    MLFLOW_TRACKING_URI = os.getenv("MLFLOW_TRACKING_URI", "http://localhost:5000")
    MLFLOW_EXPERIMENT_NAME = os.getenv("MLFLOW_EXPERIMENT_NAME", "default")
    DATABASE_URL = os.getenv("DATABASE_URL", "sqlite:///mlflow.db")
    API_HOST = os.getenv("API_HOST", "0.0.0.0")
    API_PORT = int(os.getenv("API_PORT", 8000))
    DEBUG = os.getenv("DEBUG", "False").lower() == "true"
EOF
phase project_files_git
