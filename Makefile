# Aloft: `make dev` runs the whole backend locally; `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
STAMP := $(VENV)/.installed
CARGO_LAMBDA_VERSION := 1.9.2
STACK := infra/stack.sh
comma := ,

.PHONY: help setup browser qemu package package-test package-smoke iam-check emulator-test scale-test chaos chaos-ci dev web test lint unit properties e2e smoke all-tests e2e-browser contract contract-ci stack-term-test client emulator bench bench-api openapi clean-local

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The project's tools, pinned, in its own virtualenv: moto (AWS emulator), cfn-lint, Zig
# (the arm64 cross linker) and cargo-lambda (--no-deps: Zig is pinned in requirements.txt).
$(STAMP): infra/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps cargo-lambda==$(CARGO_LAMBDA_VERSION)
	touch $@

# The Swagger UI and ReDoc files the local stack serves for /docs and /redoc, pinned in
# infra/local/docs-ui (the same versions and SRI hashes as functions/docs/src/pages.rs).
DOCS_UI := infra/local/docs-ui/node_modules/.package-lock.json
$(DOCS_UI): infra/local/docs-ui/package-lock.json
	cd infra/local/docs-ui && npm ci --quiet --ignore-scripts --omit=peer --no-audit --no-fund

setup: $(STAMP) $(DOCS_UI) ## Install the pinned local tools into .venv, the docs UI files

# Debian's Chromium for the browser test: from the system's package source, never a
# browser download by a test tool.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

browser: $(CHROMIUM) ## Install Debian's Chromium (for make e2e-browser)

# Debian's qemu-user and arm64 C library, to start the packaged arm64 binaries here.
QEMU := /usr/bin/qemu-aarch64
$(QEMU):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  qemu-user libc6-arm64-cross libgcc-s1-arm64-cross

qemu: $(QEMU) ## Install Debian's qemu-user and arm64 C library (for make package-test)

# What you deploy: every function for arm64 (cargo lambda + the pinned Zig), zipped in
# target/lambda/<function>/bootstrap.zip, a size table, and .aws-sam/build/template.yaml
# pointing at the zips (`sam deploy` without `sam build`; docs/deploy.md).
package: setup ## Build every function for arm64 as Lambda zips, with a size table
	$(VENV)/bin/python infra/package.py build

package-test: package qemu ## Start every packaged arm64 bootstrap under qemu: each answers its bench event
	$(VENV)/bin/python infra/package.py test

# What `make test` runs: one function per combination of linked crates, built and started.
package-smoke: setup qemu ## package + package-test for one function per crate combination
	$(VENV)/bin/python infra/package.py build --per-combination
	$(VENV)/bin/python infra/package.py test --per-combination

dev: setup ## Run the local stack: emulator, resources, every function on :9000
	$(STACK) dev

test: setup lint client emulator-test all-tests chaos-ci e2e-browser contract-ci stack-term-test package-smoke ## fmt, clippy, cfn-lint, TypeScript clients, emulator additions, unit + integration + end-to-end (API and browser) + IAM + chaos + contract + stack-stop tests, arm64 packages run under qemu

lint: setup ## fmt check, clippy -D warnings, cfn-lint
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	$(VENV)/bin/cfn-lint template.yaml

unit: setup ## Unit and integration tests against the local emulator
	$(STACK) emulator -- cargo test --workspace --locked --exclude aloft-e2e

e2e: setup ## End-to-end tests through the running local stack, as a client
	$(STACK) full -- cargo test --locked -p aloft-e2e

# A deployed stage checked as a client on the internet would use it (tests/tests/smoke.rs):
# health, sign-up and sign-in, a project, a presigned upload, a WebSocket push (when WS_URL,
# the stack's WebSocketUrl output, is given) and the AI status; what it creates it deletes.
# API_URL is the stack's ApiUrl output. Nothing local starts. The stage's auth routes allow
# 5 calls a minute per address: the test uses one of each and waits out a 429.
smoke: ## Smoke-test a running stage: make smoke API_URL=https://… [WS_URL=wss://…]
	@if [ -z "$(API_URL)" ]; then \
	  echo "usage: make smoke API_URL=https://<api-id>.execute-api.<region>.amazonaws.com [WS_URL=wss://<ws-api-id>.execute-api.<region>.amazonaws.com/<stage>]" >&2; \
	  exit 2; \
	fi
	ALOFT_API_URL='$(API_URL)' ALOFT_WS_URL='$(WS_URL)' cargo test --locked -p aloft-e2e --test smoke -- --nocapture

