"""The emulator's call log: every AWS API request, as IAM would authorise it.

With `ALOFT_AWS_CALL_LOG=<file>` in its environment, the moto launcher
(`moto_capacity.py`) appends one JSON line to that file for each authorisation unit of
each signed request it receives, before moto handles it (IAM decides before the service
acts, so a request that then fails is still logged). `infra/iam/check.py` evaluates the
lines against each function's policies in template.yaml.

A line:

    {"caller": "users", "action": "dynamodb:PutItem",
     "resources": ["arn:aws:dynamodb:us-east-1:123456789012:table/aloft-local-app-table"],
     "leading_keys": ["USER#abc"]}

- `caller`: the access key id the request was signed with: the `Credential=` of a SigV4
  `Authorization` header, or the `X-Amz-Credential` query parameter of a presigned URL.
  Each function signs with its binary name; the bootstrap, the SQS shim and in-process
  tests sign with `local`. Unsigned requests are logged with `caller: null` (browsers'
  CORS preflights, OPTIONS, are not API calls and are skipped, as is moto's own
  `/moto-api`).
- `action`: the IAM action (`<service prefix>:<Action>`), which is not always the
  operation's name: SendMessageBatch is authorised as sqs:SendMessage, HeadObject as
  s3:GetObject, ListObjectsV2 and HeadBucket as s3:ListBucket.
- `resources`: the resource ARNs IAM checks; every one must be allowed. `"*"` for an
  action without a resource, or one this log does not know (the checker flags those).
- `match: "any"` (SES only): the resources are alternatives, any one of which suffices.
  SES authorises SendEmail on the identity it sends as: the address identity when the
  address itself is verified, else its domain's. Which one that is depends on what the
  deployed account verified, so a policy naming either is accepted.
- `leading_keys`: DynamoDB item operations only: the values of the partition key of the
  table (or of the queried index) that the request touches, the `dynamodb:LeadingKeys`
  condition key. Absent for calls that name no item (Scan, DescribeTable), as the
  condition key is absent from IAM's request context then.
- `kms_aliases`: KMS only: the aliases of the key in `resources`, so the checker can tell
  which template key a local key id is (the bootstrap names keys by alias only).
- `error`: the request could not be described (its body did not parse, a Query whose
  partition-key value could not be found); the checker fails on such lines.

Units: IAM authorises some requests in parts, and each part is one line: each item of
TransactWriteItems (Put as dynamodb:PutItem, Update as UpdateItem, Delete as DeleteItem,
ConditionCheck as ConditionCheckItem) and of TransactGetItems (GetItem), each table of
BatchGetItem / BatchWriteItem, each key of an S3 DeleteObjects.

Writing: the file is opened in append mode for each request and each line is one
`os.write` (unbuffered, so nothing to flush): lines from concurrent requests and from
other writers of the same file (the WebSocket gateway logs execute-api calls there) never
interleave, and a file removed between test runs is simply created again.
"""

from __future__ import annotations

import io
import json
import os
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ENV = "ALOFT_AWS_CALL_LOG"

# moto's account for any access key it did not issue itself (every key here).
ACCOUNT = "123456789012"

# The partition key of a table moto does not know (the request will fail there anyway,
# but IAM authorises first): template.yaml's AppTable key.
FALLBACK_PARTITION_KEY = "pk"


