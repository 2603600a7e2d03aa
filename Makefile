# Thin wrappers; the README documents the two commands that matter:
#   make lab    a local virtual classroom: server + two seats as containers
#   make test   lint, fast tests and every molecule scenario
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PYTHON ?= python3
# Two at a time (scripts/molecule-parallel.sh), ordered so both queues end
# close together: the two first run beside each other, then each next one
# takes the queue that ends first.
SCENARIOS ?= mlops_course classroom toolchain mlflow_server mlflow_server_production
IMAGES ?= debian12 debian13
LAB_INVENTORY := inventory/lab.yml

# Podman settings for hybrid-cgroup hosts, without touching /etc.
export CONTAINERS_CONF := $(CURDIR)/molecule/containers.conf
export PATH := $(BIN):$(PATH)
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export NO_COLOR := 1

.PHONY: help host-deps venv images lint unit checks molecule test lab lab-down lock bench clean

help:
	@echo "make lab        bring up the local virtual classroom and check it"
	@echo "make lab-down   remove the local virtual classroom"
	@echo "make test       lint + fast tests + molecule ($(SCENARIOS))"
	@echo "make bench      benchmarks; tables in bench/results/"
	@echo "make lock       re-resolve the course lock and the MLflow server's hashed requirements"
	@echo "make lint       yamllint, ansible-lint, ruff, shellcheck"
	@echo "make unit       fast tests, no containers"
	@echo "make molecule   molecule test for SCENARIOS='$(SCENARIOS)'"
	@echo "make images     build the debootstrap test images ($(IMAGES))"
	@echo "make clean      remove the venv and caches"

host-deps:
	@scripts/host-deps.sh

# Rebuilt whenever requirements.txt changes.
$(VENV)/.installed: requirements.txt | host-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

images: host-deps
	molecule/images/build.sh $(IMAGES)

lint: venv
	yamllint --strict .
	ansible-lint
	ruff check tests molecule plugins bench roles playbooks
	ruff format --check tests molecule plugins bench roles playbooks
	shellcheck scripts/*.sh molecule/images/*.sh bench/*.sh .ci/run

unit: venv
	pytest -q -n 2 --dist loadgroup tests

molecule: venv images
	scripts/molecule-parallel.sh $(SCENARIOS)

# The test images build (mostly downloads) beside lint and the fast tests.
test: venv
	$(MAKE) --no-print-directory -j2 checks images
	$(MAKE) --no-print-directory molecule

checks: lint
	$(MAKE) --no-print-directory unit

# The local virtual classroom: containers, site.yml, readiness check.
lab: venv
	molecule/images/build.sh debian12
	ansible-playbook -i $(LAB_INVENTORY) playbooks/lab.yml
	ansible-playbook -i $(LAB_INVENTORY) site.yml
	ansible-playbook -i $(LAB_INVENTORY) playbooks/verify.yml
	scripts/ui-screenshot.sh
	@echo
	@echo "MLflow UI:     https://127.0.0.1:8443  (user admin, password in .credentials/mlflow/admin;"
	@echo "               the lab CA to trust: .credentials/tls/ca.crt)"
	@echo "Student shell: CONTAINERS_CONF=$(CONTAINERS_CONF) podman exec -it lab-seat1 su - ada"
	@echo "Readiness:     reports/readiness.md; the UI in a browser: reports/mlflow-ui.png, reports/mlflow-ui-model.png"

lab-down: venv
	ansible-playbook -i $(LAB_INVENTORY) playbooks/lab.yml -e lab_state=absent

# Benchmarks print tables and write CSV + Markdown under bench/results/.
bench: venv
	molecule/images/build.sh debian12
	bench/provision.sh
	bench/mlflow_load.sh

lock: venv
	ansible-playbook playbooks/lock.yml

clean:
	rm -rf $(VENV) .cache .pytest_cache
