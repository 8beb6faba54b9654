"""moto_server, with DynamoDB's capacity accounting.

moto answers `ReturnConsumedCapacity` with a constant (1.0 for any query, however many
items it read; nothing at all for UpdateItem), so the local stack could not show what a
request costs or prove that a list page reads a bounded number of items. This launcher
runs the pinned moto server unchanged except for that: every item operation reports the
capacity DynamoDB's on-demand rules charge for it
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):

- GetItem: the item's size rounded up to 4 KB, one unit per 4 KB (at least one unit, also
  for a missing item), halved for an eventually consistent read.
- Query / Scan: the summed size of every item *read* (before a filter drops any, as
  projected into the index for an index read) rounded up to 4 KB, halved when eventually
  consistent (always, for a global secondary index).
- PutItem / UpdateItem / DeleteItem: the larger of the item before and after, rounded up
  to 1 KB, one unit per KB (at least one); plus each global secondary index the write
  touches (the projected item: one write per index whose projection changed; two when
  the index key changes).
- TransactWriteItems: twice that for every action (ConditionCheck counts one unit).
- BatchWriteItem: each put or delete as above.

Two more changes make transactions usable under load. moto's TransactWriteItems
deep-copies every table it touches, whole, for its rollback: that grows with the table
(seconds at a few thousand items, past the SDK's timeout, whose retry then meets its own
first attempt), and fails with "dictionary changed size during iteration" when another
thread writes meanwhile. Here a transaction snapshots only the items it names and puts
them back if it is cancelled, and DynamoDB requests run one at a time (moto's work is
Python under one interpreter lock anyway, so this costs little).

And TransactWriteItems' `ClientRequestToken`, which moto ignores, is honoured as DynamoDB
honours it (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html):
a transaction that succeeded is remembered by its token (per account and region) for 10
minutes after it completed, with a hash of its request (every member but the token) and
its answer. The same token with the same request then answers that success again without
applying anything (`ConsumedCapacity`, if asked for, then counts read units, as DynamoDB
reports "the read capacity units consumed in reading the item" for a replay: here one
consistent read of each item the request names); the same token with any other request
(any member changed) answers 400 `IdempotentParameterMismatchException`. A transaction that
failed (cancelled, invalid) is not remembered: the same token runs it again. The Rust SDK
fills the token itself and keeps it across its retries, so a transaction applied whose
answer was lost (the fault injector's `after`, or an answer slower than the SDK's attempt
timeout) is retried to success, as in AWS, instead of failing on its own first attempt's
conditions. (DynamoDB answers `TransactionInProgressException` to a retry that arrives
while the first attempt is still running; here DynamoDB requests run one at a time, and a
`slow` fault holds a request before moto sees it, so that retry simply runs first, and
the late first attempt is then answered from the memory, applying nothing.)

And two for the local mailbox (the API front's `/_local/mail`, infra/local's mailbox).
moto keeps every email sent through SES (v1 or v2) and lists it in `/moto-api/data.json`
as `ses.Message`, but not when it was sent: each message is stamped with `sent_at`, UTC,
RFC 3339 in whole seconds as the API writes timestamps (e.g. `2026-01-10T12:00:00Z`).
And data.json dumps every model of every service (each item and object ever stored), so
it takes seconds late in a test run: `GET /moto-api/ses/messages.json` answers the
messages alone, in the same shape (`{"ses": {"Message": [...]}}`, oldest first).

And a call log for `infra/iam/check.py` (IAM proven by the tests' own calls): with
`ALOFT_AWS_CALL_LOG=<file>` set, every AWS API request is appended to that file as JSON
lines, one per authorisation unit, with the access key id that signed it, the IAM action
and the resource ARNs (`aws_call_log.py` beside this file says how each service's
requests are read). Unset, nothing is logged and nothing changes.

And a fault injector for `make chaos`: with `ALOFT_FAULTS=<JSON>` set, or after a
`POST /moto-api/faults`, a share of the functions' AWS calls fail as AWS fails them
(throttled, server errors, slow, failed after committing, transactions cancelled), in
each service's own error format (`faults.py` beside this file). The call log wraps the
injector, so it logs faulted requests too. Unset, nothing changes.

Usage: the same arguments as `moto_server`.
"""

