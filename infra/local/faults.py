"""The emulator's fault injector: AWS calls that fail as AWS's sometimes do.

The Lambda functions call DynamoDB, S3, SQS and SES through the Rust AWS SDK (standard
retry mode: 3 attempts, 2 s per attempt, 5 s per operation). Against moto every call
succeeds at once, so their retries, timeouts and handling of ambiguous outcomes never
run. With a fault configuration, the moto launcher (`moto_capacity.py`) answers a share
of those calls with the errors AWS answers them with, byte for byte in the shape each
service's protocol has (status, headers, body), so the SDK classifies, retries and
reports them as it would in AWS. `make chaos` runs a workload this way.

Configuration, JSON: from `ALOFT_FAULTS` when the emulator starts (unset: no faults, and
each request costs one attribute check), or at runtime:

- `POST /moto-api/faults` with the configuration as its body: replaces the configuration,
  seeds the generator again and resets the counters. 400 with `{"error": ...}` if the
  configuration is not valid (the previous one stays).
- `GET /moto-api/faults`: the configuration (every key, defaults filled in; `null` when
  off) and the counters since the last POST (or the start):

      {"config": {...},
       "eligible": {"dynamodb": 812, "s3": 40, "sqs": 33, "ses": 5},
       "injected": [{"service": "dynamodb", "kind": "throttle", "caller": "users",
                     "count": 41}, ...]}

  `eligible` counts the requests that could have been faulted (service, caller and
  operation selected); `injected` the faults, by the kind actually answered (after the
  fallbacks below).
- `DELETE /moto-api/faults`: no more faults; the counters stay readable until the next
  POST. All three answer in GET's shape.

The configuration (every key optional; the defaults shown):

    {"rate": 0.05, "seed": null, "services": ["dynamodb", "s3", "sqs", "ses"],
     "kinds": {"throttle": 3, "server": 2, "slow": 1, "after": 1, "cancel": 1},
     "callers": null, "operations": null, "slow_ms": 2500}

- `rate`: the probability that an eligible request is faulted (0 to 1).
- `seed`: seeds the generator (`random.Random`, drawn under a lock), so the same workload
  meets the same number of faults; `null` draws a seed, which GET then shows.
- `services`: which of the four are faulted (`ses` is SES v1 and v2).
- `kinds`: relative weights of the kinds below; a kind left out is never chosen.
- `callers`: the access key ids whose requests are faulted (each function signs with its
  binary name; a list may name `local` too). `null`: every caller but `local`, the key
  id of the bootstrap, the SQS shim and in-process tests, whose calls set the stack up
  rather than exercise it.
- `operations`: the operations whose requests are faulted, by name (e.g. `["UpdateItem",
  "TransactWriteItems"]`); `null`: every operation. A name is matched as it is written,
  in whichever of the selected services has it (narrow `services` to tell SES v1's and
  v2's `SendEmail` apart). The names, per service (also those of the log line below):
  - DynamoDB and SQS's JSON protocol: the action of `X-Amz-Target` (`GetItem`, `Query`,
    `UpdateItem`, `TransactWriteItems`, ...; `SendMessage`, `ReceiveMessage`, ...), the
    names of the API reference. SQS's query protocol and SES v1: the `Action` parameter
    (`GetQueueUrl`; `SendEmail`, `SendRawEmail`, ...).
  - SES v2: `SendEmail` (`POST /v2/email/outbound-emails`) and `SendBulkEmail`
    (`POST /v2/email/outbound-bulk-emails`); any other request `<METHOD>:<path>`, e.g.
    `GET:/v2/email/identities/app@example.com`.
  - S3 names none of its API's operations: the name is the HTTP method, capitalised, then
    `Object` when the path names a key or `Bucket` when it names only a bucket (path-style
    addressing, as the stack's clients use): `GetObject`, `HeadObject`, `PutObject`,
    `DeleteObject`, `PostObject`, `GetBucket`, `HeadBucket`, `PutBucket`, `DeleteBucket`,
    `PostBucket`. So `PutObject` is also UploadPart, CopyObject and PutObjectTagging;
    `PostObject` is Create/CompleteMultipartUpload; `GetBucket` is ListObjects(V2) and
    every other bucket read; `PostBucket` is DeleteObjects (and a browser's POST upload).
- `slow_ms`: how long `slow` holds a request.

Never faulted: unsigned requests, moto's own `/moto-api`, CORS preflights (OPTIONS), and
services other than the four. The caller is read as the call log reads it
(`aws_call_log._signature`: a SigV4 `Authorization` header, or the `X-Amz-Credential` of
a presigned URL, so a browser's request on a function's presigned URL is that
function's, and is faulted like one, as S3 would throttle it).

Kinds, and what each service answers (every error carries `x-amzn-RequestId`, S3's
`x-amz-request-id` and `x-amz-id-2` instead):

- `throttle`, the request is refused and not applied:
  - DynamoDB (awsJson1_0): 400, `{"__type": "...#ProvisionedThroughputExceededException",
    "message": ...}` or, as often, `com.amazon.coral.availability#ThrottlingException`
    (what DynamoDB sends, namespace included), with `x-amz-crc32` of the body as DynamoDB
    sends on every answer (botocore checks it; the Rust SDK does not).
  - S3 (restXml): 503 `<Error><Code>SlowDown</Code>...` (no body for HEAD).
  - SQS: the protocol of the request. JSON (`X-Amz-Target: AmazonSQS.*`, what the Rust
    SDK and boto3 send): 400 `{"__type": "com.amazonaws.sqs#RequestThrottled", ...}` with
    `x-amzn-query-error: RequestThrottled;Sender` (SQS is awsQueryCompatible: SDKs take
    the error code from that header). Query (form `Action=`): 400 `<ErrorResponse>` XML,
    code `RequestThrottled`, type Sender.
  - SES v2 (restJson1, `/v2/email/...`): 429 `TooManyRequestsException`, named in
    `x-amzn-ErrorType`, body `{"message": ...}`. SES v1 (query): 400 `Throttling` XML.
- `server`, the request fails and is not applied: DynamoDB 500 `InternalServerError`;
  S3 500 `InternalError`; SQS 500 `InternalFailure` (type Receiver; SQS's model names no
  server error, this is its common error), SES v2 500 `InternalServiceErrorException`,
  SES v1 500 `InternalFailure`.
- `cancel` (DynamoDB TransactWriteItems only; `throttle` for any other request): 400
  `TransactionCanceledException`, `CancellationReasons` one per item of the request, one
  of them (chosen at random) `{"Code": "TransactionConflict", "Message": "Transaction is
  ongoing for the item"}`, the others `{"Code": "None"}`. Nothing is applied.
- `slow`: the request waits `slow_ms`, then moto handles it. Past the SDK's attempt
  timeout the client has given up and retried meanwhile: the first attempt still
  applies, as in AWS.
- `after`: moto handles the request (the write commits), its answer is dropped and the
  `server` error is sent instead: an ambiguous outcome, as when AWS fails after
  committing. Only for writes (DynamoDB PutItem, UpdateItem, DeleteItem,
  TransactWriteItems, BatchWriteItem; S3 PUT, DELETE, POST; SQS SendMessage,
  DeleteMessage, ChangeMessageVisibility and their batches; SES sends); `server` for any
  other request.

A TransactWriteItems applied but answered late (`slow`) or not at all (`after`) is retried
by the SDK with the same `ClientRequestToken`, which the launcher honours as DynamoDB
does (moto_capacity.py): the retry answers success without applying it again. The other
writes have no such token: their retry applies again, or fails on its first attempt's
condition, as in AWS.

Each fault is one line on stderr (the emulator's log): `fault: <service> <operation>
<kind> <caller>`.

Order with the call log (`aws_call_log.py`): the call log wraps this injector, so it sees
every request, the faulted ones too: IAM authorises a request before the service acts,
and a throttled request was authorised all the same.
"""

