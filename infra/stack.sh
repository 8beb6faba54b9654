#!/usr/bin/env bash
# The local stack: moto (DynamoDB, S3, SQS, SES emulator) + bootstrap from template.yaml +
# the API front at http://127.0.0.1:9000 (infra/local's api-front: API Gateway's part,
# from template.yaml) invoking every function in cargo lambda watch + the SQS shim
# feeding the queues to the worker functions (infra/local's sqs-shim) + the WebSocket
# gateway at ws://127.0.0.1:9001 in front of the realtime function (infra/local's
# ws-gateway).
#
# Provider settings (OPENAI_*, ANTHROPIC_*, PERPLEXITY_*, AI_*) come from the caller's
# environment: watch's functions inherit it (Cargo.toml's watch env would override it,
# so they are not there). Local defaults fill only what is unset. The end-to-end mode
# (`full`) instead points the AI providers at the testkit's fake (fake-ai on :5300), as
# does `ALOFT_FAKE_AI=1 infra/stack.sh dev`.
#
# CORS_ALLOW_ORIGINS (comma-separated origins; default: the template's CorsAllowOrigins,
# the web client on localhost:5173) sets which browser origins the API front, the
# streaming function URL and the bucket allow, with credentials, as the parameter does
# deployed.
#
# Stripe settings (STRIPE_SECRET_KEY, STRIPE_API_BASE, STRIPE_PRICE_*, STRIPE_WEBHOOK_SECRET)
# pass through the same way; without STRIPE_SECRET_KEY the billing routes answer 503. `full`
# points billing at the testkit's fake Stripe (fake-stripe on :5301) with the local webhook
# secret and prices, as does `ALOFT_FAKE_STRIPE=1 infra/stack.sh dev`.
#
# OpenTelemetry settings (OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_*) pass through
# too: `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 make dev` sends every request's
# spans to a collector (Jaeger's all-in-one listens there). Unset by default.
#
#   infra/stack.sh dev                run it in the foreground; Ctrl-C stops it
#   infra/stack.sh emulator -- CMD    run CMD with the emulator up (integration tests)
#   infra/stack.sh full -- CMD        run CMD with the whole stack up (end-to-end tests)
#
# A part that is already running (say, `make dev` in another terminal) is reused and left
# alone; whatever this script starts, it stops on exit, and nothing else.
set -euo pipefail

cd "$(dirname "$0")/.."
EMULATOR_PORT=5100            # matches AWS_ENDPOINT_URL in Cargo.toml's watch env
API_PORT=9000                 # the API front (API Gateway's part)
LAMBDA_PORT=9010              # cargo lambda watch's Invoke API, behind the front
WS_PORT=9001                  # matches WEBSOCKET_MANAGEMENT_URL in Cargo.toml's watch env
FAKE_AI_PORT=5300
FAKE_STRIPE_PORT=5301
VENV=.venv
STATE=.local                  # logs of the processes we start
export PATH="$PWD/$VENV/bin:$PATH"
export ALOFT_EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT"
export ALOFT_API_URL="http://127.0.0.1:$API_PORT"

started=()
# Stops what this script started, and finishes even when signalled again meanwhile: make
# forwards a TERM sent to its process group (CI timeouts, supervisors, `timeout`), so that
# second TERM arrives during this cleanup and would otherwise end it half-way.
stop_started() {
  trap '' INT TERM
  for pid in "${started[@]}"; do
    # Each was started in its own process group: stop the group. watch stops its function
    # instances (each in a session of its own) when it gets this TERM.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${started[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  started=()
}
trap stop_started EXIT
# Ignore further signals first, so none lands between this handler and stop_started.
trap 'trap "" INT TERM; exit 130' INT TERM

answers() { curl -s -o /dev/null --max-time "${2:-2}" "$1"; }

# A phase done, with the seconds since the stack began starting: a first start builds
# everything, and shows cargo's progress instead of minutes of silence.
say() { echo "stack: $* (${SECONDS}s)"; }