import copy
import hashlib
import json
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from functools import wraps

import moto.dynamodb.models as dynamodb_models
import moto.ses.models as ses_models
from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import DynamodbException
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.moto_api._internal import urls as moto_api_urls
from moto.server import main

import aws_call_log  # beside this file: the script's directory is on sys.path
import faults

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024

# Bytes read by the Query/Scan running on this thread (moto serves each request on one).
_scan = threading.local()


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def _write_units(size: int) -> float:
    return float(max(1, math.ceil(size / WRITE_UNIT_BYTES)))


class _CountingFilter:
    """Stands in for (or wraps) a filter expression: moto calls it once per item read."""

    def __init__(self, inner):
        self.inner = inner

    def expr(self, item) -> bool:
        _scan.bytes += item.size()
        return self.inner.expr(item) if self.inner is not None else True


def _counting(read):
    @wraps(read)
    def counted(self, *args, **kwargs):
        # filter_expression is the 10th positional argument of Table.query (the 4th of
        # Table.scan); the backend passes it positionally.
        position = 9 if read.__name__ == "query" else 3
        args = list(args)
        if len(args) > position:
            args[position] = _CountingFilter(args[position])
        else:
            kwargs["filter_expression"] = _CountingFilter(kwargs.get("filter_expression"))
        return read(self, *args, **kwargs)

    return counted


Table.query = _counting(Table.query)
Table.scan = _counting(Table.scan)


def _item(handler, table_name, key_or_item):
    """A copy of the stored item: an update changes moto's own object in place."""
    try:
        return copy.deepcopy(handler.dynamodb_backend.get_item(table_name, key_or_item))
    except Exception:  # noqa: BLE001 - no such table/key shape: moto reports that itself
        return None


def _write_cost(handler, table_name, before, after) -> float:
    """Units of one item write: the table's, plus every index the write touches."""
    size = max(before.size() if before else 0, after.size() if after else 0)
    units = _write_units(size)
    table = handler.dynamodb_backend.get_table(table_name)
    for index in table.global_indexes:
        keys = index.schema_key_attrs

        def indexed(item):
            return item is not None and all(item.attrs.get(k) is not None for k in keys)

        old, new = indexed(before), indexed(after)
        if old and new and any(before.attrs.get(k) != after.attrs.get(k) for k in keys):
            units += _write_units(index.project(before).size())
            units += _write_units(index.project(after).size())
        elif old and new:
            # Same keys: the index is written only if what it projects changed.
            projected = index.project(after)
            if index.project(before).to_json() != projected.to_json():
                units += _write_units(projected.size())
        elif old or new:
            units += _write_units(index.project(after if new else before).size())
    return units


def _report(handler, result, units: float, write: bool):
    wanted = handler.body.get("ReturnConsumedCapacity", "NONE")
    body = getattr(result, "result", None)
    if wanted not in ("TOTAL", "INDEXES") or not isinstance(body, dict):
        return result
    kind = "WriteCapacityUnits" if write else "ReadCapacityUnits"
    body["ConsumedCapacity"] = {
        "TableName": handler.body.get("TableName", ""),
        "CapacityUnits": units,
        kind: units,
    }
    return result


def _report_list(handler, result, units_by_table: dict):
    wanted = handler.body.get("ReturnConsumedCapacity", "NONE")
    body = getattr(result, "result", None)
    if wanted not in ("TOTAL", "INDEXES") or not isinstance(body, dict):
        return result
    body["ConsumedCapacity"] = [
        {"TableName": name, "CapacityUnits": units, "WriteCapacityUnits": units}
        for name, units in units_by_table.items()
    ]
    return result


