"""Hypothesis strategies that generate valid records from the wire schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from wire.schemas import SchemaSet

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Millisecond-precision UTC instants, as fastavro reads timestamp-millis back.
timestamps_millis = st.integers(0, 4_102_444_800_000).map(
    lambda ms: _EPOCH + timedelta(milliseconds=ms)
)


def records(schema_set: SchemaSet, name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Records of type ``name`` that its schema accepts."""
    named: dict[str, Any] = {}
    strategy: st.SearchStrategy[dict[str, Any]] = _for(schema_set.expanded(name), named)
    return strategy


def _for(node: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:  # noqa: PLR0911
    if isinstance(node, list):
        return st.one_of(*(_for(branch, named) for branch in node))
    if isinstance(node, str):
        primitive = _PRIMITIVES.get(node)
        if primitive is not None:
            return primitive
        return st.deferred(lambda: named[node])
    logical = node.get("logicalType")
    if logical == "timestamp-millis":
        return timestamps_millis
    if logical == "uuid":
        return st.uuids()
    if logical == "date":
        return st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 1, 1))
    kind = node["type"]
    strategy: st.SearchStrategy[Any]
    if kind == "record":
        fields = {f["name"]: _for(f["type"], named) for f in node["fields"]}
        strategy = st.fixed_dictionaries(fields)
    elif kind == "enum":
        strategy = st.sampled_from(node["symbols"])
    elif kind == "array":
        return st.lists(_for(node["items"], named), max_size=4)
    elif kind == "fixed":
        strategy = st.binary(min_size=node["size"], max_size=node["size"])
    else:
        return _for(kind, named)
    fullname = node["name"] if "." in node["name"] else f"svd.wire.{node['name']}"
    named[fullname] = strategy
    return strategy


_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "double": st.floats(allow_nan=False),
    "float": st.floats(allow_nan=False, width=32),
    "string": st.text(max_size=40),
    "bytes": st.binary(max_size=64),
}
