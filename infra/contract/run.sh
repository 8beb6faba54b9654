#!/usr/bin/env bash
# Contract tests against a running local stack: schemathesis generates requests for every
# operation of the served OpenAPI document and checks status codes, content types,
# headers and bodies against it (infra/contract/schemathesis.toml).
#
#   infra/stack.sh contract -- infra/contract/run.sh [EXAMPLES] [schemathesis run options]
#
# EXAMPLES (default 25) is the most generated cases per operation in the fuzzing phase;
# the examples, coverage and stateful phases add their own. Reports: .local/contract/.
set -euo pipefail

cd "$(dirname "$0")/../.."
api="${ALOFT_API_URL:-http://127.0.0.1:9000}"
examples="${1:-25}"
shift || true

# One cheap request per HTTP function. The superadmin's registration (201, or 409 when
# it exists) also makes sure its password is the one hooks.py signs in with, whatever
# the run itself registers.
root='{"email": "root@example.com", "password": "correct horse"}'
warm_up_requests=(
  "POST /api/v1/public/auth/register $root"
  "GET /api/v1/public/health"
  "GET /api/v1/app/users/me"
  "GET /api/v1/app/projects"
  "GET /api/v1/app/files"
  "GET /api/v1/app/webhook-subscriptions"
  "GET /api/v1/public/contact/status"
  "GET /api/v1/admin/jobs"
  "GET /api/v1/app/ai/status"
  "GET /api/v1/app/billing/status"
  "GET /api/v1/app/usage/metrics"
  "GET /api/v1/app/feature-flags"
  "GET /openapi.json"
)

# watch starts a function's instances (up to 4) as requests queue for them. Start them
# before the run, so its first answers do not wait for instances to start.
warm_up() {
  local request method path body
  for request in "${warm_up_requests[@]}"; do
    read -r method path body <<<"$request"
    for _ in 1 2 3 4; do
      curl -s -o /dev/null --max-time 300 -X "$method" -H 'Content-Type: application/json' \
        ${body:+--data "$body"} "$api$path" &
    done
  done
  wait
}

echo "contract: starting every function's instances"
warm_up
exec .venv/bin/schemathesis --config-file infra/contract/schemathesis.toml run \
  --max-examples "$examples" --wait-for-schema 60 "$@" "$api/openapi.json"
