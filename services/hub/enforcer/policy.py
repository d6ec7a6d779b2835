"""PolicyClient: the only code in the hub that asks OPA for a decision.

It wraps opa-python-client's ``OpaClient`` and turns every transport or
HTTP failure into :class:`PolicyUnavailable`, so callers can fail closed:
when OPA cannot answer, nothing is shared.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient


class PolicyUnavailable(Exception):
    """OPA could not be reached or did not give a decision."""


class PolicyClient:
    """Evaluates rules on an OPA server given by its URL (``OPA_URL``)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"OPA URL must look like http://host:port, got {url!r}")
        self.url = url
        self._client = OpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            ssl=parts.scheme == "https",
            timeout=timeout,
            retries=0,
        )

    def evaluate(self, package: str, rule: str, input_data: dict[str, Any]) -> Any:
        """Return the value of ``data.<package>.<rule>`` for ``input_data``.

        Raises PolicyUnavailable if OPA does not answer, answers with an
        error, or the rule is undefined (an undefined decision is no decision)."""
        try:
            reply = self._client.query_rule(
                input_data=input_data, package_path=package, rule_name=rule
            )
        except (requests.RequestException, ValueError) as exc:
            raise PolicyUnavailable(f"OPA at {self.url}: {exc}") from exc
        if not isinstance(reply, dict) or "result" not in reply:
            raise PolicyUnavailable(f"OPA at {self.url}: data.{package}.{rule} is undefined")
        return reply["result"]

    def close(self) -> None:
        self._client.close_connection()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
