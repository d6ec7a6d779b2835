"""PolicyClient against a real OPA that authenticates and authorises every
request (``--authentication=token --authorization=basic``, policies/system/authz)."""

import hashlib
import secrets
from collections.abc import Iterator

import pytest
import requests

from hub.enforcer.decisions import Decider
from hub.enforcer.policy import PolicyClient, PolicyRefused, PolicyUnavailable
from tests.fixtures.services import free_port
from tests.hub.enforcer import helpers

REFUSED = {401}  # OPA answers 401 "unauthorized" to whatever system.authz denies
SHARE = "/v1/data/svd/share/decisions"
INPUT = helpers.DECISION_INPUT


def test_rejects_a_url_that_is_not_http() -> None:
    with pytest.raises(ValueError, match="http://host:port"):
        PolicyClient("opa.example:8181")


def test_unreachable_opa_is_policy_unavailable() -> None:
    """Fail closed: no answer is no decision (nothing listens on a free port)."""
    with (
        PolicyClient(f"http://127.0.0.1:{free_port()}", timeout=1) as policy,
        pytest.raises(PolicyUnavailable, match="OPA at"),
    ):
        policy.evaluate("svd.health", "allow", {"probe": "svdhub"})


def test_undefined_rule_is_policy_unavailable(opa_url: str, opa_ops_token: str) -> None:
    with (
        PolicyClient(opa_url, opa_ops_token) as policy,
        pytest.raises(PolicyUnavailable, match="undefined"),
    ):
        policy.evaluate("svd.health", "no_such_rule", {})


# ------------------------------------------------------------ OPA's own API


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_query_without_a_token_is_refused(opa_url: str, http: requests.Session) -> None:
    reply = http.post(opa_url + SHARE, json={"input": INPUT}, timeout=5)
    assert reply.status_code in REFUSED
    assert reply.json()["code"] == "unauthorized"
    assert "result" not in reply.json()
    assert http.get(opa_url + "/health", timeout=5).status_code in REFUSED


def test_the_enforcers_token_may_query_the_share_policy(
    opa_url: str, opa_token: str, http: requests.Session
) -> None:
    reply = http.post(opa_url + SHARE, json={"input": INPUT}, headers=bearer(opa_token), timeout=5)
    assert reply.status_code == 200
    assert reply.json()["result"]["wmp-vrp/vrp"]["allow"] is True


def test_another_token_is_refused_everything(
    opa_url: str, opa_token: str, http: requests.Session
) -> None:
    """A connector's (or anyone's) token, a prefix of the enforcer's, and the
    SHA-256 that OPA holds in place of the enforcer's are all refused."""
    for token in (
        secrets.token_urlsafe(32),
        "connector-wmp",
        opa_token[:-1],
        hashlib.sha256(opa_token.encode()).hexdigest(),
    ):
        for method, path in (("POST", SHARE), ("GET", "/health"), ("GET", "/v1/policies")):
            reply = http.request(
                method, opa_url + path, json={"input": INPUT}, headers=bearer(token), timeout=5
            )
            assert reply.status_code in REFUSED, (method, path, reply.status_code)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/data/x"),
        ("PUT", "/v1/data/svd/share/decisions"),
        ("PATCH", "/v1/data/svd/agreements"),
        ("DELETE", "/v1/data/svd"),
        ("PUT", "/v1/policies/x"),
        ("DELETE", "/v1/policies/svd/share/share.rego"),
        ("GET", "/v1/policies"),
        ("GET", "/v1/data/system/identities"),
        ("POST", "/v1/data"),
        ("POST", "/v1/query"),
        ("POST", "/v1/compile"),
        ("GET", "/v1/config"),
        ("GET", "/v1/status"),
    ],
)
def test_the_enforcers_token_may_not_write_or_read_anything_else(
    *,
    opa_url: str,
    opa_token: str,
    opa_ops_token: str,
    http: requests.Session,
    method: str,
    path: str,
) -> None:
    for token in (opa_token, opa_ops_token):
        body = (
            "package x\n\nallow := true\n"
            if path.startswith("/v1/policies")
            else '{"input": {}, "value": 1}'
        )
        reply = http.request(method, opa_url + path, data=body, headers=bearer(token), timeout=5)
        assert reply.status_code in REFUSED, (token is opa_token, reply.status_code, reply.text)
    # Nothing was written: the enforcer's rules answer as before, and no x appeared.
    with PolicyClient(opa_url, opa_token) as policy:
        assert policy.evaluate("svd.share", "decisions", INPUT)["wmp-vrp/vrp"]["allow"] is True


def test_the_ops_token_reads_health_and_the_revision_only(
    opa_url: str, opa_token: str, opa_ops_token: str, http: requests.Session
) -> None:
    ops = bearer(opa_ops_token)
    assert http.get(opa_url + "/health?bundles", headers=ops, timeout=5).status_code == 200
    revision = http.get(opa_url + "/v1/data/svd/meta/revision", headers=ops, timeout=5)
    assert revision.status_code == 200
    with PolicyClient(opa_url, opa_token) as policy:
        assert revision.json()["result"] == Decider(policy).check_revision()
    reply = http.post(opa_url + SHARE, json={"input": INPUT}, headers=ops, timeout=5)
    assert reply.status_code in REFUSED


def test_a_refused_token_fails_closed_and_says_so(opa_url: str, opa_ops_token: str) -> None:
    """A refusal is no decision (PolicyUnavailable), never a deny, and the
    error names the cause."""
    with PolicyClient(opa_url, "not-the-enforcers-token") as wrong:
        decider = Decider(wrong)
        with pytest.raises(PolicyRefused, match=r"OPA refused the enforcer's token: HTTP 401"):
            decider.decide(INPUT)
        assert decider.cached(INPUT) is None  # nothing was cached
    with (
        PolicyClient(opa_url) as none,
        pytest.raises(PolicyUnavailable, match="OPA refused a request without a token"),
    ):
        none.evaluate("svd.share", "decisions", INPUT)
    # The ops token is refused the decisions too: it cannot stand in for the enforcer.
    with (
        PolicyClient(opa_url, opa_ops_token) as ops,
        pytest.raises(PolicyRefused, match=r"data\.svd\.share\.decisions"),
    ):
        ops.evaluate("svd.share", "decisions", INPUT)
