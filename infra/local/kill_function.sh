#!/usr/bin/env bash
# Kills a function's process in the local stack, as a crash would (SIGKILL), to see what
# its callers see when a function dies mid-request.
#
#   infra/local/kill_function.sh [--one] [--signal SIG] [--dry-run] <binary>
#   infra/local/kill_function.sh projects
#
# Kills every running instance of that function (watch runs up to 4 per function, and
# which one holds a given request cannot be told from outside), or with --one only the
# newest. Only processes that are that function: the executable is this repo's
# `${CARGO_TARGET_DIR:-target}/debug/<binary>` (what infra/local/run-built execs) and the
# environment is the one cargo lambda watch gives an instance (AWS_LAMBDA_RUNTIME_API set,
# AWS_LAMBDA_FUNCTION_NAME=<binary>), so a test running the same binary directly, or
# another checkout's stack, is never touched. Prints each pid it killed (or, with
# --dry-run, would kill). Exit 0 when it killed one at least, 1 when none ran, 2 on a
# usage error.
#
# What happens then (read in cargo-lambda 1.9.2's source, the version the Makefile pins,
# crates/cargo-lambda-watch; watchexec 2.3.0 under it):
#
# - The request in flight gets no answer from watch, ever. runtime/functions_router.rs
#   `process_next_request` moves the invocation's answer channel (`resp_tx`) from the
#   request queue into `ResponseCache` (state.rs) keyed by request id when the instance
#   takes it; only `respond_to_next_invocation` (the instance's POST .../response or
#   .../error) takes it out. Nothing ties the entry to the process, so when the process
#   dies the sender stays in the cache, never sent and never dropped, and
#   trigger_router.rs `schedule_invocation` waits on `resp_rx.await` indefinitely: no
#   error status, no body, the connection just stays open (its `ReceiveFunctionMessage`
#   error, a 500 problem+json from error.rs, would need the sender dropped, which never
#   happens). watch's `--timeout` (a tower TimeoutLayer, 408) would bound it; stack.sh
#   does not pass one. So what a client sees comes from the layer in front of watch:
#   - an API route through the API front (infra/local's api-front, `Front::invoke`):
#     after INTEGRATION_TIMEOUT (60 s) 503 `{"message":"Service Unavailable"}`, logged
#     "no answer in time";
#   - a function URL (`/lambda-url/<function>/...`) or the Invoke API
#     (`/2015-03-31/...`) through the front's pass-through: no deadline there, the client
#     waits until its own timeout;
#   - the SQS shim's invocation (DEFAULT_INVOKE_TIMEOUT, 60 s): the batch fails and its
#     messages come back after their visibility timeout, as Lambda retries a batch.
#   A stream already answering (ai-stream, its response POST under way) is cut off
#   instead: the chunked body ends without its last chunk.
#   In AWS the invocation fails at once instead: Lambda reports the runtime's exit as
#   the invocation's error (Runtime.ExitError, a function error), which the HTTP API
#   answers 500 `{"message":"Internal Server Error"}`, as the front answers one.
# - The process is not started again. watcher.rs `runtime`'s `on_action` sees the
#   process's completion event (watchexec's supervisor sends ProcessCompletion), logs
#   ERROR "command killed" (or "command exited" for an exit code) in watch.log, and
#   answers `Outcome::DoNothing`. The instance's watchexec keeps running, so
#   scheduler.rs `start_function_instance` never returns and never sends the instance to
#   the cleanup channel (`gc_tx`, only on a watchexec error): the dead instance stays in
#   its function's `InstancePool` (instance_pool.rs) for good.
# - A later request is served only by the function's other instances, or by a new one
#   while the pool has room: scheduler.rs spawns one on a request only when the pool is
#   empty, and `instance_monitor` (every 100 ms) when requests queue and the pool holds
#   fewer than `--concurrency` instances (4 here, Cargo.toml) counting the dead ones,
#   and none is Idle (none ever is: functions_router.rs `get_or_register_instance` keys
#   busy/idle by a fresh id per connection, never the pool's instance id, so
#   `mark_busy`/`mark_idle` change nothing). Each kill so uses up one of the function's
#   4 places until watch restarts: kill 4 instances of a function (or all of them once 4
#   were spawned, as a test run under load does) and its requests queue unanswered (the
#   fronts' timeouts above) until then. In `make dev`, a source edit restarts every
#   instance's command (`Outcome::if_running(Stop+Start, Start)`), the dead ones too.
# - An idle instance killed (waiting in GET /next) loses nothing: hyper's HTTP/1 server
#   reads the EOF on the busy connection (proto/h1/conn.rs `mid_message_detect_eof`),
#   ends it and drops that handler, and the queue's receive is cancel-safe; only
#   in the instant between taking a request and writing it to the instance is a request
#   lost as above.
set -euo pipefail

usage() {
  echo "usage: $0 [--one] [--signal SIG] [--dry-run] <binary>" >&2
  exit 2
}

one=false dry=false signal=KILL name=""
while [ $# -gt 0 ]; do
  case "$1" in
    --one) one=true ;;
    --dry-run|-n) dry=true ;;
    --signal) [ $# -ge 2 ] || usage; signal="$2"; shift ;;
    --signal=*) signal="${1#--signal=}" ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) usage ;;
    *) [ -z "$name" ] || usage; name="$1" ;;
  esac
  shift
done
# A binary name, never a path.
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || usage
kill -l "$signal" >/dev/null 2>&1 || { echo "$0: unknown signal $signal" >&2; exit 2; }

root="$(cd "$(dirname "$0")/../.." && pwd)"
binary="$(realpath -m "${CARGO_TARGET_DIR:-$root/target}/debug/$name")"

# The function's instances: "<start time> <pid>" lines, oldest first.
instances() {
  local dir pid exe start
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    exe="$(readlink "$dir/exe" 2>/dev/null)" || continue
    exe="${exe% (deleted)}"  # rebuilt since it started
    [ "$exe" = "$binary" ] || continue
    is_instance "$pid" || continue
    # Field 22 of stat, after the parenthesised command name: the start time.
    start="$(sed 's/^.*) //' "$dir/stat" 2>/dev/null | cut -d' ' -f20)" || continue
    echo "$start $pid"
  done | sort -n
}

# Started by cargo lambda watch as this function's instance.
is_instance() {
  local env
  env="$(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null)" || return 1
  grep -qx "AWS_LAMBDA_FUNCTION_NAME=$name" <<<"$env" &&
    grep -q '^AWS_LAMBDA_RUNTIME_API=' <<<"$env"
}

mapfile -t pids < <(instances | awk '{print $2}')
if [ ${#pids[@]} -eq 0 ]; then
  echo "$0: no instance of $name runs ($binary)" >&2
  exit 1
fi
$one && pids=("${pids[-1]}")

killed=0
for pid in "${pids[@]}"; do
  if $dry; then
    echo "$pid"
    killed=$((killed + 1))
    continue
  fi
  # Checked again just before: the pid is still that instance, not a reused one.
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || continue
  [ "${exe% (deleted)}" = "$binary" ] && is_instance "$pid" || continue
  if kill -s "$signal" "$pid" 2>/dev/null; then
    echo "$pid"
    killed=$((killed + 1))
  fi
done
[ "$killed" -gt 0 ] || { echo "$0: no instance of $name killed" >&2; exit 1; }
