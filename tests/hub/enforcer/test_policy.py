import pytest

from hub.enforcer.policy import PolicyClient, PolicyUnavailable
from tests.fixtures.services import free_port


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


def test_undefined_rule_is_policy_unavailable(opa_url: str) -> None:
    with PolicyClient(opa_url) as policy, pytest.raises(PolicyUnavailable, match="undefined"):
        policy.evaluate("svd.health", "no_such_rule", {})
