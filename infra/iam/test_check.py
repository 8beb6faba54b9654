"""Tests of the IAM checker (check.py) and of the emulator's call log (infra/local's
aws_call_log.py, driven through a moto server in this process).

    PYTHONDONTWRITEBYTECODE=1 .venv/bin/python -m pytest -p no:cacheprovider infra/iam
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "infra" / "local"))

import check  # noqa: E402

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/aloft-local-app-table"
BUCKET = "arn:aws:s3:::aloft-local-files-bucket"

# A small SAM template in the shape of template.yaml's functions.
TEMPLATE = f"""
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {{Type: String, Default: dev}}
Globals:
  Function:
    Tracing: Active
Resources:
  AppTable: {{Type: AWS::DynamoDB::Table}}
  FilesBucket: {{Type: AWS::S3::Bucket}}
  JobsQueue: {{Type: AWS::SQS::Queue}}
  WebSocketApi: {{Type: AWS::ApiGatewayV2::Api}}
  TenantCredentialsKey: {{Type: AWS::KMS::Key}}
  UsersFunction:
    Type: AWS::Serverless::Function
    Metadata: {{BuildProperties: {{Binary: users}}}}
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:UpdateItem]
              Resource: !GetAtt AppTable.Arn
            - Effect: Allow
              Action: dynamodb:PutItem
              Resource: !GetAtt AppTable.Arn
              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys: ["AUDIT#*", "USER#*"]
            - Effect: Allow
              Action: s3:GetObject
              Resource: !Sub "${{FilesBucket.Arn}}/uploads/*"
            - Effect: Allow
              Action: execute-api:ManageConnections
              Resource: !Sub "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{WebSocketApi}}/${{Stage}}/POST/@connections/*"
            - Effect: Allow
              Action: kms:Encrypt
              Resource: !GetAtt TenantCredentialsKey.Arn
  WorkerFunction:
    Type: AWS::Serverless::Function
    Metadata: {{BuildProperties: {{Binary: jobs-worker}}}}
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Policies:
        - Statement:
            - Effect: Allow
              Action: ses:SendEmail
              Resource: "*"
            - Effect: Deny
              Action: dynamodb:*
              Resource: "*"
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt JobsQueue.Arn
"""


def _setup(lines, tmp_path: Path, template: str = TEMPLATE):
    template_file = tmp_path / "template.yaml"
    template_file.write_text(template)
    calls = tmp_path / "calls.jsonl"
    calls.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return template_file, calls


def _run(lines, tmp_path: Path, *extra: str, template: str = TEMPLATE):
    template_file, calls = _setup(lines, tmp_path, template)
    return check.main(["--template", str(template_file), "--calls", str(calls),
                       "--sam", "builtin", *extra])


def _policies(template: str = TEMPLATE, lines=()):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.yaml"
        path.write_text(template)
        parsed = check.load_template(path)
    local = check.Local()
    check.learn_kms_keys(parsed, local, list(lines))
    roles = check.expand_builtin(parsed)
    resolver = check.Resolver(parsed, local)
    return {r.binary: check.statements(r.binary, r, resolver) for r in roles.values()}


def _allowed(binary, action, resource, leading_keys=None, lines=()):
    context = {"dynamodb:leadingkeys": leading_keys}
    return check.decide(_policies(lines=lines)[binary], action, resource, context)


# --- Evaluation ---------------------------------------------------------------------


def test_a_matching_grant_allows():
    decision = _allowed("users", "dynamodb:GetItem", TABLE, ["USER#1"])
    assert decision.allowed
    (statement, action, resource), = decision.used
    assert (action, resource) == ("dynamodb:GetItem", TABLE)


def test_actions_match_case_insensitively():
    assert _allowed("users", "DynamoDB:getitem", TABLE, ["USER#1"]).allowed


def test_a_missing_action_is_denied():
    decision = _allowed("users", "dynamodb:DeleteItem", TABLE, ["USER#1"])
    assert not decision.allowed
    assert decision.reason == "no statement grants the action"


def test_an_action_on_another_resource_is_denied():
    decision = _allowed("users", "dynamodb:GetItem", TABLE + "/index/gsi1", ["X"])
    assert not decision.allowed
    assert "granted only on" in decision.reason


def test_leading_keys_condition_allows_matching_keys():
    assert _allowed("users", "dynamodb:PutItem", TABLE, ["AUDIT#2026-01"]).allowed
    assert _allowed("users", "dynamodb:PutItem", TABLE, ["AUDIT#1", "USER#2"]).allowed


def test_leading_keys_condition_denies_other_keys():
    decision = _allowed("users", "dynamodb:PutItem", TABLE, ["AUDIT#1", "ORG#2"])
    assert not decision.allowed
    assert "condition" in decision.reason


def test_for_all_values_holds_without_the_key():
    # IAM's rule: ForAllValues over an absent key is true (a Scan has no leading keys),
    # which is why such a grant must not name an action that reads without a key.
    assert _allowed("users", "dynamodb:PutItem", TABLE, None).allowed


def test_a_wildcard_resource_matches_by_glob():
    assert _allowed("users", "s3:GetObject", BUCKET + "/uploads/a/b.txt").allowed
    assert not _allowed("users", "s3:GetObject", BUCKET + "/other/b.txt").allowed
    assert not _allowed("users", "s3:GetObject", BUCKET + "/uploads").allowed


def test_sub_resolves_to_the_local_websocket_api_and_stage():
    arn = "arn:aws:execute-api:us-east-1:123456789012:local-ws-api/local/POST/@connections/x="
    assert _allowed("users", "execute-api:ManageConnections", arn).allowed
    assert not _allowed("users", "execute-api:ManageConnections",
                        arn.replace("/POST/", "/DELETE/")).allowed


def test_kms_keys_are_found_by_their_local_alias():
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd"
    line = {"caller": "users", "action": "kms:Encrypt", "resources": [key],
            "kms_aliases": ["alias/aloft-local-tenant-credentials-key"]}
    assert _allowed("users", "kms:Encrypt", key, lines=[line]).allowed
    assert not _allowed("users", "kms:Encrypt", key).allowed


def test_deny_wins_over_allow():
    decision = _allowed("jobs-worker", "dynamodb:GetItem", TABLE, ["X"])
    assert not decision.allowed and "explicitly denied" in decision.reason


def test_sqs_event_source_adds_the_poller_policy():
    queue = "arn:aws:sqs:us-east-1:123456789012:aloft-local-jobs-queue"
    assert _allowed("jobs-worker", "sqs:DeleteMessage", queue).allowed
    assert not _allowed("users", "sqs:DeleteMessage", queue).allowed


def test_unsupported_condition_operators_fail_loudly():
    with pytest.raises(check.UnsupportedPolicy):
        check.condition_holds({"NumericLessThan": {"dynamodb:LeadingKeys": "1"}}, {})
    with pytest.raises(check.UnsupportedPolicy):
        check.condition_holds({"StringEquals": {"aws:SourceIp": "1"}}, {})


def test_single_valued_operators_on_several_keys_fail_loudly():
    condition = {"StringLike": {"dynamodb:LeadingKeys": "A*"}}
    assert check.condition_holds(condition, {"dynamodb:leadingkeys": ["AB"]})
    assert not check.condition_holds(condition, {"dynamodb:leadingkeys": None})
    with pytest.raises(check.UnsupportedPolicy):
        check.condition_holds(condition, {"dynamodb:leadingkeys": ["AB", "AC"]})


# --- The command ---------------------------------------------------------------------


def test_the_command_fails_on_a_denied_call_and_names_it(tmp_path, capsys):
    lines = [
        {"caller": "local", "action": "dynamodb:CreateTable", "resources": [TABLE]},
        {"caller": "users", "action": "dynamodb:GetItem", "resources": [TABLE],
         "leading_keys": ["USER#1"]},
        {"caller": "users", "action": "dynamodb:PutItem", "resources": [TABLE],
         "leading_keys": ["ORG#1"]},
        {"caller": "users", "action": "dynamodb:PutItem", "resources": [TABLE],
         "leading_keys": ["ORG#2"]},
        {"caller": "stranger", "action": "dynamodb:GetItem", "resources": [TABLE]},
    ]
    assert _run(lines, tmp_path) == 1
    out = capsys.readouterr().out
    assert f"DENIED users dynamodb:PutItem {TABLE} [ORG#1, ORG#2] ×2" in out
    assert "5 calls recorded, 3 by functions (1 local, 0 unsigned, 1 unknown callers" in out


def test_the_command_passes_and_reports_unused_grants(tmp_path, capsys):
    lines = [
        {"caller": "users", "action": "dynamodb:GetItem", "resources": [TABLE],
         "leading_keys": ["USER#1"]},
        {"caller": "jobs-worker", "action": "ses:SendEmail", "match": "any", "resources": [
            "arn:aws:ses:us-east-1:123456789012:identity/a@b.example",
            "arn:aws:ses:us-east-1:123456789012:identity/b.example"]},
    ]
    report = tmp_path / "unused.md"
    assert _run(lines, tmp_path, "--report", str(report)) == 0
    out = capsys.readouterr().out
    assert f"unused UsersFunctionRolePolicy0[0] dynamodb:UpdateItem {TABLE}" in out
    assert f"unused UsersFunctionRolePolicy0[0] dynamodb:GetItem {TABLE}" not in out
    assert "wildcard WorkerFunctionRolePolicy0[0] ses:SendEmail * used by: ses:SendEmail " \
           "arn:aws:ses:us-east-1:123456789012:identity/a@b.example | " in out
    markdown = report.read_text()
    assert "## users (UsersFunction)" in markdown
    assert f"| UsersFunctionRolePolicy0[0] | `dynamodb:UpdateItem` | `{TABLE}` |  |" in markdown
    # AWS-managed policies are not ours to tighten.
    assert "AWSLambdaSQSQueueExecutionRole" not in markdown


def test_an_empty_log_is_an_error(tmp_path):
    assert _run([{"caller": "local", "action": "s3:CreateBucket", "resources": [BUCKET]}],
                tmp_path) == 2


def test_unreadable_lines_fail(tmp_path, capsys):
    lines = [{"caller": "users", "action": "dynamodb:Query", "resources": [TABLE],
              "leading_keys": None, "error": "no partition-key value"}]
    assert _run(lines, tmp_path) == 1
    assert "UNREADABLE users dynamodb:Query: no partition-key value" in capsys.readouterr().out


# --- The project's template ---------------------------------------------------------


def test_the_project_template_expands_and_resolves():
    template = check.load_template(ROOT / "template.yaml")
    local = check.Local()
    roles = check.expand_builtin(template)
    resolver = check.Resolver(template, local)
    binaries = {role.binary for role in roles.values()}
    assert {"users", "jobs-worker", "realtime", "ai-stream"} <= binaries
    for role in roles.values():
        assert check.statements(role.binary, role, resolver)


def test_the_builtin_expansion_agrees_with_sam():
    pytest.importorskip("samtranslator")
    template = check.load_template(ROOT / "template.yaml")
    local = check.Local()
    ours = check.expand_builtin(template)
    sams = check.expand_translator(template, local)
    assert set(ours) == set(sams)
    resolver = check.Resolver(template, local)
    for logical_id, role in ours.items():
        theirs = sams[logical_id]
        assert role.role == theirs.role
        assert sorted(map(str, resolver.resolve(role.managed))) == sorted(
            map(str, resolver.resolve(theirs.managed))), logical_id
        assert resolver.resolve(role.policies) == resolver.resolve(theirs.policies), logical_id


# --- The call log, through a moto server in this process ----------------------------


@pytest.fixture(scope="module")
def emulator():
    boto3 = pytest.importorskip("boto3")
    import aws_call_log
    from moto.server import ThreadedMotoServer

    log = Path(tempfile.mkdtemp()) / "calls.jsonl"
    aws_call_log.install(str(log))
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()

    def client(service, key):
        from botocore.config import Config

        return boto3.client(service, endpoint_url=f"http://{host}:{port}",
                            region_name="us-east-1", aws_access_key_id=key,
                            aws_secret_access_key="x",
                            config=Config(signature_version="s3v4",
                                          s3={"addressing_style": "path"}))

    def logged():
        lines = [json.loads(text) for text in log.read_text().splitlines()]
        log.write_text("")
        return lines

    dynamodb = client("dynamodb", "local")
    dynamodb.create_table(
        TableName="aloft-local-app-table", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                              for a in ("pk", "sk", "gsi1pk", "gsi1sk")],
        GlobalSecondaryIndexes=[{
            "IndexName": "gsi1", "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"},
                          {"AttributeName": "gsi1sk", "KeyType": "RANGE"}]}])
    client("s3", "local").create_bucket(Bucket="aloft-local-files-bucket")
    logged()
    yield client, logged
    server.stop()


def test_dynamodb_calls_are_logged_per_authorised_unit(emulator):
    client, logged = emulator
    dynamodb = client("dynamodb", "users")
    dynamodb.put_item(TableName="aloft-local-app-table",
                      Item={"pk": {"S": "USER#1"}, "sk": {"S": "PROFILE"}})
    dynamodb.query(TableName="aloft-local-app-table",
                   KeyConditionExpression="#pk = :pk AND #sk BETWEEN :a AND :b",
                   ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
                   ExpressionAttributeValues={":pk": {"S": "AUDIT#2026-01"},
                                              ":a": {"S": "a"}, ":b": {"S": "b"}})
    dynamodb.query(TableName="aloft-local-app-table", IndexName="gsi1",
                   KeyConditionExpression="gsi1pk = :o",
                   ExpressionAttributeValues={":o": {"S": "OWNER#1"}})
    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "aloft-local-app-table",
                 "Item": {"pk": {"S": "EXTID#i#s"}, "sk": {"S": "EXTID"}}}},
        {"ConditionCheck": {"TableName": "aloft-local-app-table",
                            "Key": {"pk": {"S": "USER#1"}, "sk": {"S": "PROFILE"}},
                            "ConditionExpression": "attribute_exists(pk)"}}])
    dynamodb.batch_write_item(RequestItems={"aloft-local-app-table": [
        {"DeleteRequest": {"Key": {"pk": {"S": "CONN#1"}, "sk": {"S": "CONN"}}}},
        {"PutRequest": {"Item": {"pk": {"S": "CHANNEL#x"}, "sk": {"S": "CONN#1"}}}}]})
    dynamodb.scan(TableName="aloft-local-app-table")
    assert logged() == [
        {"caller": "users", "action": "dynamodb:PutItem", "resources": [TABLE],
         "leading_keys": ["USER#1"]},
        {"caller": "users", "action": "dynamodb:Query", "resources": [TABLE],
         "leading_keys": ["AUDIT#2026-01"]},
        {"caller": "users", "action": "dynamodb:Query", "resources": [TABLE + "/index/gsi1"],
         "leading_keys": ["OWNER#1"]},
        {"caller": "users", "action": "dynamodb:PutItem", "resources": [TABLE],
         "leading_keys": ["EXTID#i#s"]},
        {"caller": "users", "action": "dynamodb:ConditionCheckItem", "resources": [TABLE],
         "leading_keys": ["USER#1"]},
        {"caller": "users", "action": "dynamodb:BatchWriteItem", "resources": [TABLE],
         "leading_keys": ["CHANNEL#x", "CONN#1"]},
        {"caller": "users", "action": "dynamodb:Scan", "resources": [TABLE]},
    ]


def test_s3_calls_and_presigned_urls_are_logged(emulator):
    import urllib.request

    client, logged = emulator
    s3 = client("s3", "files")
    s3.put_object(Bucket="aloft-local-files-bucket", Key="uploads/ä b.txt", Body=b"x")
    s3.head_object(Bucket="aloft-local-files-bucket", Key="uploads/ä b.txt")
    s3.head_bucket(Bucket="aloft-local-files-bucket")
    s3.delete_objects(Bucket="aloft-local-files-bucket",
                      Delete={"Objects": [{"Key": "uploads/1"}, {"Key": "uploads/2"}]})
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": "aloft-local-files-bucket", "Key": "uploads/ä b.txt"})
    assert urllib.request.urlopen(url).read() == b"x"  # noqa: S310 - the local emulator
    object_arn = BUCKET + "/uploads/ä b.txt"
    assert logged() == [
        {"caller": "files", "action": "s3:PutObject", "resources": [object_arn]},
        {"caller": "files", "action": "s3:GetObject", "resources": [object_arn]},
        {"caller": "files", "action": "s3:ListBucket", "resources": [BUCKET]},
        {"caller": "files", "action": "s3:DeleteObject", "resources": [BUCKET + "/uploads/1"]},
        {"caller": "files", "action": "s3:DeleteObject", "resources": [BUCKET + "/uploads/2"]},
        {"caller": "files", "action": "s3:GetObject", "resources": [object_arn]},
    ]


def test_sqs_ses_kms_and_ssm_calls_are_logged(emulator):
    client, logged = emulator
    queue = client("sqs", "local").create_queue(QueueName="aloft-local-jobs-queue")["QueueUrl"]
    client("sesv2", "local").create_email_identity(EmailIdentity="no-reply@aloft.local")
    kms = client("kms", "local")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/aloft-local-tenant-credentials-key", TargetKeyId=key_id)
    logged()

    client("sqs", "jobs-worker").send_message_batch(
        QueueUrl=queue, Entries=[{"Id": "1", "MessageBody": "x"}])
    client("sesv2", "jobs-worker").send_email(
        FromEmailAddress="Aloft <no-reply@aloft.local>",
        Destination={"ToAddresses": ["a@example.com"]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}})
    blob = client("kms", "users").encrypt(
        KeyId="alias/aloft-local-tenant-credentials-key", Plaintext=b"k")["CiphertextBlob"]
    client("kms", "ai").decrypt(CiphertextBlob=blob)
    with pytest.raises(Exception):  # noqa: B017 - no such parameter; the call is logged
        client("ssm", "health").get_parameter(Name="/aloft/local/JWT_SECRET")
    key_arn = f"arn:aws:kms:us-east-1:123456789012:key/{key_id}"
    aliases = ["alias/aloft-local-tenant-credentials-key"]
    assert logged() == [
        {"caller": "jobs-worker", "action": "sqs:SendMessage",
         "resources": ["arn:aws:sqs:us-east-1:123456789012:aloft-local-jobs-queue"]},
        {"caller": "jobs-worker", "action": "ses:SendEmail", "match": "any", "resources": [
            "arn:aws:ses:us-east-1:123456789012:identity/no-reply@aloft.local",
            "arn:aws:ses:us-east-1:123456789012:identity/aloft.local"]},
        {"caller": "users", "action": "kms:Encrypt", "resources": [key_arn],
         "kms_aliases": aliases},
        {"caller": "ai", "action": "kms:Decrypt", "resources": [key_arn],
         "kms_aliases": aliases},
        {"caller": "health", "action": "ssm:GetParameter",
         "resources": ["arn:aws:ssm:us-east-1:123456789012:parameter/aloft/local/JWT_SECRET"]},
    ]