from __future__ import annotations

import base64
import json
import os
import random
import sys
import threading
import time
import uuid
import zlib
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from werkzeug.http import HTTP_STATUS_CODES

import aws_call_log  # beside this file

ENV = "ALOFT_FAULTS"

SERVICES = ("dynamodb", "s3", "sqs", "ses")
KINDS = ("throttle", "server", "slow", "after", "cancel")
DEFAULTS: dict[str, Any] = {
    "rate": 0.05,
    "seed": None,
    "services": list(SERVICES),
    "kinds": {"throttle": 3, "server": 2, "slow": 1, "after": 1, "cancel": 1},
    "callers": None,
    "operations": None,
    "slow_ms": 2500,
}

# The writes `after` may fail (the rest get `server`).
_WRITES = {
    "dynamodb": {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"},
    "sqs": {"SendMessage", "SendMessageBatch", "DeleteMessage", "DeleteMessageBatch",
            "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"},
    "ses": {"SendEmail", "SendRawEmail", "SendTemplatedEmail", "SendBulkTemplatedEmail",
            "SendBulkEmail"},
}

_lock = threading.Lock()
_config: dict[str, Any] | None = None  # read without the lock: one reference
_random = random.Random()
_eligible: dict[str, int] = {}
_injected: dict[tuple[str, str, str], int] = {}


# --- Configuration ---------------------------------------------------------------------


def configure(config: Any) -> None:
    """Replaces the configuration, reseeds and resets the counters; raises ValueError,
    changing nothing, when it is not valid."""
    global _config
    config = _validated(config)
    with _lock:
        _random.seed(config["seed"])
        _eligible.clear()
        _injected.clear()
        _config = config


def stop() -> None:
    """No more faults; the counters stay."""
    global _config
    with _lock:
        _config = None


def _validated(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ValueError("the configuration must be a JSON object")
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    config = {**DEFAULTS, **config}
    rate = config["rate"]
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise ValueError("rate must be a number from 0 to 1")
    if config["seed"] is None:
        config["seed"] = random.SystemRandom().randrange(2**32)
    elif not isinstance(config["seed"], int) or isinstance(config["seed"], bool):
        raise ValueError("seed must be an integer or null")
    services = config["services"]
    if not isinstance(services, list) or not set(services) <= set(SERVICES):
        raise ValueError(f"services must be a list of {list(SERVICES)}")
    kinds = config["kinds"]
    if (not isinstance(kinds, dict) or not set(kinds) <= set(KINDS)
            or not all(isinstance(w, (int, float)) and w >= 0 for w in kinds.values())
            or not any(w > 0 for w in kinds.values())):
        raise ValueError(f"kinds must map some of {list(KINDS)} to weights, one at least > 0")
    callers = config["callers"]
    if callers is not None and not (
            isinstance(callers, list) and all(isinstance(c, str) for c in callers)):
        raise ValueError("callers must be a list of access key ids, or null")
    operations = config["operations"]
    if operations is not None and not (
            isinstance(operations, list)
            and all(isinstance(o, str) and o for o in operations)):
        raise ValueError("operations must be a list of operation names, or null")
    slow_ms = config["slow_ms"]
    if not isinstance(slow_ms, int) or isinstance(slow_ms, bool) or slow_ms < 0:
        raise ValueError("slow_ms must be a non-negative integer")
    return config


def report() -> dict[str, Any]:
    """GET /moto-api/faults's answer."""
    with _lock:
        return {
            "config": _config,
            "eligible": dict(_eligible),
            "injected": [
                {"service": s, "kind": k, "caller": c, "count": n}
                for (s, k, c), n in sorted(_injected.items())
            ],
        }


def _api(request, full_url, headers):
    """/moto-api/faults: GET the state, POST a configuration, DELETE to stop."""
    if request.method == "POST":
        try:
            configure(json.loads(request.get_data()))
        except ValueError as error:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": str(error)})
    elif request.method == "DELETE":
        stop()
    return 200, {"Content-Type": "application/json"}, json.dumps(report())


def install(config_json: str | None) -> None:
    """Wraps the moto server app and adds /moto-api/faults; `config_json` (ALOFT_FAULTS)
    is the configuration to start with. Install before the call log, which then wraps
    this and logs faulted requests too."""
    from moto.moto_api._internal import urls as moto_api_urls
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if config_json:
        try:
            configure(json.loads(config_json))
        except ValueError as error:
            sys.exit(f"{ENV}: {error}")

    # Read when the moto API's routes are first built, on the first /moto-api request.
    moto_api_urls.url_paths["{0}/moto-api/faults"] = _api

    original = DomainDispatcherApplication.__call__

    def faulty(self, environ, start_response):
        if _config is None:
            return original(self, environ, start_response)
        fault = _choose(environ)
        if fault is None:
            return original(self, environ, start_response)
        service, kind, slow_ms = fault
        if kind == "slow":
            time.sleep(slow_ms / 1000)
            return original(self, environ, start_response)
        if kind == "after":
            answer = original(self, environ, lambda *args: (lambda data: None))
            try:
                for _ in answer:
                    pass
            finally:
                if hasattr(answer, "close"):
                    answer.close()
            status_code, headers, body = _error(service, "server", environ)
        else:
            status_code, headers, body = _error(service, kind, environ)
            _drain(environ)  # after _error, which may read a (small) body itself
        if environ.get("REQUEST_METHOD") == "HEAD":
            body = b""
        headers["Content-Length"] = str(len(body))
        start_response(f"{status_code} {HTTP_STATUS_CODES[status_code]}", list(headers.items()))
        return [body]

    DomainDispatcherApplication.__call__ = faulty


# --- Choosing ------------------------------------------------------------------------


def _choose(environ) -> tuple[str, str, int] | None:
    """(service, kind, slow_ms) if this request is to fail, counting it."""
    config = _config
    if config is None or environ.get("REQUEST_METHOD") == "OPTIONS":
        return None
    if environ.get("PATH_INFO", "").startswith("/moto-api"):
        return None
    signature = aws_call_log._signature(environ)
    if signature is None:
        return None
    caller, _, service = signature
    if service not in config["services"]:
        return None
    callers = config["callers"]
    if callers is None and caller == "local":
        return None
    if callers is not None and caller not in callers:
        return None
    operations = config["operations"]
    operation = None
    if operations is not None:
        operation = _operation(service, environ)
        if operation not in operations:
            return None
    weights = config["kinds"]
    with _lock:
        if config is not _config:  # replaced meanwhile: let this one through
            return None
        _eligible[service] = _eligible.get(service, 0) + 1
        if _random.random() >= config["rate"]:
            return None
        kind = _random.choices(list(weights), weights=list(weights.values()))[0]
        draw = _random.random()  # which throttle / which item conflicts
    if operation is None:
        operation = _operation(service, environ)
    if kind == "cancel" and operation != "TransactWriteItems":
        kind = "throttle"
    if kind == "after" and not _is_write(service, operation, environ):
        kind = "server"
    environ["aloft.fault.draw"] = draw
    with _lock:
        key = (service, kind, caller)
        _injected[key] = _injected.get(key, 0) + 1
    sys.stderr.write(f"fault: {service} {operation} {kind} {caller}\n")
    return service, kind, config["slow_ms"]


def _operation(service: str, environ) -> str:
    """The operation's name, for `operations`, the log and the fallbacks (the names the
    module docstring lists)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    method = environ.get("REQUEST_METHOD", "GET")
    if target:  # DynamoDB, SQS (JSON)
        return target.rsplit(".", 1)[-1]
    if service == "s3":
        _, _, key = environ.get("PATH_INFO", "/").lstrip("/").partition("/")
        names = {"GET": "Get", "HEAD": "Head", "PUT": "Put", "DELETE": "Delete",
                 "POST": "Post"}
        return names.get(method, method) + ("Object" if key else "Bucket")
    path = urlsplit(environ.get("RAW_URI") or environ.get("PATH_INFO", "/")).path
    if path.startswith("/v2/"):  # SES v2
        if method == "POST" and path.rstrip("/") == "/v2/email/outbound-emails":
            return "SendEmail"
        if method == "POST" and path.rstrip("/") == "/v2/email/outbound-bulk-emails":
            return "SendBulkEmail"
        return f"{method}:{path}"
    return aws_call_log._form(environ).get("Action") or f"{method}:{path}"


def _is_write(service: str, operation: str, environ) -> bool:
    if service == "s3":
        return environ.get("REQUEST_METHOD") in ("PUT", "DELETE", "POST")
    return operation in _WRITES.get(service, ())


def _drain(environ) -> None:
    """Reads the request body moto will not read, so the client is not cut off while
    still sending it (an S3 upload)."""
    if "aloft.body" in environ:
        return
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    left = int(environ.get("CONTENT_LENGTH") or 0)
    while left > 0:
        chunk = stream.read(min(left, 1 << 16))
        if not chunk:
            break
        left -= len(chunk)


# --- Answers ---------------------------------------------------------------------------

DYNAMODB = "com.amazonaws.dynamodb.v20120810#"
DYNAMODB_THROTTLES = [
    (DYNAMODB + "ProvisionedThroughputExceededException",
     "The level of configured provisioned throughput for the table was exceeded. "
     "Consider increasing your provisioning level with the UpdateTable API."),
    ("com.amazon.coral.availability#ThrottlingException",
     "Rate of requests exceeds the allowed throughput."),
]

# (status, code, message) of the query-protocol and SES v2 errors.
_SQS = {
    "throttle": (400, "RequestThrottled", "Request is throttled."),
    "server": (500, "InternalFailure",
               "The request processing has failed because of an unknown error."),
}
_SES_V1 = {
    "throttle": (400, "Throttling", "Maximum sending rate exceeded."),
    "server": (500, "InternalFailure",
               "The request processing has failed because of an unknown error."),
}
_SES_V2 = {
    "throttle": (429, "TooManyRequestsException", "Too Many Requests"),
    "server": (500, "InternalServiceErrorException", "Internal service error"),
}
_S3 = {
    "throttle": (503, "SlowDown", "Please reduce your request rate."),
    "server": (500, "InternalError", "We encountered an internal error. Please try again."),
}
_XMLNS = {"sqs": "http://queue.amazonaws.com/doc/2012-11-05/",
          "ses": "http://ses.amazonaws.com/doc/2010-12-01/"}


def _error(service: str, kind: str, environ) -> tuple[int, dict[str, str], bytes]:
    """The answer `service` gives for a `kind` fault (throttle, server or cancel)."""
    request_id = str(uuid.uuid4())
    if service == "dynamodb":
        return _dynamodb_error(kind, environ)
    if service == "s3":
        status, code, message = _S3[kind]
        s3_id = uuid.uuid4().hex[:16].upper()
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>{s3_id}</RequestId>"
                f"<HostId>{base64.b64encode(os.urandom(48)).decode()}</HostId></Error>")
        return status, {
            "Content-Type": "application/xml",
            "x-amz-request-id": s3_id,
            "x-amz-id-2": base64.b64encode(os.urandom(48)).decode(),
        }, body.encode()
    v2 = service == "ses" and environ.get("PATH_INFO", "").startswith("/v2/")
    if v2:
        status, code, message = _SES_V2[kind]
        return status, {
            "Content-Type": "application/json",
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": code,
        }, json.dumps({"message": message}, separators=(",", ":")).encode()
    status, code, message = (_SQS if service == "sqs" else _SES_V1)[kind]
    fault = "Sender" if status < 500 else "Receiver"
    if environ.get("HTTP_X_AMZ_TARGET"):  # SQS JSON
        namespace = "com.amazonaws.sqs#" if status < 500 else "com.amazon.coral.service#"
        return status, {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-RequestId": request_id,
            "x-amzn-query-error": f"{code};{fault}",
        }, json.dumps({"__type": namespace + code, "message": message},
                      separators=(",", ":")).encode()
    detail = "<Detail/>" if service == "sqs" else ""  # as each sends it
    body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{_XMLNS[service]}"><Error>'
            f"<Type>{fault}</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"{detail}</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()


def _dynamodb_error(kind: str, environ) -> tuple[int, dict[str, str], bytes]:
    draw = environ.get("aloft.fault.draw", 0.0)
    if kind == "server":
        status = 500
        answer = {"__type": DYNAMODB + "InternalServerError", "message": "Internal server error"}
    elif kind == "cancel":
        status = 400
        items = aws_call_log._json_body(environ).get("TransactItems", [])
        conflict = int(draw * len(items))
        reasons = [
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
            if i == conflict else {"Code": "None"}
            for i in range(len(items))
        ]
        codes = ", ".join(r["Code"] for r in reasons)
        answer = {
            "__type": DYNAMODB + "TransactionCanceledException",
            "CancellationReasons": reasons,
            "Message": "Transaction cancelled, please refer cancellation reasons for "
                       f"specific reasons [{codes}]",
        }
    else:
        status = 400
        code, message = DYNAMODB_THROTTLES[0 if draw < 0.5 else 1]
        answer = {"__type": code, "message": message}
    body = json.dumps(answer, separators=(",", ":")).encode()
    return status, {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-RequestId": _dynamodb_request_id(),
        "x-amz-crc32": str(zlib.crc32(body)),
    }, body


def _dynamodb_request_id() -> str:
    """DynamoDB's request ids: 52 characters of base32."""
    return base64.b32encode(os.urandom(35)).decode()[:52]
