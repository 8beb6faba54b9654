"""Tests of moto_capacity.py's TransactWriteItems idempotency (ClientRequestToken, as
DynamoDB honours it), through the emulator started as infra/stack.sh starts it, with
boto3 as the client (one attempt; the token sent explicitly, as the Rust SDK sends the one
it fills in on every attempt of one call).

    PYTHONDONTWRITEBYTECODE=1 .venv/bin/python -m pytest -q -p no:cacheprovider infra/local/test_moto_capacity.py
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ReadTimeoutError

from test_faults import TABLE, _fails, _started  # beside this file

MISMATCH = "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with _started(tmp_path_factory.mktemp("capacity")) as started:
        yield started


def _token() -> str:
    return str(uuid.uuid4())  # what the SDKs send: 36 characters


def _add(key: str, by: int = 1) -> dict:
    return {"Update": {"TableName": TABLE, "Key": {"pk": {"S": key}},
                       "UpdateExpression": "ADD n :by",
                       "ExpressionAttributeValues": {":by": {"N": str(by)}}}}


def _create(key: str) -> dict:
    return {"Put": {"TableName": TABLE, "Item": {"pk": {"S": key}},
                    "ConditionExpression": "attribute_not_exists(pk)"}}


def _counter(emulator, key: str) -> int | None:
    item = emulator.client("dynamodb", "local").get_item(
        TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
    return None if item is None else int(item["n"]["N"])


def _transact(emulator, items, token, caller="users", **params):
    return emulator.client("dynamodb", caller).transact_write_items(
        TransactItems=items, ClientRequestToken=token, **params)


def test_the_same_token_and_request_again_succeeds_and_applies_nothing(emulator):
    key, token = f"k-{uuid.uuid4()}", _token()
    first = _transact(emulator, [_add(key)], token)
    second = _transact(emulator, [_add(key)], token)
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _counter(emulator, key) == 1
    # Another token is another transaction.
    _transact(emulator, [_add(key)], _token())
    assert _counter(emulator, key) == 2


def test_a_conditional_create_retried_with_its_token_succeeds(emulator):
    key, token = f"k-{uuid.uuid4()}", _token()
    _transact(emulator, [_create(key)], token)
    _transact(emulator, [_create(key)], token)  # its own condition would fail it
    code, status, _ = _fails(_transact, emulator=emulator, items=[_create(key)],
                             token=_token())
    assert (code, status) == ("TransactionCanceledException", 400)  # not without it


def test_the_same_token_with_another_request_is_a_mismatch(emulator):
    key, token = f"k-{uuid.uuid4()}", _token()
    _transact(emulator, [_add(key)], token)
    code, status, response = _fails(_transact, emulator=emulator, items=[_add(key, 2)],
                                     token=token)
    assert (code, status) == ("IdempotentParameterMismatchException", 400)
    assert "idempotent token that was already used" in response["Error"]["Message"]
    # Another member counts too.
    code, _, _ = _fails(_transact, emulator=emulator, items=[_add(key)], token=token,
                        ReturnConsumedCapacity="TOTAL")
    assert code == "IdempotentParameterMismatchException"
    assert _counter(emulator, key) == 1

    # The body as DynamoDB sends it, byte for byte in its shape.
    body = json.dumps({"TransactItems": [_add(key, 3)], "ClientRequestToken": token})
    status, headers, answer = _raw(emulator, "TransactWriteItems", body)
    assert status == 400
    assert json.loads(answer) == {
        "__type": MISMATCH,
        "message": "DynamoDB rejected the request because you retried a request with a "
                   "different payload but with an idempotent token that was already used."}
    assert headers["Content-Type"].startswith("application/x-amz-json-1.0")
    assert "x-amz-crc32" in headers


def _raw(emulator, operation: str, body: str) -> tuple[int, dict, bytes]:
    """A DynamoDB request as the SDKs send it, signed `users`; the answer unparsed."""
    headers = {"Content-Type": "application/x-amz-json-1.0",
               "X-Amz-Target": f"DynamoDB_20120810.{operation}"}
    request = AWSRequest(method="POST", url=emulator.url + "/", data=body, headers=headers)
    SigV4Auth(Credentials("users", "secret"), "dynamodb", "us-east-1").add_auth(request)
    raw = urllib.request.Request(emulator.url + "/", data=body.encode(),
                                 headers=dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(raw, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_failed_transaction_is_not_remembered(emulator):
    key, token = f"k-{uuid.uuid4()}", _token()
    emulator.client("dynamodb", "local").put_item(TableName=TABLE, Item={"pk": {"S": key}})
    assert _fails(_transact, emulator=emulator, items=[_create(key)], token=token)[0] == (
        "TransactionCanceledException")
    emulator.client("dynamodb", "local").delete_item(TableName=TABLE, Key={"pk": {"S": key}})
    _transact(emulator, [_create(key)], token)  # runs, and now succeeds
    assert emulator.client("dynamodb", "local").get_item(
        TableName=TABLE, Key={"pk": {"S": key}})["Item"] == {"pk": {"S": key}}


def test_a_replay_reports_the_reads_as_its_capacity(emulator):
    key, token = f"k-{uuid.uuid4()}", _token()
    first = _transact(emulator, [_add(key)], token, ReturnConsumedCapacity="TOTAL")
    assert first["ConsumedCapacity"] == [
        {"TableName": TABLE, "CapacityUnits": 2.0, "WriteCapacityUnits": 2.0}]
    second = _transact(emulator, [_add(key)], token, ReturnConsumedCapacity="TOTAL")
    assert second["ConsumedCapacity"] == [
        {"TableName": TABLE, "CapacityUnits": 1.0, "ReadCapacityUnits": 1.0}]


def test_a_transaction_whose_answer_was_lost_is_retried_to_success(emulator):
    """The injector's `after`: applied, answered 500; the retry, same token, succeeds."""
    key, token = f"k-{uuid.uuid4()}", _token()
    emulator.faults(rate=1, kinds={"after": 1}, operations=["TransactWriteItems"])
    assert _fails(_transact, emulator=emulator, items=[_add(key), _create(f"{key}-c")],
                  token=token)[:2] == ("InternalServerError", 500)
    assert _counter(emulator, key) == 1  # applied all the same
    emulator.faults(rate=0)
    _transact(emulator, [_add(key), _create(f"{key}-c")], token)
    assert _counter(emulator, key) == 1
    emulator.api("DELETE")