wait_for() { # url seconds what
  local deadline=$((SECONDS + $2))
  until answers "$1" 600; do
    if ((SECONDS > deadline)); then
      echo "stack: $3 did not answer at $1 within $2 s (logs in $STATE/)" >&2
      exit 1
    fi
    sleep 0.3
  done
}

start_emulator() {
  if answers "$ALOFT_EMULATOR_URL/moto-api/"; then
    say "reusing the emulator already on port $EMULATOR_PORT"
  else
    [ -x "$VENV/bin/moto_server" ] || { echo "stack: run 'make setup' first" >&2; exit 1; }
    mkdir -p "$STATE"
    # moto, reporting DynamoDB consumed capacity as DynamoDB computes it. Without its
    # global CORS (which allows every origin): S3 answers browsers by the bucket's rules.
    MOTO_DISABLE_GLOBAL_CORS=true setsid "$VENV/bin/python" infra/local/moto_capacity.py -H 127.0.0.1 -p "$EMULATOR_PORT" \
      >"$STATE/moto.log" 2>&1 &
    started+=("$!")
    wait_for "$ALOFT_EMULATOR_URL/moto-api/" 60 "the emulator"
    say "emulator on $ALOFT_EMULATOR_URL"
  fi
  AWS_ENDPOINT_URL="$ALOFT_EMULATOR_URL" cargo run --quiet --locked -p aloft-local --bin bootstrap
}

start_functions() {
  if answers "$ALOFT_API_URL/api/v1/public/health"; then
    say "reusing the functions already on port $API_PORT"
    return
  fi
  mkdir -p "$STATE"
  # Build first so the first request does not wait for the compiler.
  # Every function the template registers (its `Binary:` lines), nothing listed twice.
  say "building the functions"
  infra/local/run-built --build-functions
  # Streams are served on the streaming function's URL path (docs/api.md, local endpoints).
  export AI_STREAM_URL="${AI_STREAM_URL:-$ALOFT_API_URL/lambda-url/ai-stream}"
  # The signing secret the end-to-end tests use; the prices STRIPE_PRICE_PLANS maps to pro.
  export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_local_stripe_signing_secret}"
  export STRIPE_PRICE_PLANS="${STRIPE_PRICE_PLANS:-price_local_pro=pro,price_local_pro_yearly=pro,price_local_enterprise=enterprise}"
  export STRIPE_PRICE_MONTHLY="${STRIPE_PRICE_MONTHLY:-price_local_pro}"
  export STRIPE_PRICE_YEARLY="${STRIPE_PRICE_YEARLY:-price_local_pro_yearly}"
  # watch runs the functions (several instances each, so one slow request does not hold
  # up the others) behind the API front, which plays API Gateway: routes and CORS from
  # template.yaml, events with the caller's real address (infra/local's api-front).
  cargo build --locked -p aloft-local --bin api-front
  # Reloading on change is for `make dev`; in the test modes watch would otherwise restart
  # instances mid-run on files the run itself writes (a fresh-clone contract run saw 39).
  local reload=()
  [ "$mode" = dev ] || reload=(--ignore-changes)
  # --disable-cors: watch would allow any origin with credentials on function URLs; the
  # front applies each function URL's own CORS block from the template instead.
  #
  # Every instance watch runs (4 per function) watches, with inotify, the whole tree of
  # the directory watch starts in, and restarts on any event there, also on an overflow of
  # the kernel's event queue. Started at the root, that tree is target/, .venv/ and .local/
  # too: thousands of directories, written all the time (a contract run against `make dev`
  # saw 755 restarts in 11 minutes). It starts instead in $STATE/watch-root, which links
  # the sources alone: edits to functions/ and shared/ still reload. And each instance
  # starts the built binary instead of a `cargo run`: watch runs $CARGO, here
  # infra/local/run-built. (Started as `cargo lambda`, cargo would set CARGO to itself.)
  local root="$STATE/watch-root" shim="$PWD/infra/local/run-built"
  mkdir -p "$root"
  ln -sfn ../../functions "$root/functions"
  ln -sfn ../../shared "$root/shared"
  (cd "$root" && ALOFT_CARGO="$(command -v cargo)" CARGO="$shim" exec setsid cargo-lambda lambda watch \
    --manifest-path ../../Cargo.toml --locked --invoke-address 127.0.0.1 \
    --invoke-port "$LAMBDA_PORT" --concurrency 4 --disable-cors "${reload[@]}") \
    >"$STATE/watch.log" 2>&1 &
  started+=("$!")
  wait_for "http://127.0.0.1:$LAMBDA_PORT/" 600 "cargo lambda watch"
  ALOFT_LAMBDA_URL="http://127.0.0.1:$LAMBDA_PORT" setsid cargo run --quiet --locked -p aloft-local \
    --bin api-front >"$STATE/api-front.log" 2>&1 &
  started+=("$!")
  wait_for "$ALOFT_API_URL/api/v1/public/health" 60 "the API front"
  say "API on $ALOFT_API_URL (docs at $ALOFT_API_URL/docs)"
}

