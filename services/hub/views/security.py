"""What keeps the API and the dashboard safe to expose: limits, rate limits,
security headers, CSV escaping and the access log.

* :class:`SecurityHeaders` (ASGI middleware, outermost): every response carries
  a strict Content-Security-Policy (:data:`CSP`; no inline script, nothing from
  other origins, Trusted Types required so no HTML string can reach a script
  sink), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``
  and ``X-Frame-Options: DENY``; API responses also ``Cache-Control: no-store``.
  The interactive docs (``/docs``, ``/redoc``) load Swagger UI and ReDoc from
  their CDN, so those pages alone get :func:`docs_csp`: scripts from that CDN
  and the page's own inline script by its SHA-256 hash (never
  ``'unsafe-inline'`` for script), styles from the CDN and inline.
* :class:`Guard` (ASGI middleware, inside it), for every request in order:
  the rate limits (a token bucket per token, another per client address for
  requests without a token, and a bucket of failed authentications per client
  address, so guessing tokens is throttled: 429 with ``Retry-After``); the
  query's length (414), its number of parameters and repeats (400) and, on the
  views, the ``by=`` dimensions (400); and the response's size (413 instead of
  the body). It writes the access log (:class:`AccessLog`).
* :func:`csv_cell`/:func:`csv_escape`: formula cells in CSV downloads are
  made text.
* :func:`dimensions`, :func:`by_dimensions` and :func:`limit_rows`: the same
  limits for the view routes to apply themselves (a query that would return
  more than ``max_rows`` rows is refused before it is serialised).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Query, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.views.tokens import Lookup, Tokens
from wire.private_files import append_private

log = logging.getLogger(__name__)

MIB = 1024 * 1024

#: The Content-Security-Policy of every response but the docs pages.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
#: Where FastAPI's /docs (Swagger UI) and /redoc (ReDoc) load their code from.
DOCS_CDN = "https://cdn.jsdelivr.net"
STATIC_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_csp(html: bytes) -> str:
    """The policy of a docs page: its inline scripts by hash, Swagger UI and
    ReDoc from their CDN, inline styles (both set style attributes), the
    FastAPI favicon and Google Fonts (ReDoc), blob: workers (ReDoc)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src {DOCS_CDN} {hashes}; "
        f"style-src {DOCS_CDN} https://fonts.googleapis.com 'unsafe-inline'; "
        "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
        f"{DOCS_CDN}; connect-src 'self'; worker-src blob:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class SecurityConfig:
    """The API's limits (``svdhub api --help`` names the options and their
    environment variables)."""

    #: Requests per second per token (and per client address without one).
    rate: float = 10.0
    #: How many requests a token may make at once before ``rate`` applies.
    burst: int = 20
    #: Failed authentications (an unknown, expired or revoked token) per client
    #: address per ``auth_failure_window`` seconds; then every request from it
    #: that carries a token gets 429 until the bucket refills.
    auth_failures: int = 5
    auth_failure_window: float = 60.0
    #: The longest query string (bytes): longer gets 414.
    max_query_bytes: int = 2048
    #: The most query parameters; and none may be repeated.
    max_params: int = 32
    #: The most dimensions a view's ``by=`` may name (each at most once).
    max_dimensions: int = 4
    #: The most rows a view returns (for the routes, :func:`limit_rows`).
    max_rows: int = 50_000
    #: The largest response body (bytes): larger gets 413.
    max_response_bytes: int = 5 * MIB
    #: The access log (JSON Lines, 0600); None: none.
    access_log: Path | None = None
    #: How many rate-limit buckets are kept (least recently used go first).
    max_buckets: int = 10_000
    monotonic: Callable[[], float] = field(default=time.monotonic, compare=False)


def config_of(request: Request) -> SecurityConfig:
    found = getattr(request.app.state, "security", None)
    return found if isinstance(found, SecurityConfig) else SecurityConfig()


# -------------------------------------------------------------- CSV escaping

#: What a spreadsheet takes as the start of a formula (OWASP, CSV injection),
#: with the full-width forms some locales' spreadsheets also accept.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: Any) -> Any:
    """``value`` safe for a CSV cell: text that a spreadsheet would run as a
    formula gets a leading single quote (it shows as text); numbers, and
    anything that is not text, are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_escape(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows with every cell passed through :func:`csv_cell`."""
    return [{key: csv_cell(value) for key, value in row.items()} for row in rows]


# ------------------------------------------------------ limits for the routes


def dimensions(by: str, limit: int = SecurityConfig.max_dimensions) -> list[str]:
    """The dimensions a ``by=`` names, in order; 400 if one is named twice or
    there are more than ``limit``."""
    named = [name.strip() for name in by.split(",") if name.strip()]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        raise HTTPException(
            400, f"by= names {', '.join(twice)} more than once: name each dimension at most once"
        )
    if len(named) > limit:
        raise HTTPException(
            400,
            f"by= names {len(named)} dimensions; at most {limit} may be combined "
            "(fewer dimensions, or filters, narrow the query)",
        )
    return named


