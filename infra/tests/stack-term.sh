#!/usr/bin/env bash
# Stopping `make dev` the way CI timeouts, supervisors and `timeout` do — TERM to its whole
# process group — must stop everything the stack started. make forwards that TERM to
# stack.sh a second time while stack.sh is already cleaning up; the cleanup has to finish
# anyway.
#
# The test starts `make dev` in its own session, waits until the stack answers, records the
# processes it started (make's descendants and everyone in their sessions, since each part
# is setsid'd), checks by command line that the emulator, watch, a function, the shim and
# the gateway are among them, sends TERM to make's process group and checks that none is
# left STOP_SECONDS later.
#
# It refuses to run while the stack's ports are taken: stack.sh would reuse the running
# parts instead of starting them, and the test would prove nothing.
#
#   infra/tests/stack-term.sh        (or `make stack-term-test`)
set -euo pipefail

cd "$(dirname "$0")/../.."
PORTS=(5100 9000 9001 9010)
HEALTH_URL=http://127.0.0.1:9000/api/v1/public/health
WS_URL=http://127.0.0.1:9001/
READY_SECONDS="${STACK_TERM_READY_SECONDS:-1800}" # `make dev` builds every function first
STOP_SECONDS=15
STATE=.local
LOG="$STATE/stack-term-make.log"
# What `make dev` starts: the recording must find each of these, or it is missing some.
EXPECTED=('moto_capacity.py .*-p 5100' 'lambda watch' 'api-front' 'sqs-shim' 'ws-gateway' '/debug/health( |$)' 'tail -n \+1 -f')

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
answers() { curl -s -o /dev/null --max-time 2 "$1"; }
# A zombie has stopped: where PID 1 does not reap orphans, it stays in the table.
alive() { [[ "$(ps -o stat= -p "$1" 2>/dev/null)" =~ ^[[:space:]]*[^Z[:space:]] ]]; }

for port in "${PORTS[@]}"; do
  if port_taken "$port"; then
    echo "stack-term: port $port is in use; stop whatever runs there (another 'make dev'?)" \
      "first: stack.sh would reuse it and this test would prove nothing" >&2
    exit 1
  fi
done
if [ -f "$STATE/sqs-shim.pid" ] && ps -o args= -p "$(cat "$STATE/sqs-shim.pid")" 2>/dev/null | grep -q sqs-shim; then
  echo "stack-term: an SQS shim is already running (pid $(cat "$STATE/sqs-shim.pid")); stop it first" >&2
  exit 1
fi

# make, its descendants and everyone in their sessions: stack.sh's children setsid'd
# themselves, and watch starts each function instance in a session of its own.
stack_pids() {
  ps -eo pid=,ppid=,sid= | awk -v make="$make_pid" '
    { ppid[$1] = $2; sid[$1] = $3 }
    END {
      keep[make] = 1; session[sid[make]] = 1
      do {
        grown = 0
        for (p in ppid) if (!(p in keep) && (ppid[p] in keep || sid[p] in session)) {
          keep[p] = 1; session[sid[p]] = 1; grown = 1
        }
      } while (grown)
      for (p in keep) print p
    }'
}
describe() { for pid in "$@"; do ps -o pid=,args= -p "$pid" 2>/dev/null || true; done; }

make_pid=""
recorded=()
# Whatever happens to the test, it leaves nothing of the stack running.
cleanup() {
  [ -n "$make_pid" ] || return 0
  alive "$make_pid" && kill -TERM -- "-$make_pid" 2>/dev/null
  local leftovers=()
  mapfile -t leftovers < <(stack_pids; for pid in "${recorded[@]}"; do alive "$pid" && echo "$pid"; done)
  if ((${#leftovers[@]})); then
    kill -TERM "${leftovers[@]}" 2>/dev/null || true
    sleep 2
    kill -KILL "${leftovers[@]}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$STATE"
# setsid: make leads its own process group (and session), as under a CI runner.
env -u MAKEFLAGS -u MFLAGS setsid make --no-print-directory dev >"$LOG" 2>&1 &
make_pid=$!
sleep 0.5
if [ "$(ps -o pgid= -p "$make_pid" | tr -d ' ')" != "$make_pid" ]; then
  echo "stack-term: make (pid $make_pid) does not lead its own process group" >&2
  exit 1
fi

echo "stack-term: started 'make dev' (process group $make_pid); waiting for the stack (log in $LOG)"
deadline=$((SECONDS + READY_SECONDS))
until answers "$HEALTH_URL" && answers "$WS_URL" && grep -q '^stack: ready' "$LOG"; do
  if ! alive "$make_pid"; then
    echo "stack-term: 'make dev' exited before the stack was up:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
  if ((SECONDS > deadline)); then
    echo "stack-term: the stack did not come up within $READY_SECONDS s (log in $LOG)" >&2
    exit 1
  fi
  sleep 1
done
sleep 2 # the shim and the log tail start right after the gateway answers

mapfile -t recorded < <(stack_pids)
echo "stack-term: the stack's processes:"
describe "${recorded[@]}"
for expected in "${EXPECTED[@]}"; do
  if ! describe "${recorded[@]}" | grep -Eq -- "$expected"; then
    echo "stack-term: found no process matching '$expected' among the stack's; the test would miss it" >&2
    exit 1
  fi
done

echo "stack-term: kill -TERM -- -$make_pid"
kill -TERM -- "-$make_pid"
deadline=$((SECONDS + STOP_SECONDS))
while ((SECONDS < deadline)); do
  left=()
  for pid in "${recorded[@]}"; do alive "$pid" && left+=("$pid"); done
  ((${#left[@]})) || alive "$make_pid" || break
  sleep 0.5
done

left=()
for pid in "${recorded[@]}"; do alive "$pid" && left+=("$pid"); done
if ((${#left[@]})) || alive "$make_pid"; then
  echo "stack-term: FAIL: left running $STOP_SECONDS s after TERM to make's process group:" >&2
  alive "$make_pid" && describe "$make_pid" >&2
  describe "${left[@]}" >&2
  exit 1
fi
echo "stack-term: ok: all ${#recorded[@]} processes of the stack stopped"