# Plays the Lambda SQS poller: invokes the workers through watch with batches from the
# emulator's queues. One per machine: two would compete for the same messages.
start_sqs_shim() {
  local pidfile="$STATE/sqs-shim.pid"
  if [ -f "$pidfile" ] && ps -o args= -p "$(cat "$pidfile")" 2>/dev/null | grep -q sqs-shim; then
    say "reusing the SQS shim already running (pid $(cat "$pidfile"))"
    return
  fi
  mkdir -p "$STATE"
  cargo build --locked -p aloft-local --bin sqs-shim
  # Schedules (the outbox relay's rate(1 minute)) run every 10 s locally unless set.
  AWS_ENDPOINT_URL="$ALOFT_EMULATOR_URL" ALOFT_SCHEDULE_SECONDS="${ALOFT_SCHEDULE_SECONDS:-10}" \
    setsid cargo run --quiet --locked -p aloft-local --bin sqs-shim \
    >"$STATE/sqs-shim.log" 2>&1 &
  started+=("$!")
  echo "$!" >"$pidfile"
  say "SQS shim feeding the workers (log in $STATE/sqs-shim.log)"
}

# Plays API Gateway's WebSocket API in front of the realtime function, and serves the
# @connections management API the functions push through.
start_ws_gateway() {
  if answers "http://127.0.0.1:$WS_PORT/"; then
    say "reusing the WebSocket gateway on :$WS_PORT"
    return
  fi
  mkdir -p "$STATE"
  cargo build --locked -p aloft-local --bin ws-gateway
  setsid cargo run --quiet --locked -p aloft-local --bin ws-gateway >"$STATE/ws-gateway.log" 2>&1 &
  started+=("$!")
  wait_for "http://127.0.0.1:$WS_PORT/" 60 "the WebSocket gateway"
  say "WebSocket gateway on ws://127.0.0.1:$WS_PORT/api/v1/app/ws (log in $STATE/ws-gateway.log)"
}

# Starts (or reuses) one of the testkit's fake third parties and takes the settings that
# point the functions at it; they replace the caller's, so tests never reach a real one.
start_fake() { # binary port what
  local url="http://127.0.0.1:$2"
  if ! answers "$url/"; then
    mkdir -p "$STATE"
    cargo build --locked -p aloft-testkit --bin "$1"
    setsid cargo run --quiet --locked -p aloft-testkit --bin "$1" -- "127.0.0.1:$2" >"$STATE/$1.log" 2>&1 &
    started+=("$!")
    wait_for "$url/" 60 "$3"
  fi
  eval "$(cargo run --quiet --locked -p aloft-testkit --bin "$1" -- --env "127.0.0.1:$2")"
  say "$3 on $url"
}

# The fake OpenAI/Anthropic server for the AI functions.
start_fake_ai() {
  start_fake fake-ai "$FAKE_AI_PORT" "the fake AI provider"
  unset PERPLEXITY_API_KEY PERPLEXITY_BASE_URL
}

# The fake Stripe API for billing; its prices and events are the local ones, whatever the
# caller has set.
start_fake_stripe() {
  start_fake fake-stripe "$FAKE_STRIPE_PORT" "the fake Stripe API"
  unset STRIPE_WEBHOOK_SECRET STRIPE_PRICE_PLANS STRIPE_PRICE_MONTHLY STRIPE_PRICE_YEARLY
}