def _get_item(original):
    @wraps(original)
    def get_item(self):
        result = original(self)
        item = _item(self, self.body["TableName"], self.body["Key"])
        consistent = bool(self.body.get("ConsistentRead", False))
        units = _read_units(item.size() if item else 0, consistent)
        return _report(self, result, units, write=False)

    return get_item


def _read_many(original):
    @wraps(original)
    def read(self):
        _scan.bytes = 0
        result = original(self)
        # Index reads are always eventually consistent.
        consistent = bool(self.body.get("ConsistentRead", False)) and not self.body.get(
            "IndexName"
        )
        return _report(self, result, _read_units(_scan.bytes, consistent), write=False)

    return read


def _write_one(original, key_field):
    @wraps(original)
    def write(self):
        name = self.body["TableName"]
        before = _item(self, name, self.body[key_field])
        result = original(self)
        after = _item(self, name, self.body[key_field])
        return _report(self, result, _write_cost(self, name, before, after), write=True)

    return write


class _NoTableCopy:
    """moto's `copy` module for its backend, except that a whole table is not copied."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


dynamodb_models.copy = _NoTableCopy()


def _restore(handler, table_name, key, before):
    """Puts an item back as it was before a cancelled transaction."""
    backend = handler.dynamodb_backend
    if before is None:
        if _item(handler, table_name, key) is not None:
            backend.delete_item(table_name, key)
    else:
        backend.put_item(table_name, before.to_json()["Attributes"])


class IdempotentParameterMismatch(DynamodbException):
    error_type = "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException"

    def __init__(self) -> None:
        # The message is the API reference's description of the error.
        super().__init__(
            self.error_type,
            message="DynamoDB rejected the request because you retried a request with a "
                    "different payload but with an idempotent token that was already used.")
        self.content_type = "application/x-amz-json-1.0"  # DynamoDB's (moto's: JSON's)


# How long DynamoDB remembers a ClientRequestToken after its transaction completed.
TOKEN_SECONDS = 600

# (account, region, token) -> (request hash, answer, completed at), oldest first.
_tokens: OrderedDict = OrderedDict()
# Held from a token's look-up to its remembering, so one token's transaction runs once
# even if DynamoDB requests no longer ran one at a time (`_serialized`): they do, so it
# is never waited on, taken inside `_one_at_a_time`, always in that order.
_tokens_lock = threading.Lock()


def _request_hash(handler) -> str:
    """A hash of the request, every member but the token, whatever their order."""
    try:
        request = json.loads(handler.raw_body or b"{}")
    except ValueError:
        request = dict(handler.body)
    request.pop("ClientRequestToken", None)
    text = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _replayed(handler, answer: dict):
    """The remembered answer, its capacity the reads DynamoDB reports for a replay."""
    answer = copy.deepcopy(answer)
    if handler.body.get("ReturnConsumedCapacity", "NONE") in ("TOTAL", "INDEXES"):
        units_by_table: dict = {}
        for entry in handler.body["TransactItems"]:
            (kind, action), = entry.items()
            name = action["TableName"]
            item = _item(handler, name, action.get("Item") if kind == "Put" else action.get("Key"))
            units = _read_units(item.size() if item else 0, consistent=True)
            units_by_table[name] = units_by_table.get(name, 0.0) + units
        answer["ConsumedCapacity"] = [
            {"TableName": name, "CapacityUnits": units, "ReadCapacityUnits": units}
            for name, units in units_by_table.items()
        ]
    return ActionResult(answer)


def _idempotent(write):
    """TransactWriteItems with DynamoDB's ClientRequestToken (module docstring)."""

    @wraps(write)
    def idempotent(self):
        token = self.body.get("ClientRequestToken")
        if not token:
            return write(self)
        key = (self.current_account, self.region, token)
        digest = _request_hash(self)
        with _tokens_lock:
            now = time.monotonic()
            while _tokens and next(iter(_tokens.values()))[2] <= now - TOKEN_SECONDS:
                _tokens.popitem(last=False)
            if key in _tokens:
                remembered, answer, _ = _tokens[key]
                if remembered != digest:
                    raise IdempotentParameterMismatch()
                return _replayed(self, answer)
            result = write(self)  # raises if the transaction failed: not remembered
            answer = getattr(result, "result", None)
            if isinstance(answer, dict):
                _tokens[key] = (digest, copy.deepcopy(answer), time.monotonic())
            return result

    return idempotent