def install(path: str) -> None:
    """Logs every request the moto server app receives to `path`."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def logged(self, environ, start_response):
        record(environ, path)
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = logged


def record(environ: dict[str, Any], path: str) -> None:
    """Appends the request's lines to `path`. Never fails the request: a request that
    cannot be described is logged with its error for the checker to report."""
    try:
        lines = describe(environ)
    except Exception as error:  # noqa: BLE001 - a log must not break the emulator
        signature = _signature(environ)
        lines = [
            {
                "caller": signature[0] if signature else None,
                "action": f"{signature[2] if signature else 'unknown'}:?",
                "resources": ["*"],
                "error": f"{type(error).__name__}: {error}",
            }
        ]
    if not lines:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for line in lines:
            os.write(fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())
    finally:
        os.close(fd)


def describe(environ: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's authorisation units, as log lines (none for what is not an API
    call)."""
    path = _raw_path(environ)
    method = environ.get("REQUEST_METHOD", "GET")
    if path.startswith("/moto-api") or method == "OPTIONS":
        return []
    signature = _signature(environ)
    if signature is None:
        return [{"caller": None, "action": "unsigned", "resources": [f"{method} {path}"]}]
    caller, region, service = signature
    units = _by_service(service, region, environ, method, path)
    return [{"caller": caller, **unit} for unit in units]


def _by_service(service, region, environ, method, path) -> list[dict[str, Any]]:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if service == "dynamodb":
        return _dynamodb(region, target, _json_body(environ))
    if service == "s3":
        return _s3(environ, method, path)
    if service == "sqs":
        return _sqs(region, environ, target, path)
    if service == "ses":
        return _ses(region, environ, method, path)
    if service == "ssm":
        return _ssm(region, target, _json_body(environ))
    if service == "kms":
        return _kms(region, target, _json_body(environ))
    operation = target.rsplit(".", 1)[-1] if target else _form(environ).get("Action")
    return [_unit(f"{service}:{operation or method + ' ' + path}", ["*"])]


def _unit(action: str, resources: list[str], **extra) -> dict[str, Any]:
    return {"action": action, "resources": resources, **extra}


# --- Request parts -------------------------------------------------------------------


def _signature(environ) -> tuple[str, str, str] | None:
    """(access key id, region, service) of a SigV4 signature, in the header or the
    query string (presigned URLs)."""
    scope = None
    match = re.search(r"Credential=([^,\s]+)", environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        scope = match.group(1)
    else:
        scope = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [None])[0]
    if not scope:
        return None
    parts = scope.split("/")
    if len(parts) != 5:
        return None
    return parts[0], parts[2], parts[3].lower()