# What `make test` runs instead of `unit` then `e2e`: both in one cargo run under the whole
# stack (integration tests only use the emulator in it). One build of the tests: built
# alone, the end-to-end crate resolves its dependencies' features differently and
# compiles the AWS SDK again (1.4 min), and the stack starts once.
#
# The run also proves the template's IAM policies: the emulator and the WebSocket gateway
# log every AWS call with the function that signed it (ALOFT_AWS_CALL_LOG), and
# infra/iam/check.py fails on any call that function's policy, expanded as SAM does,
# would deny (docs/iam.md).
AWS_CALL_LOG := $(CURDIR)/.local/aws-calls.jsonl

all-tests: setup ## Unit, integration and end-to-end tests in one run under the whole stack, then the IAM check
	mkdir -p .local && rm -f $(AWS_CALL_LOG)
	ALOFT_AWS_CALL_LOG=$(AWS_CALL_LOG) $(STACK) full -- cargo test --workspace --locked --no-fail-fast
	$(MAKE) --no-print-directory iam-check

# The emulator's own additions (fault injector, transaction idempotency, call log), in Python.
emulator-test: setup ## Tests of infra/local's emulator additions (faults, idempotent transactions)
	PYTHONDONTWRITEBYTECODE=1 $(VENV)/bin/python -m pytest -q -p no:cacheprovider infra/local

# The stack under injected AWS faults (tests/tests/chaos.rs): a mixed workload, then
# invariants checked on the data. `chaos` at full size; `chaos-ci`, smaller, in `make test`.
CHAOS_USERS ?= 8
CHAOS_ROUNDS ?= 100
chaos: setup ## Mixed workload under 5 % injected AWS faults, then invariants on the data (CHAOS_USERS, CHAOS_ROUNDS)
	JWT_ACCESS_TTL_SECONDS=3600 CHAOS_USERS=$(CHAOS_USERS) CHAOS_ROUNDS=$(CHAOS_ROUNDS) $(STACK) full -- cargo test --locked -p aloft-e2e --test chaos -- --ignored --nocapture

chaos-ci: setup ## `make chaos`, small enough for every `make test`
	CHAOS_USERS=4 CHAOS_ROUNDS=10 $(STACK) full -- cargo test --locked -p aloft-e2e --test chaos -- --ignored --nocapture

# Not in `make test`: seeds 100,000 users into an emulator of its own (~2 minutes).
scale-test: setup ## The admin directory and search at 100,000 users cost what they cost at 1,000
	cargo test --locked -p aloft-store --test lists_at_scale -- --ignored --nocapture

iam-check: setup ## Every AWS call the last test run logged, against its function's policy
	PYTHONDONTWRITEBYTECODE=1 $(VENV)/bin/python -m pytest -q -p no:cacheprovider infra/iam
	$(VENV)/bin/python infra/iam/check.py --template template.yaml --calls $(AWS_CALL_LOG)

# The web client (clients/web) on http://localhost:5173, against `make dev` on :9000.
WEB := clients/web
$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --quiet --no-audit --no-fund

web: $(WEB)/node_modules/.package-lock.json ## Serve the web client on http://localhost:5173 (run `make dev` first)
	cd $(WEB) && npm run dev

# Headless Chromium drives the web client through the whole flow against its own local
# stack with the fake AI; a screenshot of each step lands in .local/e2e-browser/.
# Access tokens live 10 s, so they expire during the run and the client's silent refresh
# is exercised; two browsers of one account then refresh from one address more often
# than the default 5 auth calls per minute and address allow.
e2e-browser: setup browser $(WEB)/node_modules/.package-lock.json ## The web client's flow in headless Chromium
	cd $(WEB) && npx --no-install tsc --noEmit
	JWT_ACCESS_TTL_SECONDS=10 RATE_LIMIT_AUTH_PER_MINUTE=60 \
	  $(STACK) full -- bash -c 'cd $(WEB) && npx --no-install playwright test'

