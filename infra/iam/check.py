#!/usr/bin/env python3
"""IAM proven by the tests' own calls.

Reads the emulator's call log (`ALOFT_AWS_CALL_LOG`, written by infra/local's
`aws_call_log.py`, and by the WebSocket gateway for execute-api), expands template.yaml's
functions into the IAM roles SAM makes for them, and evaluates every call a function made
against its role as IAM would:

- a call no Allow statement permits, or a Deny refuses, is printed as
  `DENIED <function> <action> <resource> [leading keys]` (grouped, with a count and
  the reason), and the exit status is 1;
- for each function, the granted (statement, action, resource) units that no recorded
  call used are listed (and written as markdown with `--report`); a wildcard grant that
  was used says which concrete calls used it.

    .venv/bin/python infra/iam/check.py --template template.yaml \\
        --calls .local/aws-calls.jsonl [--report docs/iam-unused.md]

Local names. Policies are resolved to the ARNs of the local stack, which names each
template resource `<prefix>-<logical id in kebab case>` (shared/provision's
`resource_name`: AppTable → `aloft-local-app-table`), in us-east-1, account
123456789012 (moto's), partition `aws`, with `${Stage}` = `local`. Two exceptions:
- the WebSocket API's id (`${WebSocketApi}`) is `local-ws-api`: the local gateway logs
  its @connections calls as
  `arn:aws:execute-api:us-east-1:123456789012:local-ws-api/local/<METHOD>/@connections/<id>`;
- a KMS key's id is random locally (the bootstrap names it by its alias
  `alias/<prefix>-<kebab id>`): it is taken from the log, whose KMS lines carry the key's
  aliases (`kms_aliases`).

Expansion. With aws-sam-translator importable, the template goes through SAM's own
translator. Without it (the project's venv does not install it: cfn-lint 1.x no longer
depends on it), a built-in expansion does what SAM does for the features this template
uses — a role `<Function>Role` with the inline `Policies` as `<Function>RolePolicy<i>`,
AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess with `Tracing: Active`,
AWSLambdaSQSQueueExecutionRole for SQS events — and stops with an error on any other
(SAM policy templates, DeadLetterQueue, EventInvokeConfig destinations, a permissions
boundary), rather than guess. `test_check.py` compares the two when the translator is
there.

Managed policies. The ones SAM attaches are evaluated with their (AWS-published)
documents, embedded below: Basic execution and X-Ray cover only CloudWatch Logs and X-Ray,
which no recorded call is, but the SQS execution role allows sqs:ReceiveMessage,
DeleteMessage and GetQueueAttributes on every queue, so it can allow a recorded call.
They are AWS's, not ours to tighten: the unused report leaves them out. Any other managed
policy is an error until its document is added here.

Not evaluated: resource policies (the bucket policy only denies plain HTTP, which the
local stack uses and AWS does not; the KMS key policy delegates to IAM) and SCPs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# --- The local stack ----------------------------------------------------------------


@dataclass
class Local:
    """Where and how the local stack names things (see the module docstring)."""

    prefix: str = "aloft-local"
    region: str = "us-east-1"
    account: str = "123456789012"
    partition: str = "aws"
    stage: str = "local"
    websocket_api_id: str = "local-ws-api"
    emulator: str = "http://127.0.0.1:5100"
    # Logical id → KMS key id, learned from the call log.
    kms_key_ids: dict[str, str] = field(default_factory=dict)

    def name(self, logical_id: str) -> str:
        """shared/provision's `resource_name`: `<prefix>-<logical id in kebab case>`."""
        return self.prefix + "".join(
            "-" + c.lower() if c.isupper() else c for c in logical_id
        )


# --- Template loading ----------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (`!Sub`, `!GetAtt`, ...)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


# --- Expansion (what SAM makes of each function's permissions) ------------------------

BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
SQS_POLLER = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"