def by_dimensions(
    request: Request,
    by: Annotated[str, Query(description="Comma-separated dimensions")] = "lad,week",
) -> list[str]:
    """A dependency for a view's ``by=``: :func:`dimensions` with the app's limit."""
    return dimensions(by, config_of(request).max_dimensions)


def limit_rows(rows: Sequence[Any], limit: int = SecurityConfig.max_rows) -> None:
    """413 if ``rows`` holds more than ``limit`` rows, before they are serialised."""
    if len(rows) > limit:
        raise HTTPException(
            413,
            f"the query returns {len(rows)} rows, more than the {limit} allowed; "
            "narrow it (fewer by= dimensions, filters, a shorter week range)",
        )


# --------------------------------------------------------------- rate limits


class RateLimiter:
    """Token buckets by key: each holds up to ``burst`` and refills at ``rate``
    per second. Only the ``max_buckets`` most recently used are kept."""

    def __init__(
        self, rate: float, burst: float, monotonic: Callable[[], float], max_buckets: int
    ) -> None:
        self.rate, self.burst = rate, burst
        self._monotonic = monotonic
        self._max = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, key: str) -> float:
        now = self._monotonic()
        level, then = self._buckets.get(key, (self.burst, now))
        level = min(self.burst, level + (now - then) * self.rate)
        self._buckets[key] = (level, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return level

    def wait(self, key: str) -> float:
        """0 if ``key`` has a request left, else the seconds until it has."""
        level = self._level(key)
        return 0.0 if level >= 1 else (1 - level) / self.rate

    def take(self, key: str) -> float:
        """Spend one request of ``key``: 0 if it had one, else the seconds to wait
        (and nothing is spent)."""
        waiting = self.wait(key)
        if waiting == 0:
            level, then = self._buckets[key]
            self._buckets[key] = (level - 1, then)
        return waiting


# ---------------------------------------------------------------- access log


class AccessLog:
    """Appends one JSON object a line to ``path`` (0600), for every request that
    carried a token and every one refused for authentication."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, record: Mapping[str, Any]) -> None:
        try:
            with append_private(self.path) as handle:
                handle.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        except OSError as exc:
            log.error("cannot write the API access log %s: %s", self.path, exc)


def view_of(path: str) -> str | None:
    """The view (or API resource) a path reads: ``incidents`` for
    ``/api/v1/views/incidents``, ``audit/checkpoint`` for the audit paths."""
    prefix = "/api/v1/"
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix) :]
    return rest.removeprefix("views/") or None


# --------------------------------------------------------------- middleware


def bearer(scope: Scope) -> str | None:
    """The bearer token a request carries ('' for a malformed one), or None."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


def json_error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> list[Message]:
    body = json.dumps({"detail": detail}).encode()
    return [
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
            ],
        },
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