def _raw_path(environ) -> str:
    """The request's path, percent-decoded once as UTF-8 (WSGI's PATH_INFO is decoded as
    Latin-1, which mangles non-ASCII S3 keys)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return unquote(urlsplit(raw).path)
    return environ.get("PATH_INFO", "/")


def _query(environ) -> dict[str, list[str]]:
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


def _body(environ) -> bytes:
    """The request body, read once and put back for moto. Only called for small API
    bodies (never an S3 PutObject's)."""
    if "aloft.body" in environ:
        return environ["aloft.body"]
    stream = environ.get("wsgi.input")
    body = b""
    if stream is not None:
        length = environ.get("CONTENT_LENGTH")
        if length:
            body = stream.read(int(length))
        elif environ.get("wsgi.input_terminated"):
            body = stream.read()
        environ["wsgi.input"] = io.BytesIO(body)
    environ["aloft.body"] = body
    return body


def _json_body(environ) -> dict[str, Any]:
    body = _body(environ)
    return json.loads(body) if body else {}


def _form(environ) -> dict[str, str]:
    """A query-protocol request's parameters (form body and query string)."""
    params = {k: v[0] for k, v in _query(environ).items()}
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = _body(environ).decode("utf-8", "replace")
        params.update({k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()})
    return params


# --- DynamoDB ------------------------------------------------------------------------

# TransactWriteItems' item kinds and the action IAM authorises each as.
_TRANSACT_WRITE = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _dynamodb(region: str, target: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    operation = target.rsplit(".", 1)[-1]

    def arn(table: str, index: str | None = None) -> str:
        base = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"
        return f"{base}/index/{index}" if index else base

    def item_unit(action: str, table: str, key: dict[str, Any]) -> dict[str, Any]:
        return _unit(f"dynamodb:{action}", [arn(table)],
                     leading_keys=[_partition_value(region, table, None, key)])

    if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        key = body.get("Item") if operation == "PutItem" else body.get("Key")
        return [item_unit(operation, body["TableName"], key or {})]
    if operation == "Query":
        table, index = body["TableName"], body.get("IndexName")
        unit = _unit("dynamodb:Query", [arn(table, index)])
        value = _query_partition_value(region, table, index, body)
        if value is None:
            unit["leading_keys"] = None
            unit["error"] = "no partition-key value found in the key condition"
        else:
            unit["leading_keys"] = [value]
        return [unit]
    if operation == "Scan":
        return [_unit("dynamodb:Scan", [arn(body["TableName"], body.get("IndexName"))])]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        units = []
        for table, entries in body.get("RequestItems", {}).items():
            if operation == "BatchGetItem":
                keys = entries.get("Keys", [])
            else:
                keys = [
                    e["PutRequest"]["Item"] if "PutRequest" in e else e["DeleteRequest"]["Key"]
                    for e in entries
                ]
            leading = sorted({_partition_value(region, table, None, k) for k in keys})
            units.append(_unit(f"dynamodb:{operation}", [arn(table)], leading_keys=leading))
        return units
    if operation == "TransactWriteItems":
        units = []
        for entry in body.get("TransactItems", []):
            ((kind, item),) = entry.items()
            key = item.get("Item") if kind == "Put" else item.get("Key")
            units.append(item_unit(_TRANSACT_WRITE[kind], item["TableName"], key or {}))
        return units
    if operation == "TransactGetItems":
        return [
            item_unit("GetItem", entry["Get"]["TableName"], entry["Get"]["Key"])
            for entry in body.get("TransactItems", [])
        ]
    table = body.get("TableName")
    return [_unit(f"dynamodb:{operation}", [arn(table)] if table else ["*"])]


def _partition_key(region: str, table: str, index: str | None) -> str:
    """The partition-key attribute of the table or index, from moto's own table (the
    bootstrap created it from template.yaml)."""
    try:
        from moto.dynamodb.models import dynamodb_backends

        found = dynamodb_backends[ACCOUNT][region].get_table(table)
    except Exception:  # noqa: BLE001 - no such table: moto answers that itself
        return FALLBACK_PARTITION_KEY
    if index:
        for candidate in list(found.global_indexes) + list(found.indexes):
            if candidate.name == index:
                for element in candidate.schema:
                    if element["KeyType"] == "HASH":
                        return element["AttributeName"]
    return found.hash_key_attr or FALLBACK_PARTITION_KEY


def _attribute_text(value: dict[str, Any] | None) -> str | None:
    """An attribute value as the condition key sees it: its string form."""
    if not value:
        return None
    ((_, inner),) = value.items()
    return inner if isinstance(inner, str) else json.dumps(inner)


def _partition_value(region, table, index, item: dict[str, Any]) -> str | None:
    return _attribute_text(item.get(_partition_key(region, table, index)))


# `<name> = <:value>` or `<:value> = <name>`, names possibly `#placeholders`.
_EQUALITY = re.compile(r"(#?[A-Za-z_][\w.]*)\s*=\s*(:\w+)|(:\w+)\s*=\s*(#?[A-Za-z_][\w.]*)")


def _query_partition_value(region, table, index, body) -> str | None:
    """The value a Query binds its (table's or index's) partition key to."""
    key = _partition_key(region, table, index)
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    expression = body.get("KeyConditionExpression")
    if expression:
        for match in _EQUALITY.finditer(expression):
            name, placeholder = (match.group(1), match.group(2)) if match.group(1) else (
                match.group(4), match.group(3))
            if names.get(name, name) == key and placeholder in values:
                return _attribute_text(values[placeholder])
        return None
    # The legacy KeyConditions parameter.
    condition = body.get("KeyConditions", {}).get(key)
    if condition and condition.get("ComparisonOperator") == "EQ":
        return _attribute_text(condition["AttributeValueList"][0])
    return None


# --- S3 ------------------------------------------------------------------------------

# Subresources (query parameters) of bucket calls, by method: the IAM action.
_BUCKET_SUBRESOURCES = {
    "GET": {
        "cors": "GetBucketCORS", "policy": "GetBucketPolicy", "location": "GetBucketLocation",
        "versioning": "GetBucketVersioning", "acl": "GetBucketAcl",
        "tagging": "GetBucketTagging", "lifecycle": "GetLifecycleConfiguration",
        "encryption": "GetEncryptionConfiguration", "versions": "ListBucketVersions",
        "uploads": "ListBucketMultipartUploads", "notification": "GetBucketNotification",
        "ownershipControls": "GetBucketOwnershipControls",
        "publicAccessBlock": "GetBucketPublicAccessBlock", "website": "GetBucketWebsite",
        "logging": "GetBucketLogging", "policyStatus": "GetBucketPolicyStatus",
    },
    "PUT": {
        "cors": "PutBucketCORS", "policy": "PutBucketPolicy",
        "versioning": "PutBucketVersioning", "acl": "PutBucketAcl",
        "tagging": "PutBucketTagging", "lifecycle": "PutLifecycleConfiguration",
        "encryption": "PutEncryptionConfiguration", "notification": "PutBucketNotification",
        "ownershipControls": "PutBucketOwnershipControls",
        "publicAccessBlock": "PutBucketPublicAccessBlock", "website": "PutBucketWebsite",
        "logging": "PutBucketLogging",
    },
    # Deleting a configuration is authorised as putting it (S3's rule), except these.
    "DELETE": {
        "cors": "PutBucketCORS", "policy": "DeleteBucketPolicy",
        "tagging": "PutBucketTagging", "lifecycle": "PutLifecycleConfiguration",
        "encryption": "PutEncryptionConfiguration", "website": "DeleteBucketWebsite",
        "ownershipControls": "PutBucketOwnershipControls",
        "publicAccessBlock": "PutBucketPublicAccessBlock",
    },
}
_BUCKET_DEFAULT = {"GET": "ListBucket", "HEAD": "ListBucket", "PUT": "CreateBucket",
                   "DELETE": "DeleteBucket"}

_OBJECT_SUBRESOURCES = {
    "GET": {"tagging": "GetObjectTagging", "acl": "GetObjectAcl",
            "uploadId": "ListMultipartUploadParts", "attributes": "GetObjectAttributes",
            "retention": "GetObjectRetention", "legal-hold": "GetObjectLegalHold",
            "versionId": "GetObjectVersion"},
    "HEAD": {"versionId": "GetObjectVersion"},
    "PUT": {"tagging": "PutObjectTagging", "acl": "PutObjectAcl",
            "retention": "PutObjectRetention", "legal-hold": "PutObjectLegalHold"},
    "DELETE": {"uploadId": "AbortMultipartUpload", "tagging": "DeleteObjectTagging",
               "versionId": "DeleteObjectVersion"},
    # CreateMultipartUpload / CompleteMultipartUpload are authorised as PutObject.
    "POST": {"uploads": "PutObject", "uploadId": "PutObject", "restore": "RestoreObject",
             "select": "GetObject"},
}
_OBJECT_DEFAULT = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject",
                   "DELETE": "DeleteObject"}


def _s3(environ, method: str, path: str) -> list[dict[str, Any]]:
    """Path-style requests (`/<bucket>/<key>`), as the local stack makes them."""
    bucket, _, key = path.lstrip("/").partition("/")
    query = _query(environ)
    if not bucket:
        return [_unit("s3:ListAllMyBuckets", ["*"])]
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if method == "POST" and "delete" in query:
            # DeleteObjects: each key is authorised (and may be refused) on its own.
            root = ElementTree.fromstring(_body(environ))
            keys = [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Key"]
            return [_unit("s3:DeleteObject", [f"{bucket_arn}/{k}"]) for k in keys]
        action = _subresource_action(_BUCKET_SUBRESOURCES, method, query) or _BUCKET_DEFAULT.get(
            method)
        if action is None:
            return [_unit(f"s3:{method} bucket", ["*"])]
        return [_unit(f"s3:{action}", [bucket_arn])]
    object_arn = f"{bucket_arn}/{key}"
    action = _subresource_action(_OBJECT_SUBRESOURCES, method, query) or _OBJECT_DEFAULT.get(
        method)
    if action is None:
        return [_unit(f"s3:{method} object", ["*"])]
    units = [_unit(f"s3:{action}", [object_arn])]
    source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if method == "PUT" and source:
        # CopyObject / UploadPartCopy also read the source object.
        source_path = unquote(source.split("?", 1)[0]).lstrip("/")
        units.append(_unit("s3:GetObject", [f"arn:aws:s3:::{source_path}"]))
    return units


def _subresource_action(table, method, query) -> str | None:
    for name, action in table.get(method, {}).items():
        if name in query:
            return action
    return None


# --- SQS -----------------------------------------------------------------------------

# Batch operations are authorised as their single-message actions.
_SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _sqs(region, environ, target, path) -> list[dict[str, Any]]:
    """JSON protocol (`X-Amz-Target: AmazonSQS.<Op>`) or query protocol (`Action=`)."""
    if target:
        operation = target.rsplit(".", 1)[-1]
        params = _json_body(environ)
    else:
        params = _form(environ)
        operation = params.get("Action", "")
    action = f"sqs:{_SQS_ACTIONS.get(operation, operation)}"
    url = params.get("QueueUrl") or (path if path.strip("/") else None)
    if url:
        parts = [p for p in urlsplit(url).path.split("/") if p]
        if len(parts) >= 2:
            account = parts[-2] if parts[-2].isdigit() else ACCOUNT
            return [_unit(action, [f"arn:aws:sqs:{region}:{account}:{parts[-1]}"])]
    if params.get("QueueName"):  # CreateQueue, GetQueueUrl
        account = params.get("QueueOwnerAWSAccountId") or ACCOUNT
        return [_unit(action, [f"arn:aws:sqs:{region}:{account}:{params['QueueName']}"])]
    return [_unit(action, ["*"])]


# --- SES -----------------------------------------------------------------------------


def _address(text: str) -> str:
    """`Name <a@b>` → `a@b`."""
    match = re.search(r"<([^>]+)>", text)
    return (match.group(1) if match else text).strip()


def _identity_alternatives(region: str, sender: str) -> list[str]:
    """The identity ARNs SES may authorise a send from `sender` on: the address's, or
    its domain's."""
    address = _address(sender)
    base = f"arn:aws:ses:{region}:{ACCOUNT}:identity/"
    alternatives = [base + address]
    if "@" in address:
        alternatives.append(base + address.rsplit("@", 1)[1])
    return alternatives


def _ses(region, environ, method, path) -> list[dict[str, Any]]:
    if path.startswith("/v2/"):
        return _ses_v2(region, environ, method, path)
    params = _form(environ)
    operation = params.get("Action", "")
    if operation in ("SendEmail", "SendRawEmail", "SendTemplatedEmail") and params.get("Source"):
        return [_unit(f"ses:{operation}", _identity_alternatives(region, params["Source"]),
                      match="any")]
    return [_unit(f"ses:{operation or method + ' ' + path}", ["*"])]


def _ses_v2(region, environ, method, path) -> list[dict[str, Any]]:
    base = f"arn:aws:ses:{region}:{ACCOUNT}:identity/"
    if path.rstrip("/") == "/v2/email/outbound-emails" and method == "POST":
        body = _json_body(environ)
        if body.get("FromEmailAddressIdentityArn"):
            return [_unit("ses:SendEmail", [body["FromEmailAddressIdentityArn"]])]
        sender = body.get("FromEmailAddress")
        if sender:
            return [_unit("ses:SendEmail", _identity_alternatives(region, sender), match="any")]
        return [_unit("ses:SendEmail", ["*"], error="SendEmail without FromEmailAddress")]
    if path.rstrip("/") == "/v2/email/identities":
        if method == "POST":
            identity = _json_body(environ).get("EmailIdentity", "")
            return [_unit("ses:CreateEmailIdentity", [base + identity])]
        return [_unit("ses:ListEmailIdentities", ["*"])]
    match = re.fullmatch(r"/v2/email/identities/([^/]+)", path.rstrip("/"))
    if match:
        action = {"GET": "GetEmailIdentity", "DELETE": "DeleteEmailIdentity"}.get(method)
        if action:
            return [_unit(f"ses:{action}", [base + match.group(1)])]
    return [_unit(f"ses:{method} {path}", ["*"])]


# --- SSM -----------------------------------------------------------------------------


def _ssm(region, target, body) -> list[dict[str, Any]]:
    operation = target.rsplit(".", 1)[-1]

    def arn(name: str) -> str:
        if name.startswith("arn:"):
            return name
        return f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{name.lstrip('/')}"

    names: Iterable[str]
    if "Names" in body:
        names = body["Names"]
    elif "Name" in body:
        names = [body["Name"]]
    elif "Path" in body:  # GetParametersByPath
        names = [body["Path"]]
    else:
        names = []
    # GetParameters fails whole when any one name is refused: all must be allowed.
    resources = [arn(n) for n in names] or ["*"]
    return [_unit(f"ssm:{operation}", resources)]


# --- KMS -----------------------------------------------------------------------------


def _kms(region, target, body) -> list[dict[str, Any]]:
    """Key operations are authorised on the key's ARN, whether the request names the
    key by id, ARN, alias or alias ARN; Decrypt on the key that made the ciphertext."""
    operation = target.rsplit(".", 1)[-1]
    backend = _kms_backend(region)
    key_id = body.get("KeyId")
    if operation == "Decrypt" and body.get("CiphertextBlob"):
        key_id = _ciphertext_key(body["CiphertextBlob"]) or key_id
    if operation in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        alias = body.get("AliasName", "")
        alias_arn = f"arn:aws:kms:{region}:{ACCOUNT}:{alias}"
        target_key = body.get("TargetKeyId")
        resources = [alias_arn]
        if target_key:
            resources.append(_key_arn(backend, region, target_key)[0])
        return [_unit(f"kms:{operation}", resources)]
    if not key_id:
        return [_unit(f"kms:{operation}", ["*"])]
    arn, aliases = _key_arn(backend, region, key_id)
    unit = _unit(f"kms:{operation}", [arn])
    if aliases:
        unit["kms_aliases"] = aliases
    return [unit]


def _kms_backend(region):
    try:
        from moto.kms.models import kms_backends

        return kms_backends[ACCOUNT][region]
    except Exception:  # noqa: BLE001
        return None


def _key_arn(backend, region: str, key_id: str) -> tuple[str, list[str]]:
    """The key's ARN and aliases, resolved through moto's KMS state; an unknown alias
    stays an alias ARN (the checker will not match it to a key)."""
    try:
        raw = backend.any_id_to_key_id(key_id)
        key = backend.keys[raw]
        return key.arn, sorted(key.aliases)
    except Exception:  # noqa: BLE001 - unknown key: moto answers NotFound itself
        if key_id.startswith("arn:"):
            return key_id, []
        kind = "" if key_id.startswith("alias/") else "key/"
        return f"arn:aws:kms:{region}:{ACCOUNT}:{kind}{key_id}", []


def _ciphertext_key(blob: str) -> str | None:
    """The key id moto wrote into its ciphertext format (36 bytes of key id first)."""
    try:
        import base64

        from moto.kms.utils import _deserialize_ciphertext_blob

        return _deserialize_ciphertext_blob(base64.b64decode(blob)).key_id
    except Exception:  # noqa: BLE001 - not moto's ciphertext: fall back to KeyId
        return None
