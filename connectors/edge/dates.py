"""Parsing the dates and times of an extract, as ``datetime.strptime`` would.

An extract has a few formats and millions of cells, and ``strptime`` pays per
call for work that depends only on the format (locale checks, a lock, a cache
lookup, then a general conversion of every directive). :func:`parser` does
that work once per format: for the numeric formats extracts use, made of
``%Y``, ``%m``, ``%d`` (all three), ``%H``, ``%M``, ``%S`` (each at most once),
``%%`` and literal text, it returns a parser built on the very regular
expression ``strptime`` builds, which accepts and refuses exactly the same
text and gives the same value. Any other format is left to ``strptime``
itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

#: The expressions ``strptime`` uses for these directives (CPython's _strptime).
_DIRECTIVES = {
    "d": r"(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])",
    "H": r"(?P<H>2[0-3]|[0-1]\d|\d)",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "M": r"(?P<M>[0-5]\d|\d)",
    "S": r"(?P<S>6[0-1]|[0-5]\d|\d)",
    "Y": r"(?P<Y>\d\d\d\d)",
}
_REGEX_CHARS = re.compile(r"([\\.^$*+?\(\){}\[\]|])")
_WHITESPACE = re.compile(r"\s+")


def _pattern(fmt: str) -> str | None:
    """The expression ``strptime`` would build for ``fmt``, or None when
    ``fmt`` uses anything but the directives above, or one of them twice."""
    text = _REGEX_CHARS.sub(r"\\\1", fmt)
    text = _WHITESPACE.sub(r"\\s+", text)
    out: list[str] = []
    seen: set[str] = set()
    while "%" in text:
        at = text.index("%")
        if at + 1 >= len(text):
            return None  # a stray %: strptime says so
        directive = text[at + 1]
        if directive == "%":
            replacement = "%"
        elif directive in _DIRECTIVES and directive not in seen:
            seen.add(directive)
            replacement = _DIRECTIVES[directive]
        else:
            return None
        out += [text[:at], replacement]
        text = text[at + 2 :]
    if not {"Y", "m", "d"} <= seen:
        return None  # a partial date takes strptime's defaults (1900, leap days)
    return "".join(out) + text


@lru_cache(maxsize=64)
def parser(fmt: str) -> Callable[[str], datetime]:
    """A function that parses text in ``fmt`` to a naive datetime, or raises
    ValueError, as ``datetime.strptime(text, fmt)`` does."""
    pattern = _pattern(fmt)
    if pattern is None:
        return lambda text: datetime.strptime(text, fmt)
    regex = re.compile(pattern, re.IGNORECASE)
    match = regex.match

    def parse(text: str) -> datetime:
        found = match(text)
        if found is None or found.end() != len(text):
            raise ValueError(f"time data {text!r} does not match format {fmt!r}")
        groups = found.groupdict()
        return datetime(
            int(groups["Y"]),
            int(groups["m"]),
            int(groups["d"]),
            int(groups.get("H") or 0),
            int(groups.get("M") or 0),
            int(groups.get("S") or 0),
        )

    return parse