# AWS's documents of the managed policies SAM attaches (see the module docstring).
MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    BASIC: {"Statement": [{"Effect": "Allow", "Action": [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "*"}]},
    XRAY: {"Statement": [{"Effect": "Allow", "Action": [
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
        "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"],
        "Resource": ["*"]}]},
    SQS_POLLER: {"Statement": [{"Effect": "Allow", "Action": [
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "*"}]},
}

# SAM's managed policy per event source type.
_EVENT_POLICIES = {
    "SQS": SQS_POLLER,
    "Kinesis": "arn:aws:iam::aws:policy/service-role/AWSLambdaKinesisExecutionRole",
    "DynamoDB": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
}
# Event types that add nothing to the function's role.
_EVENTS_WITHOUT_POLICY = {"Api", "HttpApi", "Schedule", "ScheduleV2", "CloudWatchEvent",
                          "EventBridgeRule", "S3", "SNS", "IoTRule", "CloudWatchLogs",
                          "AlexaSkill", "Cognito"}


class ExpansionError(Exception):
    pass


@dataclass
class Role:
    """A function's permissions: its inline policies and managed policy ARNs, still
    with intrinsics."""

    function: str  # logical id
    binary: str
    role: str  # logical id of the role
    policies: list[Any]  # [{"PolicyName", "PolicyDocument"}] (or an Fn::If of one)
    managed: list[Any]


def _globals_merged(template: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals, merged into each function as SAM merges them (maps merged key by
    key, lists concatenated, the function's own value winning otherwise)."""
    template = copy.deepcopy(template)
    defaults = template.get("Globals", {}).get("Function", {})

    def merge(base: Any, own: Any) -> Any:
        if isinstance(base, dict) and isinstance(own, dict):
            if any(k == "Ref" or k.startswith("Fn::") for k in list(base) + list(own)):
                return own
            merged = dict(base)
            for k, v in own.items():
                merged[k] = merge(merged[k], v) if k in merged else v
            return merged
        if isinstance(base, list) and isinstance(own, list):
            return base + own
        return own

    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"] = merge(defaults, resource.get("Properties", {}))
    return template


def _functions(template: dict[str, Any]) -> dict[str, str]:
    """Logical id → binary name (`Metadata.BuildProperties.Binary`)."""
    found = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise ExpansionError(f"{logical_id}: no Metadata.BuildProperties.Binary")
            found[logical_id] = binary
    return found


def expand_builtin(template: dict[str, Any]) -> dict[str, Role]:
    """What SAM generates for each function's role, for the features this template uses
    (an error for any other)."""
    template = _globals_merged(template)
    roles = {}
    for logical_id, binary in _functions(template).items():
        props = template["Resources"][logical_id].get("Properties", {})
        if "Role" in props:
            roles[logical_id] = _explicit_role(template, logical_id, binary, props["Role"])
            continue
        for unsupported in ("PermissionsBoundary", "DeadLetterQueue", "EventInvokeConfig",
                            "VpcConfig", "AutoPublishCodeSha256", "DeploymentPreference"):
            if unsupported in props:
                raise ExpansionError(
                    f"{logical_id}: {unsupported} changes SAM's role; the built-in "
                    "expansion does not model it: install aws-sam-translator")
        managed: list[Any] = [BASIC]
        if props.get("Tracing") == "Active":
            managed.append(XRAY)
        policies = []
        raw = props.get("Policies", [])
        for index, policy in enumerate(raw if isinstance(raw, list) else [raw]):
            if isinstance(policy, str):
                managed.append(policy if policy.startswith("arn:")
                               else f"arn:aws:iam::aws:policy/{policy}")
            elif isinstance(policy, dict) and "Statement" in policy:
                policies.append({"PolicyName": f"{logical_id}RolePolicy{index}",
                                 "PolicyDocument": policy})
            elif isinstance(policy, dict) and ("Ref" in policy or "Fn::GetAtt" in policy):
                managed.append(policy)
            else:
                raise ExpansionError(
                    f"{logical_id}: policy {index} ({next(iter(policy), policy)}) is a SAM "
                    "policy template or an intrinsic the built-in expansion does not "
                    "model: install aws-sam-translator")
        for name, event in props.get("Events", {}).items():
            kind = event.get("Type")
            if kind in _EVENT_POLICIES:
                if _EVENT_POLICIES[kind] not in managed:
                    managed.append(_EVENT_POLICIES[kind])
            elif kind not in _EVENTS_WITHOUT_POLICY:
                raise ExpansionError(f"{logical_id}: event {name} of type {kind} is not "
                                     "modelled: install aws-sam-translator")
        roles[logical_id] = Role(logical_id, binary, f"{logical_id}Role", policies, managed)
    _attach_policy_resources(template, roles)
    return roles


def _explicit_role(template, logical_id, binary, reference) -> Role:
    """A function's own `Role:`: an AWS::IAM::Role of the template."""
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        role_id = reference["Fn::GetAtt"][0]
    elif isinstance(reference, dict) and "Ref" in reference:
        role_id = reference["Ref"]
    else:
        raise ExpansionError(f"{logical_id}: Role {reference!r} is not a role of the template")
    resource = template["Resources"].get(role_id, {})
    if resource.get("Type") != "AWS::IAM::Role":
        raise ExpansionError(f"{logical_id}: Role {role_id} is not an AWS::IAM::Role")
    props = resource.get("Properties", {})
    if "PermissionsBoundary" in props:
        raise ExpansionError(f"{role_id}: permissions boundaries are not evaluated")
    return Role(logical_id, binary, role_id, list(props.get("Policies", [])),
                list(props.get("ManagedPolicyArns", [])))


def _attach_policy_resources(template: dict[str, Any], roles: dict[str, Role]) -> None:
    """AWS::IAM::Policy / ManagedPolicy resources attached to a function's role."""
    by_role = {role.role: role for role in roles.values()}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        props = resource.get("Properties", {})
        for reference in props.get("Roles", []):
            role_id = reference.get("Ref") if isinstance(reference, dict) else None
            if role_id in by_role:
                by_role[role_id].policies.append(
                    {"PolicyName": props.get("PolicyName", logical_id),
                     "PolicyDocument": props["PolicyDocument"]})


def expand_translator(template: dict[str, Any], local: Local) -> dict[str, Role]:
    """SAM's own translation (aws-sam-translator), then each function's generated role."""
    os.environ.setdefault("AWS_DEFAULT_REGION", local.region)
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    functions = _functions(template)
    for logical_id in functions:
        # SAM wants an S3 location; `sam build` puts the local `CodeUri: .` there.
        template["Resources"][logical_id].setdefault("Properties", {})["CodeUri"] = (
            "s3://local-build/code.zip")
    translated = Translator(managed_policy_map={}, sam_parser=Parser()).translate(
        sam_template=template, parameter_values={})
    resources = translated["Resources"]
    roles = {}
    for logical_id, binary in functions.items():
        role_ref = resources[logical_id]["Properties"]["Role"]
        role_id = role_ref["Fn::GetAtt"][0] if "Fn::GetAtt" in role_ref else role_ref.get("Ref")
        props = resources[role_id]["Properties"]
        if "PermissionsBoundary" in props:
            raise ExpansionError(f"{role_id}: permissions boundaries are not evaluated")
        roles[logical_id] = Role(logical_id, binary, role_id, list(props.get("Policies", [])),
                                 list(props.get("ManagedPolicyArns", [])))
    _attach_policy_resources(translated, roles)
    return roles


def expand(template: dict[str, Any], local: Local,
           how: str = "auto") -> tuple[dict[str, Role], str]:
    if how in ("auto", "translator"):
        try:
            import samtranslator  # noqa: F401
        except ImportError:
            if how == "translator":
                raise
        else:
            return expand_translator(template, local), "aws-sam-translator"
    return expand_builtin(template), "built-in expansion"


# --- Intrinsic functions, resolved to the local stack ---------------------------------


class ResolveError(Exception):
    pass


_NO_VALUE = object()


class Resolver:
    def __init__(self, template: dict[str, Any], local: Local,
                 parameters: dict[str, str] | None = None):
        self.template = template
        self.local = local
        self.resources = template.get("Resources", {})
        self.parameters: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            value = (parameters or {}).get(name, spec.get("Default"))
            if name == "Stage" and name not in (parameters or {}):
                value = local.stage
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [v.strip() for v in value.split(",")]
            self.parameters[name] = value
        self._conditions: dict[str, bool] = {}

    # Conditions, evaluated once for these parameter values.
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise ResolveError(f"no condition {name}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self.function(key[4:], arg)
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def function(self, name: str, arg: Any) -> Any:
        if name == "If":
            condition, yes, no = arg
            return self.resolve(yes if self.condition(condition) else no)
        if name == "Equals":
            a, b = (self.resolve(v) for v in arg)
            return str(a) == str(b)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(v) for v in arg)
        if name == "Or":
            return any(self.resolve(v) for v in arg)
        if name == "Join":
            separator, items = arg
            return separator.join(str(v) for v in self.resolve(items))
        if name == "Select":
            index, items = self.resolve(arg)
            return items[int(index)]
        if name == "Split":
            separator, text = self.resolve(arg)
            return text.split(separator)
        if name == "GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(logical_id, self.resolve(attribute))
        if name == "Sub":
            return self.sub(arg)
        if name == "FindInMap":
            mapping, top, second = self.resolve(arg)
            return self.template["Mappings"][mapping][top][second]
        raise ResolveError(f"Fn::{name} is not resolved for the local stack")

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(variables[inner])
            if "." in inner and not inner.startswith("AWS::"):
                logical_id, attribute = inner.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            value = self.ref(inner)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def ref(self, name: str) -> Any:
        local = self.local
        pseudo = {
            "AWS::Region": local.region, "AWS::AccountId": local.account,
            "AWS::Partition": local.partition, "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": local.prefix, "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resources.get(name, {}).get("Type")
        if kind == "AWS::DynamoDB::Table" or kind == "AWS::S3::Bucket":
            return local.name(name)
        if kind == "AWS::SQS::Queue":
            return f"{local.emulator}/{local.account}/{local.name(name)}"
        if kind == "AWS::KMS::Key":
            return self.kms_key_id(name)
        if kind == "AWS::ApiGatewayV2::Api":
            return local.websocket_api_id
        raise ResolveError(f"Ref {name} ({kind}): no local physical id; teach check.py")

    def get_att(self, logical_id: str, attribute: str) -> str:
        local = self.local
        kind = self.resources.get(logical_id, {}).get("Type")
        name = local.name(logical_id)
        arn_base = f"arn:{local.partition}"
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"{arn_base}:dynamodb:{local.region}:{local.account}:table/{name}"
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"{arn_base}:s3:::{name}"
        if kind == "AWS::SQS::Queue":
            if attribute == "Arn":
                return f"{arn_base}:sqs:{local.region}:{local.account}:{name}"
            if attribute == "QueueName":
                return name
            if attribute == "QueueUrl":
                return self.ref(logical_id)
        if kind == "AWS::KMS::Key":
            if attribute == "Arn":
                return (f"{arn_base}:kms:{local.region}:{local.account}:key/"
                        f"{self.kms_key_id(logical_id)}")
            if attribute == "KeyId":
                return self.kms_key_id(logical_id)
        raise ResolveError(f"GetAtt {logical_id}.{attribute} ({kind}): no local value; "
                           "teach check.py")

    def kms_key_id(self, logical_id: str) -> str:
        # Not in the log: no local call used the key, and nothing can match it.
        return self.local.kms_key_ids.get(logical_id, f"<{logical_id}: no call in the log>")


def learn_kms_keys(template: dict[str, Any], local: Local, lines: list[dict[str, Any]]) -> None:
    """The local key id of each template KMS key, from the log lines that name the key
    with its local alias."""
    aliases = {
        f"alias/{local.name(logical_id)}": logical_id
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::KMS::Key"
    }
    for line in lines:
        for alias in line.get("kms_aliases") or []:
            if alias in aliases and line.get("resources"):
                local.kms_key_ids[aliases[alias]] = line["resources"][0].rsplit("/", 1)[-1]


# --- IAM evaluation ------------------------------------------------------------------


class UnsupportedPolicy(Exception):
    """A policy element this checker does not evaluate: refuse rather than guess."""


# The condition keys a log line provides (absent from a call's context when the line
# has no value for them, as IAM's request context lacks them).
CONTEXT_KEYS = {"dynamodb:leadingkeys": "leading_keys"}

_STRING_OPERATORS = {
    "StringEquals": (lambda value, pattern: value == pattern, False),
    "StringNotEquals": (lambda value, pattern: value == pattern, True),
    "StringEqualsIgnoreCase": (lambda value, pattern: value.lower() == pattern.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda value, pattern: value.lower() == pattern.lower(), True),
    "StringLike": (lambda value, pattern: glob(pattern, value), False),
    "StringNotLike": (lambda value, pattern: glob(pattern, value), True),
}


def glob(pattern: str, text: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` any one; nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def condition_holds(condition: dict[str, Any], context: dict[str, list[str] | None]) -> bool:
    """A statement's Condition block: every operator, every key in it must hold."""
    for operator, keys in condition.items():
        qualifier, _, base = operator.rpartition(":")
        if_exists = base.endswith("IfExists")
        if if_exists:
            base = base[: -len("IfExists")]
        if base == "Null":
            for key, expected in keys.items():
                values = _context_value(key, context)
                if (values is None or values == []) != (str(expected).lower() == "true"):
                    return False
            continue
        if base not in _STRING_OPERATORS or qualifier not in ("", "ForAllValues", "ForAnyValue"):
            raise UnsupportedPolicy(f"condition operator {operator} is not evaluated")
        same, negated = _STRING_OPERATORS[base]
        for key, patterns in keys.items():
            patterns = [str(p) for p in _listed(patterns)]
            values = _context_value(key, context)

            def one(value: str) -> bool:
                hit = any(same(value, p) for p in patterns)
                return not hit if negated else hit

            if qualifier == "ForAllValues":
                # True for an absent or empty key: IAM's documented (and risky) rule.
                holds = all(one(v) for v in values or [])
            elif qualifier == "ForAnyValue":
                holds = any(one(v) for v in values or [])
            elif not values:
                # Absent: the negated operators and IfExists hold, the others do not.
                holds = negated or if_exists
            elif len(values) > 1:
                raise UnsupportedPolicy(
                    f"{operator} on the multivalued {key} ({len(values)} values): "
                    "use ForAllValues/ForAnyValue")
            else:
                holds = one(values[0])
            if not holds:
                return False
    return True


def _context_value(key: str, context: dict[str, list[str] | None]) -> list[str] | None:
    if key.lower() not in CONTEXT_KEYS:
        raise UnsupportedPolicy(f"condition key {key} is not in the call log")
    return context.get(key.lower())


@dataclass
class Statement:
    function: str
    policy: str  # policy name, or the managed policy ARN
    index: int
    effect: str
    actions: list[str] | None
    not_actions: list[str] | None
    resources: list[str] | None
    not_resources: list[str] | None
    condition: dict[str, Any]
    managed: bool

    @property
    def label(self) -> str:
        return f"{self.policy}[{self.index}]"

    def action_patterns(self, action: str) -> list[str]:
        """The Action entries that match `action` (or [NotAction] when it applies)."""
        if self.actions is not None:
            return [p for p in self.actions if glob(p, action, ignore_case=True)]
        if not any(glob(p, action, ignore_case=True) for p in self.not_actions or []):
            return [_not("NotAction", self.not_actions)]
        return []

    def resource_patterns(self, resource: str) -> list[str]:
        if self.resources is not None:
            return [p for p in self.resources if glob(p, resource)]
        if not any(glob(p, resource) for p in self.not_resources or []):
            return [_not("NotResource", self.not_resources)]
        return []

    def units(self) -> list[tuple[str, str]]:
        actions = (self.actions if self.actions is not None
                   else [_not("NotAction", self.not_actions)])
        resources = (self.resources if self.resources is not None
                     else [_not("NotResource", self.not_resources)])
        return [(a, r) for a in actions for r in resources]


def _not(kind: str, patterns: list[str] | None) -> str:
    return f"{kind} {','.join(patterns or [])}"


def statements(function: str, role: Role, resolver: Resolver) -> list[Statement]:
    """The role's statements, resolved to the local stack."""
    found = []
    documents = []
    for policy in resolver.resolve(role.policies):
        documents.append((policy["PolicyName"], policy["PolicyDocument"], False))
    for arn in resolver.resolve(role.managed):
        if arn not in MANAGED_POLICIES:
            raise UnsupportedPolicy(f"{function}: managed policy {arn} has no document here; "
                                    "add it to MANAGED_POLICIES")
        documents.append((arn.rsplit("/", 1)[-1], MANAGED_POLICIES[arn], True))
    for name, document, managed in documents:
        for index, statement in enumerate(_listed(document.get("Statement", []))):
            unknown = set(statement) - {"Sid", "Effect", "Action", "NotAction", "Resource",
                                        "NotResource", "Condition"}
            if unknown:
                raise UnsupportedPolicy(f"{function} {name}[{index}]: {sorted(unknown)}")
            texts = [json.dumps(statement.get(k)) for k in ("Resource", "NotResource")]
            if any("${" in t for t in texts):
                raise UnsupportedPolicy(f"{function} {name}[{index}]: policy variables "
                                        "are not evaluated")
            found.append(Statement(
                function=function, policy=name, index=index, effect=statement["Effect"],
                actions=_listed(statement["Action"]) if "Action" in statement else None,
                not_actions=_listed(statement["NotAction"]) if "NotAction" in statement else None,
                resources=_listed(statement["Resource"]) if "Resource" in statement else None,
                not_resources=(_listed(statement["NotResource"])
                               if "NotResource" in statement else None),
                condition=statement.get("Condition", {}), managed=managed))
    return found


@dataclass
class Decision:
    allowed: bool
    reason: str
    # (statement, action pattern, resource pattern) units that allowed the call.
    used: list[tuple[Statement, str, str]]


def decide(policy: list[Statement], action: str, resource: str,
           context: dict[str, list[str] | None]) -> Decision:
    """IAM's answer for one action on one resource: allowed iff an Allow matches and no
    Deny does."""
    used = []
    action_named = False
    resource_named: list[str] = []
    condition_failed: list[str] = []
    for statement in policy:
        actions = statement.action_patterns(action)
        if not actions:
            continue
        action_named = action_named or statement.effect == "Allow"
        resources = statement.resource_patterns(resource)
        if not resources:
            if statement.effect == "Allow":
                resource_named.extend(statement.resources or [])
            continue
        if not condition_holds(statement.condition, context):
            if statement.effect == "Allow":
                condition_failed.append(statement.label)
            continue
        if statement.effect == "Deny":
            return Decision(False, f"explicitly denied by {statement.label}", [])
        used.extend((statement, a, r) for a in actions for r in resources)
    if used:
        return Decision(True, "", used)
    if condition_failed:
        return Decision(False, "a condition does not hold ("
                        + ", ".join(condition_failed) + ")", [])
    if action_named:
        return Decision(False, "the action is granted only on "
                        + ", ".join(sorted(set(resource_named))), [])
    return Decision(False, "no statement grants the action", [])


# --- The run -------------------------------------------------------------------------


@dataclass
class Findings:
    total: int = 0
    by_functions: int = 0
    local: int = 0
    unsigned: int = 0
    unknown_callers: Counter = field(default_factory=Counter)
    functions_seen: set = field(default_factory=set)
    # (function, action, resource text, reason) → [count, set of leading-key samples]
    denied: dict = field(default_factory=dict)
    unreadable: Counter = field(default_factory=Counter)
    # function → {(statement label, action pattern, resource pattern): Counter of concrete calls}
    used: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(Counter)))


def read_calls(path: str) -> list[dict[str, Any]]:
    lines = []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            text = text.strip()
            if text:
                try:
                    lines.append(json.loads(text))
                except json.JSONDecodeError as error:
                    # A torn line (a writer killed mid-write) is reported, not fatal.
                    lines.append({"caller": None, "action": "?", "resources": [],
                                  "error": f"line {number} is not JSON: {error}"})
    return lines


def evaluate(lines: list[dict[str, Any]], policies: dict[str, list[Statement]],
             binaries: dict[str, str]) -> Findings:
    """`policies` by binary; `binaries` binary → logical id."""
    findings = Findings(total=len(lines))
    for line in lines:
        caller = line.get("caller")
        if caller is None:
            findings.unsigned += 1
            continue
        if caller == "local":
            findings.local += 1
            continue
        if caller not in binaries:
            findings.unknown_callers[caller] += 1
            continue
        findings.by_functions += 1
        findings.functions_seen.add(caller)
        action, resources = line.get("action", "?"), line.get("resources") or ["*"]
        if line.get("error"):
            findings.unreadable[(caller, action, line["error"])] += 1
            continue
        context = {"dynamodb:leadingkeys": line.get("leading_keys")}
        decisions = [decide(policies[caller], action, r, context) for r in resources]
        if line.get("match") == "any":
            allowed = any(d.allowed for d in decisions)
        else:
            allowed = all(d.allowed for d in decisions)
        if allowed:
            # Alternatives (SES identities) are one call: shown together, counted once.
            shown = " | ".join(resources) if line.get("match") == "any" else None
            units = {}
            for resource, decision in zip(resources, decisions):
                for statement, a, r in decision.used:
                    units.setdefault((statement.label, a, r), shown or resource)
            for unit, resource in units.items():
                findings.used[caller][unit][(action, resource)] += 1
            continue
        refused = [(r, d) for r, d in zip(resources, decisions) if not d.allowed]
        if line.get("match") == "any":
            text = " | ".join(resources)
        else:
            text = " ".join(r for r, _ in refused)
        reason = "; ".join(sorted({d.reason for _, d in refused}))
        entry = findings.denied.setdefault((caller, action, text, reason), [0, set()])
        entry[0] += 1
        for key in line.get("leading_keys") or []:
            entry[1].add(key)
    return findings


def _samples(keys: set[str], limit: int = 3) -> str:
    if not keys:
        return ""
    shown = sorted(keys)[:limit]
    more = f" +{len(keys) - limit} more" if len(keys) > limit else ""
    return " [" + ", ".join(shown) + more + "]"


def _wildcard(text: str) -> bool:
    return "*" in text or "?" in text or text.startswith("Not")


def unused_report(policies: dict[str, list[Statement]], binaries: dict[str, str],
                  findings: Findings) -> dict[str, dict[str, list]]:
    """Per binary: its own (not AWS-managed) grant units no call used, and the concrete
    calls behind each used wildcard unit."""
    report = {}
    for binary, policy in policies.items():
        used = findings.used.get(binary, {})
        unused, wildcards = [], []
        for statement in policy:
            if statement.managed or statement.effect != "Allow":
                continue
            condition = (json.dumps(statement.condition, separators=(",", ":"))
                         if statement.condition else "")
            for action, resource in statement.units():
                calls = used.get((statement.label, action, resource))
                if not calls:
                    unused.append((statement.label, action, resource, condition))
                elif _wildcard(action) or _wildcard(resource):
                    wildcards.append((statement.label, action, resource, calls))
        report[binary] = {"unused": unused, "wildcards": wildcards}
    return report


def write_markdown(path: str, report: dict, binaries: dict[str, str], findings: Findings,
                   calls_path: str) -> None:
    out = [
        "# IAM grants no recorded call used",
        "",
        f"Written by `infra/iam/check.py` from `{calls_path}` ({findings.by_functions} calls "
        f"by {len(findings.functions_seen)} of {len(binaries)} functions). A grant is one "
        "(statement, action, resource) of a function's own policies in template.yaml; "
        "AWS-managed policies SAM attaches are left out. Unused here means unused by the "
        "tests that ran: a grant for a path no test takes is listed too.",
        "",
    ]
    for binary in sorted(report):
        entry = report[binary]
        seen = "" if binary in findings.functions_seen else " — no recorded call"
        out += [f"## {binary} ({binaries[binary]}){seen}", ""]
        if entry["unused"]:
            out += ["| Statement | Action | Resource | Condition |", "| --- | --- | --- | --- |"]
            for label, action, resource, condition in entry["unused"]:
                cell = f"`{condition}`" if condition else ""
                out.append(f"| {label} | `{action}` | `{resource}` | {cell} |")
        else:
            out.append("Every grant was used.")
        if entry["wildcards"]:
            out += ["", "Wildcard grants and the calls that used them:", ""]
            for label, action, resource, calls in entry["wildcards"]:
                uses = ", ".join(f"`{a} {r}` ×{n}" for (a, r), n in calls.most_common(5))
                more = f" (+{len(calls) - 5} more)" if len(calls) > 5 else ""
                out.append(f"- {label} `{action}` on `{resource}`: {uses}{more}")
        out.append("")
    Path(path).write_text("\n".join(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--calls", required=True, help="the call log (JSON lines)")
    parser.add_argument("--report", help="write the unused grants here, as markdown")
    parser.add_argument("--sam", choices=["auto", "translator", "builtin"], default="auto",
                        help="expand with aws-sam-translator (auto: when importable)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a template parameter (defaults otherwise; Stage is 'local')")
    parser.add_argument("--allow-empty", action="store_true",
                        help="succeed when no function call was recorded")
    args = parser.parse_args(argv)

    local = Local()
    template = load_template(args.template)
    lines = read_calls(args.calls)
    learn_kms_keys(template, local, lines)
    roles, how = expand(template, local, args.sam)
    resolver = Resolver(template, local, dict(p.split("=", 1) for p in args.param))
    binaries = {role.binary: logical_id for logical_id, role in roles.items()}
    policies = {role.binary: statements(role.binary, role, resolver) for role in roles.values()}
    findings = evaluate(lines, policies, binaries)

    for (binary, action, error), count in sorted(findings.unreadable.items()):
        print(f"UNREADABLE {binary} {action}: {error} (×{count})")
    for (binary, action, resource, reason), (count, keys) in sorted(findings.denied.items()):
        print(f"DENIED {binary} {action} {resource}{_samples(keys)} ×{count} — {reason}")

    report = unused_report(policies, binaries, findings)
    print()
    for binary in sorted(report):
        entry = report[binary]
        seen = "" if binary in findings.functions_seen else " (no recorded call)"
        print(f"{binary} ({binaries[binary]}){seen}: {len(entry['unused'])} unused grant(s)")
        for label, action, resource, condition in entry["unused"]:
            when = f" if {condition}" if condition else ""
            print(f"  unused {label} {action} {resource}{when}")
        for label, action, resource, calls in entry["wildcards"]:
            uses = ", ".join(f"{a} {r} ×{n}" for (a, r), n in calls.most_common(3))
            print(f"  wildcard {label} {action} {resource} used by: {uses}")
    if args.report:
        write_markdown(args.report, report, binaries, findings, args.calls)

    denied = sum(count for count, _ in findings.denied.values())
    unknown = sum(findings.unknown_callers.values())
    print()
    print(f"iam: {findings.total} calls recorded, {findings.by_functions} by functions "
          f"({findings.local} local, {findings.unsigned} unsigned, {unknown} unknown callers"
          + (f": {', '.join(sorted(findings.unknown_callers))}" if unknown else "")
          + f"), functions seen {len(findings.functions_seen)}/{len(binaries)}, "
          f"denied {denied} ({len(findings.denied)} distinct), "
          f"unreadable {sum(findings.unreadable.values())}; expanded with {how}")
    if findings.denied or findings.unreadable:
        return 1
    if findings.by_functions == 0 and not args.allow_empty:
        print("iam: no function call in the log: was the emulator started with "
              "ALOFT_AWS_CALL_LOG set, and do the functions sign with their own key ids?",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
