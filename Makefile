# Aloft: `make dev` runs the whole backend locally; `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
STAMP := $(VENV)/.installed
CARGO_LAMBDA_VERSION := 1.9.2
STACK := infra/stack.sh
comma := ,

.PHONY: help setup dev test lint unit e2e emulator bench openapi clean-local

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The project's tools, pinned, in its own virtualenv: moto (AWS emulator), cfn-lint and
# cargo-lambda (--no-deps: its only dependency is a Zig toolchain `watch` never uses).
$(STAMP): infra/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps cargo-lambda==$(CARGO_LAMBDA_VERSION)
	touch $@

setup: $(STAMP) ## Install the pinned local tools into .venv

dev: setup ## Run the local stack: emulator, resources, every function on :9000
	$(STACK) dev

test: setup lint unit e2e ## fmt, clippy, cfn-lint, unit + integration + end-to-end tests

lint: setup ## fmt check, clippy -D warnings, cfn-lint
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	$(VENV)/bin/cfn-lint template.yaml

unit: setup ## Unit and integration tests against the local emulator
	$(STACK) emulator -- cargo test --workspace --locked --exclude aloft-e2e

e2e: setup ## End-to-end tests through the running local stack, as a client
	$(STACK) full -- cargo test --locked -p aloft-e2e

emulator: setup ## Only the emulator with resources (for running single tests)
	$(STACK) emulator -- bash -c 'echo "emulator up; Ctrl-C to stop"; sleep infinity'

# Functions whose benchmark event (events/<name>-bench.json or a default) needs no AWS call.
BENCH_FUNCTIONS := health,docs,webhooks,contact,admin,ai,ai-stream,billing,usage,flags,realtime,webhook-worker,jobs-worker

bench: ## Release build, then size, cold start, warm latency and RSS per function
	cargo build --release --locked $(addprefix --bin ,$(subst $(comma), ,$(BENCH_FUNCTIONS)))
	cargo run --release --locked -p aloft-bench -- --functions $(BENCH_FUNCTIONS) --out bench-results.md

openapi: ## Regenerate the served document (functions/docs/openapi.json); write openapi.json/.yaml
	cargo run --quiet --locked -p docs --bin export-openapi -- --out functions/docs/openapi.json
	cargo run --quiet --locked -p docs --bin export-openapi -- --out openapi.json
	cargo run --quiet --locked -p docs --bin export-openapi -- --format yaml --out openapi.yaml

clean-local: ## Remove the local stack's logs
	rm -rf .local
