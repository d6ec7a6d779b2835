"""PolicyClient: the only code in the hub that asks OPA for a decision.

It wraps opa-python-client's ``OpaClient`` and turns every transport or
HTTP failure into :class:`PolicyUnavailable`, so callers can fail closed:
when OPA cannot answer, nothing is shared.

OPA authenticates every request (``--authentication=token``): the client
sends its bearer token in an ``Authorization`` header, and OPA's
``system.authz`` policy lets the enforcer's token evaluate the rules the
enforcer uses and nothing else. A refusal (401 or 403) raises
:class:`PolicyRefused`, a PolicyUnavailable, so it fails closed too, and its
message names the cause rather than passing for a deny.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient


class PolicyUnavailable(Exception):
    """OPA could not be reached or did not give a decision."""


class PolicyRefused(PolicyUnavailable):
    """OPA refused the request: no token, or a token it does not accept for the rule."""


class PolicyClient:
    """Evaluates rules on an OPA server given by its URL (``OPA_URL``), sending
    ``token`` (the enforcer's, see :func:`hub.settings.opa_token`) as a bearer
    token; ``None`` sends none, for an OPA without authentication."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"OPA URL must look like http://host:port, got {url!r}")
        self.url = url
        self.sends_token = bool(token)
        self._client = OpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            ssl=parts.scheme == "https",
            timeout=timeout,
            retries=0,
            token=token or None,
        )

    def evaluate(self, package: str, rule: str, input_data: dict[str, Any]) -> Any:
        """Return the value of ``data.<package>.<rule>`` for ``input_data``.

        Raises PolicyRefused if OPA refuses the token (401/403), and
        PolicyUnavailable if OPA does not answer, answers with an error, or
        the rule is undefined (an undefined decision is no decision)."""
        try:
            reply = self._client.query_rule(
                input_data=input_data, package_path=package, rule_name=rule
            )
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in {401, 403}:
                raise self._refused(exc.response, package, rule) from exc
            raise PolicyUnavailable(f"OPA at {self.url}: {exc}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise PolicyUnavailable(f"OPA at {self.url}: {exc}") from exc
        if not isinstance(reply, dict) or "result" not in reply:
            raise PolicyUnavailable(f"OPA at {self.url}: data.{package}.{rule} is undefined")
        return reply["result"]

    def _refused(self, response: requests.Response, package: str, rule: str) -> PolicyRefused:
        try:
            body = response.json()
            said = f"{body.get('code')}: {body.get('message')}"
        except (ValueError, AttributeError):
            said = response.text[:200]
        what = (
            "OPA refused the enforcer's token"
            if self.sends_token
            else "OPA refused a request without a token"
        )
        return PolicyRefused(
            f"{what}: HTTP {response.status_code} ({said}) for data.{package}.{rule} at "
            f"{self.url}; give the enforcer the token OPA knows "
            "(OPA_TOKEN, --opa-token-file, or <state>/opa/tokens/enforcer.token)"
        )

    def close(self) -> None:
        self._client.close_connection()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