def test_a_slow_first_attempt_lands_after_its_retry_and_applies_nothing(emulator):
    """Past the client's timeout, the retry (same token) runs first; the late first
    attempt is then answered from the memory."""
    key, token = f"k-{uuid.uuid4()}", _token()
    emulator.faults(rate=1, kinds={"slow": 1}, slow_ms=1000)
    impatient = boto3.client(
        "dynamodb", endpoint_url=emulator.url, region_name="us-east-1",
        aws_access_key_id="users", aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=0.3))
    with pytest.raises(ReadTimeoutError):
        impatient.transact_write_items(TransactItems=[_add(key)], ClientRequestToken=token)
    emulator.api("DELETE")
    _transact(emulator, [_add(key)], token)
    assert _counter(emulator, key) == 1
    time.sleep(1.2)  # the first attempt has run meanwhile
    assert _counter(emulator, key) == 1


def test_one_token_sent_at_once_from_many_threads_applies_once(emulator):
    key, token = f"k-{uuid.uuid4()}", _token()
    errors: list[Exception] = []

    def send():
        try:
            _transact(emulator, [_add(key)], token)
        except Exception as error:  # noqa: BLE001 - collected, asserted below
            errors.append(error)

    threads = [threading.Thread(target=send) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert _counter(emulator, key) == 1