# Everything, with the fake third parties: what the end-to-end and contract runs test.
start_whole_stack_with_fakes() {
  start_emulator
  start_fake_ai
  start_fake_stripe
  start_functions
  start_sqs_shim
  start_ws_gateway
}

mode="${1:-}"; shift || true
[ "${1:-}" = "--" ] && shift
case "$mode" in
  dev)
    start_emulator
    [ "${ALOFT_FAKE_AI:-}" = 1 ] && start_fake_ai
    [ "${ALOFT_FAKE_STRIPE:-}" = 1 ] && start_fake_stripe
    start_functions
    start_sqs_shim
    start_ws_gateway
    say "ready. Ctrl-C stops it. Logs: $STATE/api-front.log, $STATE/watch.log, $STATE/sqs-shim.log, $STATE/ws-gateway.log, $STATE/moto.log"
    setsid tail -n +1 -f "$STATE/watch.log" &
    started+=("$!")
    wait
    ;;
  emulator)
    start_emulator
    "$@"
    ;;
  full)
    # The flags end-to-end test checks 400 users as the bootstrap admin within a minute;
    # at the default 60 per user and minute it would wait out seven windows.
    export RATE_LIMIT_DEFAULT_PER_MINUTE="${RATE_LIMIT_DEFAULT_PER_MINUTE:-1000}"
    # The suite's users (the bootstrap admin above all) outlive a test: one run can pass
    # a free plan's 5,000 requests a day. The daily refusal is tested on a router.
    export RATE_LIMIT_DAILY_FREE="${RATE_LIMIT_DAILY_FREE:-1000000}"
    # External sign-in: the end-to-end test of it serves the fake provider's JWKS on
    # :5302 (aloft_testkit::idp::STACK_ADDRESS) and signs its tokens; the role claim
    # is Supabase's.
    export AUTH_JWKS_URL="http://127.0.0.1:5302/.well-known/jwks.json"
    export AUTH_ISSUER="https://idp.example.test/" AUTH_AUDIENCE="aloft-tests"
    export AUTH_ROLE_CLAIM="app_metadata.role"
    start_whole_stack_with_fakes
    "$@"
    ;;
  contract | bench)
    # The contract run (infra/contract) and the API benchmark send thousands of requests
    # as few users from one address within minutes: limits far above that, so the answers
    # are the routes' own rather than a wall of 429s (the limiter still counts every
    # request, so its cost is measured). Only these modes; the defaults stay as docs/api.md
    # sets them.
    export RATE_LIMIT_DEFAULT_PER_MINUTE="${RATE_LIMIT_DEFAULT_PER_MINUTE:-100000}"
    export RATE_LIMIT_AI_PER_MINUTE="${RATE_LIMIT_AI_PER_MINUTE:-100000}"
    export RATE_LIMIT_AUTH_PER_MINUTE="${RATE_LIMIT_AUTH_PER_MINUTE:-100000}"
    export CONTACT_RATE_LIMIT="${CONTACT_RATE_LIMIT:-100000/hour}"
    export RATE_LIMIT_EMAIL_PER_HOUR="${RATE_LIMIT_EMAIL_PER_HOUR:-100000}"
    export RATE_LIMIT_WEBHOOK_PER_IP_PER_MINUTE="${RATE_LIMIT_WEBHOOK_PER_IP_PER_MINUTE:-100000}"
    export RATE_LIMIT_WEBHOOK_PER_PROVIDER_PER_MINUTE="${RATE_LIMIT_WEBHOOK_PER_PROVIDER_PER_MINUTE:-100000}"
    export RATE_LIMIT_DAILY_FREE="${RATE_LIMIT_DAILY_FREE:-10000000}"
    export RATE_LIMIT_DAILY_PRO="${RATE_LIMIT_DAILY_PRO:-10000000}"
    start_whole_stack_with_fakes
    "$@"
    ;;
  *)
    echo "usage: $0 dev | emulator -- CMD | full -- CMD | contract -- CMD | bench -- CMD" >&2
    exit 2
    ;;
esac