def _transact_write(original):
    @wraps(original)
    def write(self):
        actions = []
        for entry in self.body["TransactItems"]:
            (kind, action), = entry.items()
            key = action.get("Item") if kind == "Put" else action.get("Key")
            name = action["TableName"]
            actions.append((kind, name, key, _item(self, name, key)))
        try:
            result = original(self)
        except Exception:
            for kind, name, key, before in actions:
                if kind != "ConditionCheck" and key is not None:
                    _restore(self, name, key, before)
            raise
        units_by_table: dict = {}
        for kind, name, key, before in actions:
            if kind == "ConditionCheck":
                units = 1.0
            else:
                units = _write_cost(self, name, before, _item(self, name, key))
            units_by_table[name] = units_by_table.get(name, 0.0) + 2 * units
        return _report_list(self, result, units_by_table)

    return write


def _batch_write(original):
    @wraps(original)
    def write(self):
        requests = []
        for name, entries in self.body["RequestItems"].items():
            for entry in entries:
                if "PutRequest" in entry:
                    key = entry["PutRequest"]["Item"]
                else:
                    key = entry["DeleteRequest"]["Key"]
                requests.append((name, key, _item(self, name, key)))
        result = original(self)
        units_by_table: dict = {}
        for name, key, before in requests:
            units = _write_cost(self, name, before, _item(self, name, key))
            units_by_table[name] = units_by_table.get(name, 0.0) + units
        return _report_list(self, result, units_by_table)

    return write


_one_at_a_time = threading.Lock()


def _serialized(call_action):
    @wraps(call_action)
    def serialized(self):
        with _one_at_a_time:
            return call_action(self)

    return serialized


DynamoHandler.call_action = _serialized(DynamoHandler.call_action)
DynamoHandler.get_item = _get_item(DynamoHandler.get_item)
DynamoHandler.query = _read_many(DynamoHandler.query)
DynamoHandler.scan = _read_many(DynamoHandler.scan)
DynamoHandler.put_item = _write_one(DynamoHandler.put_item, "Item")
DynamoHandler.update_item = _write_one(DynamoHandler.update_item, "Key")
DynamoHandler.delete_item = _write_one(DynamoHandler.delete_item, "Key")
DynamoHandler.transact_write_items = _idempotent(
    _transact_write(DynamoHandler.transact_write_items))
DynamoHandler.batch_write_item = _batch_write(DynamoHandler.batch_write_item)


def _stamped(init):
    """A message's constructor that also records when it was sent (moto builds one per
    accepted SendEmail, after its checks)."""

    @wraps(init)
    def stamped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.sent_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    return stamped


ses_models.Message.__init__ = _stamped(ses_models.Message.__init__)

# What /moto-api/data.json shows of a message.
_MESSAGE_FIELDS = ("id", "source", "destinations", "subject", "body", "sent_at")


def _sent_messages(request, full_url, headers):
    """Every message SES accepted, in every account and region, oldest first: the
    `ses.Message` part of /moto-api/data.json."""
    messages = [
        {field: getattr(message, field, None) for field in _MESSAGE_FIELDS}
        for message in list(ses_models.Message.instances_tracked)
    ]
    body = json.dumps({"ses": {"Message": messages}})
    return 200, {"Content-Type": "application/json"}, body


# Read when the moto API's routes are first built, on the first /moto-api request.
moto_api_urls.url_paths["{0}/moto-api/ses/messages.json"] = _sent_messages

# The injector first: the call log then wraps it, and logs every request, faulted or not
# (IAM authorises a request before the service acts).
faults.install(os.environ.get(faults.ENV))
if os.environ.get(aws_call_log.ENV):
    aws_call_log.install(os.environ[aws_call_log.ENV])

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