# No emulator: every parser is driven directly, or through a router that reaches no store.
# `make unit` runs the same tests with proptest's default 256 cases.
properties: ## Property tests of every untrusted-input parser, 10,000 cases each
	PROPTEST_CASES=10000 cargo test --locked -p aloft-inbound -p aloft-auth -p aloft-http --test properties
	PROPTEST_CASES=10000 cargo test --locked -p fn-files -p fn-ai -p fn-realtime --lib -- properties::

# Contract tests (infra/contract): schemathesis sends generated requests for every operation
# of the served /openapi.json to a stack of their own (`contract` mode: high rate limits)
# and checks every answer against the document. CONTRACT_EXAMPLES is the most generated
# cases per operation in the fuzzing phase; the coverage and stateful phases add theirs.
CONTRACT_EXAMPLES ?= 25
CONTRACT_CI_EXAMPLES ?= 2

contract: setup ## Contract tests: schemathesis against the local stack (CONTRACT_EXAMPLES=25)
	$(STACK) contract -- infra/contract/run.sh $(CONTRACT_EXAMPLES)

contract-ci: setup ## The bounded contract run `make test` includes (a few minutes)
	$(STACK) contract -- infra/contract/run.sh $(CONTRACT_CI_EXAMPLES)

# Needs ports 5100, 9000 and 9001 free: it starts its own `make dev` and stops it with TERM.
stack-term-test: setup ## `make dev` stopped by TERM to its process group leaves nothing running
	infra/tests/stack-term.sh

# The TypeScript client's tools are pinned in clients/typescript/package-lock.json. The types
# are regenerated from the served document, functions/docs/openapi.json (`make openapi`
# after changing routes), and the example must type-check against them.
client: ## Generate the TypeScript client types and type-check the example
	cd clients/typescript && npm ci --quiet --no-audit --no-fund
	cd clients/typescript && npx --no-install openapi-typescript ../../functions/docs/openapi.json -o src/schema.d.ts
	cd clients/typescript && npx --no-install tsc --noEmit

emulator: setup ## Only the emulator with resources (for running single tests)
	$(STACK) emulator -- bash -c 'echo "emulator up; Ctrl-C to stop"; sleep infinity'

# Every function, each with its first request's event (events/<name>-bench.json, or a
# default): the bench answers their AWS calls from the emulator, then from a recording.
# Every function the template registers (its `Binary:` lines).
BENCH_FUNCTIONS := $(shell sed -n 's/^ *Binary: *//p' template.yaml | paste -sd, -)

# The stack runs debug builds, as `make dev` does: latency is the local stack's, and the
# capacity, calls and cost columns are what the same requests make and cost on AWS.
BENCH_API_CLIENTS ?= 4
BENCH_API_ITERATIONS ?= 100

bench-api: setup ## Mixed workload against the local stack: latency, AWS calls and cost per route
	$(STACK) bench -- cargo run --locked -p aloft-e2e --bin bench-api -- \
	  --clients $(BENCH_API_CLIENTS) --iterations $(BENCH_API_ITERATIONS) --out bench-api-results.md

# `<function>+secrets` rows start the function with its secrets read from a local
# stand-in for SSM Parameter Store, as deployed stages do: the cold start that costs.
# `<function>+otel` rows export every invocation's spans to a local OTLP stand-in.
BENCH_ROWS := $(BENCH_FUNCTIONS),health+secrets,webhooks+secrets,health+otel,projects+otel

bench: setup ## Release build, then size, cold start (against the floor), warm latency and RSS per function
	cargo build --release --locked --bin bench-floor $(addprefix --bin ,$(subst $(comma), ,$(BENCH_FUNCTIONS)))
	cargo run --release --locked -p aloft-bench -- --functions $(BENCH_ROWS) --out bench-results.md

openapi: ## Regenerate the served document (functions/docs/openapi.json); write openapi.json/.yaml
	cargo run --quiet --locked -p fn-docs --bin export-openapi -- --out functions/docs/openapi.json
	cargo run --quiet --locked -p fn-docs --bin export-openapi -- --out openapi.json
	cargo run --quiet --locked -p fn-docs --bin export-openapi -- --format yaml --out openapi.yaml

clean-local: ## Remove the local stack's logs
	rm -rf .local
