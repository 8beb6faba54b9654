"""Schemathesis hooks of the contract run: the run's own credentials.

The run signs in as the local stack's bootstrap superadmin (`root@example.com`, from
`BOOTSTRAP_SUPERADMIN_EMAILS`; registered on a fresh stack and verified through the link
in the local mailbox, reused after, as the end-to-end tests do), so admin routes answer as they do for an operator, and creates an
API key for it through the API. Operations that accept both schemes get the bearer token
and the API key in turn, so both ways in are exercised; an operation without `security`
gets no credentials. Access tokens are renewed before they expire.
"""

from __future__ import annotations

import ast
import itertools
import os
import re
import threading
import time
from typing import NamedTuple

import requests
import schemathesis

API_URL = os.environ.get("ALOFT_API_URL", "http://127.0.0.1:9000").rstrip("/")
# The local stack's bootstrap superadmin, as the end-to-end tests and run.sh know it.
EMAIL = "root@example.com"
PASSWORD = "correct horse"
# Longer than the API front's 60 s wait for a function.
TIMEOUT = 90


class Credentials(NamedTuple):
    bearer: str
    api_key: str


def _post(path: str, **kwargs) -> requests.Response:
    return requests.post(f"{API_URL}/api/v1{path}", timeout=TIMEOUT, **kwargs)


def _expect(response: requests.Response, *statuses: int) -> requests.Response:
    if response.status_code not in statuses:
        raise RuntimeError(
            f"contract setup: {response.request.method} {response.request.path_url} answered "
            f"{response.status_code}, expected {statuses}: {response.text[:300]}"
        )
    return response


def _sign_in() -> str:
    credentials = {"email": EMAIL, "password": PASSWORD}
    # 409: already registered by an earlier run or the end-to-end tests on this stack.
    _expect(_post("/public/auth/register", json=credentials), 201, 409)
    login = _expect(_post("/public/auth/login", json=credentials), 200)
    token = login.json()["access_token"]
    if not _verified(token):
        _verify()
        # The bootstrap role is granted on verification; a new token carries it.
        login = _expect(_post("/public/auth/login", json=credentials), 200)
        token = login.json()["access_token"]
    return token


def _verified(token: str) -> bool:
    me = requests.get(
        f"{API_URL}/api/v1/app/users/me",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    return bool(_expect(me, 200).json().get("is_verified"))


def _verify() -> None:
    """Verifies the superadmin's address with a link from the local mailbox (where the
    functions' mail to the emulator's SES lands), as its operator would."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        mail = requests.get(f"{API_URL}/_local/mail", params={"to": EMAIL}, timeout=TIMEOUT)
        for message in _expect(mail, 200).json()["items"]:
            found = re.search(r"/verify-email\?token=([A-Za-z0-9_-]+)", message["text"])
            if found and _post("/public/auth/verify-email", json={"token": found[1]}).ok:
                return
        time.sleep(0.5)
    raise RuntimeError(f"contract setup: no verification link for {EMAIL} arrived")


class _KeyChain:
    """The API key is made once per run; the bearer token whenever schemathesis asks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._api_key: str | None = None

    def credentials(self) -> Credentials:
        bearer = _sign_in()
        with self._lock:
            if self._api_key is None:
                created = _post(
                    "/app/api-keys",
                    json={"name": "contract run", "scopes": ["read", "write", "admin"]},
                    headers={"Authorization": f"Bearer {bearer}"},
                )
                self._api_key = _expect(created, 201).json()["secret"]
            return Credentials(bearer=bearer, api_key=self._api_key)


# CPython 3.11's `ast.parse` is not safe in two threads at once ("AST constructor recursion
# depth mismatch", python/cpython#106905): hypothesis parses lambda sources while the two
# workers generate cases, and one run in a few fails on it. One parse at a time.
_parse = ast.parse
_parsing = threading.Lock()


def _parse_alone(*args, **kwargs):
    with _parsing:
        return _parse(*args, **kwargs)


ast.parse = _parse_alone

_KEYS = _KeyChain()
_TURN = itertools.count()


def _schemes(case) -> set[str]:
    requirements = case.operation.definition.raw.get("security") or []
    return {name for requirement in requirements for name in requirement}


# 600 s: well inside the 15-minute access token. No refetch on 401: wrong or missing
# credentials are part of what the run sends on purpose.
@schemathesis.auth(refresh_interval=600, retry_on=[])
class AloftAuth:
    def get(self, case, context) -> Credentials:
        return _KEYS.credentials()

    def set(self, case, data: Credentials, context) -> None:
        schemes = _schemes(case)
        if not schemes:
            return
        use_key = "ApiKey" in schemes and ("BearerJWT" not in schemes or next(_TURN) % 2 == 1)
        case.headers = case.headers or {}
        if use_key:
            case.headers.pop("Authorization", None)
            case.headers["X-API-Key"] = data.api_key
        else:
            case.headers.pop("X-API-Key", None)
            case.headers["Authorization"] = f"Bearer {data.bearer}"