class Refused(Exception):
    """A request the guard answers itself, with a status and a reason."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, dict(headers or {})


def too_large(limit: int) -> list[Message]:
    return json_error(
        413,
        f"the response would be over {limit} bytes; narrow the query "
        "(fewer by= dimensions, filters, a shorter week range)",
    )


def _retry(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class Guard:
    """Rate limits, query limits, the response size cap and the access log
    (see the module's notes)."""

    def __init__(self, app: ASGIApp, tokens: Tokens, config: SecurityConfig) -> None:
        self.app, self.tokens, self.config = app, tokens, config
        self.requests = RateLimiter(config.rate, config.burst, config.monotonic, config.max_buckets)
        self.failures = RateLimiter(
            config.auth_failures / config.auth_failure_window,
            config.auth_failures,
            config.monotonic,
            config.max_buckets,
        )
        self.access_log = None if config.access_log is None else AccessLog(config.access_log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        token = bearer(scope)
        found = self.tokens.lookup(token) if token is not None else Lookup("missing")
        query = scope.get("query_string", b"")
        sent = {"status": 500, "bytes": 0}

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        throttled = False
        params = self._parse(query)
        try:
            self._throttle(scope, token, found)
            self._check_query(scope["path"], query, params)
        except Refused as refused:
            throttled = refused.status == 429
            for message in json_error(refused.status, refused.detail, refused.headers):
                await counted(message)
        else:
            await self.app(scope, receive, self._capped(counted))
        finally:
            if self.access_log is not None and (
                token is not None or sent["status"] == 401 or throttled
            ):
                self.access_log.write(
                    self._record(
                        scope,
                        found,
                        query=query,
                        params=params,
                        sent=sent,
                        started=started,
                        throttled=throttled,
                    )
                )

    def _client(self, scope: Scope) -> str:
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    def _throttle(self, scope: Scope, token: str | None, found: Lookup) -> None:
        """Refused (429) when the request is over a rate limit: a request with a
        token that is not valid spends one of the client's failed
        authentications, and while those are spent no token works from it (so a
        right guess looks like a wrong one); then each token, or each client
        without one, has its own bucket."""
        client = self._client(scope)
        if token is not None:
            if found.valid:
                waiting = self.failures.wait(f"fail:{client}")  # no token works while it is empty
            else:
                waiting = self.failures.take(f"fail:{client}")
            if waiting:
                raise Refused(
                    429,
                    "too many requests with a token that is not valid from this address; "
                    "try again later",
                    _retry(waiting),
                )
        key = f"token:{found.entry.id}" if found.valid and found.entry else f"client:{client}"
        waiting = self.requests.take(key)
        if waiting:
            raise Refused(
                429,
                f"more than {self.config.rate:g} requests a second (bursts of "
                f"{self.config.burst}); try again shortly",
                _retry(waiting),
            )

    def _parse(self, query: bytes) -> list[tuple[str, str]] | None:
        """The query's parameters; None if it is too long or has too many."""
        if len(query) > self.config.max_query_bytes:
            return None
        try:
            return parse_qsl(
                query.decode("latin-1"),
                keep_blank_values=True,
                max_num_fields=self.config.max_params,
            )
        except ValueError:
            return None

    def _check_query(self, path: str, query: bytes, params: list[tuple[str, str]] | None) -> None:
        limit = self.config
        if len(query) > limit.max_query_bytes:
            raise Refused(
                414, f"the query string is {len(query)} bytes; at most {limit.max_query_bytes}"
            )
        if params is None:
            raise Refused(400, f"at most {limit.max_params} query parameters")
        names = [name for name, _ in params]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise Refused(400, f"the query repeats {', '.join(repeated)}: give each parameter once")
        if path.startswith("/api/v1/views/"):
            for name, value in params:
                if name == "by":
                    try:
                        dimensions(value, limit.max_dimensions)
                    except HTTPException as exc:
                        raise Refused(400, str(exc.detail)) from exc

    def _capped(self, send: Send) -> Send:
        """``send``, but a body over ``max_response_bytes`` becomes a 413."""
        limit = self.config.max_response_bytes
        held: list[Message] = []
        size = 0
        refused = False

        async def capped(message: Message) -> None:
            nonlocal size, refused
            if refused:
                return
            if message["type"] == "http.response.start":
                length = dict(message.get("headers", ())).get(b"content-length")
                if length is not None and int(length) <= limit:
                    await send(message)  # known and small enough: stream it
                elif length is not None:
                    refused = True
                    for error in too_large(limit):
                        await send(error)
                else:
                    held.append(message)
                return
            if message["type"] != "http.response.body" or not held:
                await send(message)
                return
            size += len(message.get("body", b""))
            if size > limit:
                refused = True
                held.clear()
                for error in too_large(limit):
                    await send(error)
                return
            held.append(message)
            if not message.get("more_body", False):
                for kept in held:
                    await send(kept)
                held.clear()

        return capped

    def _record(
        self,
        scope: Scope,
        found: Lookup,
        *,
        query: bytes,
        params: list[tuple[str, str]] | None,
        sent: Mapping[str, int],
        started: float,
        throttled: bool,
    ) -> dict[str, Any]:
        entry = found.entry
        return {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "client": self._client(scope),
            "auth": "throttled" if throttled else found.status,
            "party": entry.party if entry else None,
            "role": entry.role if entry else None,
            "token_id": entry.id if entry else None,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "view": view_of(str(scope.get("path", ""))),
            "query": dict(params)
            if params is not None
            else {"_unparsed": query[: self.config.max_query_bytes].decode("latin-1")},
            "status": sent["status"],
            "bytes": sent["bytes"],
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        }


class SecurityHeaders:
    """Adds the security headers to every response (see the module's notes);
    ``docs`` are the paths of the interactive docs, which get :func:`docs_csp`."""

    def __init__(self, app: ASGIApp, docs: Iterable[str] = ()) -> None:
        self.app = app
        self.docs = frozenset(docs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        api = path.startswith("/api/")
        if path in self.docs:
            await self.app(scope, receive, self._docs(send))
            return

        async def headed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_headers(message.get("headers", ()), CSP, api=api)
            await send(message)

        await self.app(scope, receive, headed)

    def _docs(self, send: Send) -> Send:
        """Hold a docs page (a few KiB) to hash its inline script into its policy."""
        held: list[Message] = []
        body = bytearray()

        async def docs(message: Message) -> None:
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if message["type"] == "http.response.body" and held:
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                start = held.pop()
                start["headers"] = _with_headers(
                    start.get("headers", ()), docs_csp(bytes(body)), api=False
                )
                await send(start)
                await send({"type": "http.response.body", "body": bytes(body), "more_body": False})
                return
            await send(message)

        return docs


def _with_headers(
    headers: Iterable[tuple[bytes, bytes]], csp: str, *, api: bool
) -> list[tuple[bytes, bytes]]:
    ours = {**STATIC_HEADERS, "content-security-policy": csp}
    kept = [(name, value) for name, value in headers if name.decode("latin-1").lower() not in ours]
    if api and not any(name.lower() == b"cache-control" for name, _ in kept):
        kept.append((b"cache-control", b"no-store"))
    return kept + [(name.encode(), value.encode()) for name, value in ours.items()]
