"""SQL extracts through SQLAlchemy, read incrementally by a watermark column.

The query selects rows whose watermark is at or after the last one
published (``:watermark``); rows already published at that watermark are
recognised by their content hash in the checkpoint, so none is sent twice.

An optional ``deleted_rows`` query (the record versions deleted at the
source, each published as a Retraction) is read the same way, with a
watermark and a source name of its own (:attr:`SqlReader.deleted_name`).

Both are read-only by intent: each must be a SELECT (the config checks it),
and runs in a transaction the connector never commits, which SQLAlchemy
rolls back when the connection closes. Some databases commit DDL on their
own, so give the connector a read-only database user all the same.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from edge.config import SqlSource
from edge.sources import SourceError, SourceRow, row_hash


class SqlReader:
    def __init__(self, spec: SqlSource) -> None:
        self.spec = spec
        self.name = "sql:" + make_url(spec.url).render_as_string(hide_password=True)
        self.deleted_name = self.name + "#deleted_rows"

    def rows(self, watermark: str, required: set[str], batch: int = 1000) -> Iterator[SourceRow]:
        """The main query's rows at or after ``watermark``."""
        return self._rows(
            self.name,
            self.spec.query,
            watermark_column=self.spec.watermark,
            watermark=watermark,
            required=required,
            batch=batch,
        )

    def deleted_rows(
        self, watermark: str, required: set[str], batch: int = 1000
    ) -> Iterator[SourceRow]:
        """The ``deleted_rows`` query's rows at or after ``watermark``."""
        spec = self.spec.deleted_rows
        if spec is None:
            return iter(())
        return self._rows(
            self.deleted_name,
            spec.query,
            watermark_column=spec.watermark,
            watermark=watermark,
            required=required,
            batch=batch,
        )

    def _rows(
        self,
        name: str,
        query: str,
        *,
        watermark_column: str,
        watermark: str,
        required: set[str],
        batch: int,
    ) -> Iterator[SourceRow]:
        engine = create_engine(self.spec.url)
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=batch).execute(
                    text(query), {"watermark": watermark}
                )
                columns = list(result.keys())
                if missing := sorted((required | {watermark_column}) - set(columns)):
                    raise SourceError(
                        f"{name}: the query returns no column(s) {', '.join(missing)}"
                    )
                for number, row in enumerate(result, start=1):
                    cells = [None if value is None else str(value) for value in row]
                    yield SourceRow(
                        name, number, dict(zip(columns, cells, strict=True)), row_hash(cells)
                    )
        except SQLAlchemyError as exc:
            raise SourceError(f"{name}: {exc.__class__.__name__}: {exc}") from exc
        finally:
            engine.dispose()
