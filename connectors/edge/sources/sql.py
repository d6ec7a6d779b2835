"""SQL extracts through SQLAlchemy, read incrementally by a watermark column.

The query selects rows whose watermark is at or after the last one
published (``:watermark``); rows already published at that watermark are
recognised by their content hash in the checkpoint, so none is sent twice.
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

    def rows(self, watermark: str, required: set[str], batch: int = 1000) -> Iterator[SourceRow]:
        engine = create_engine(self.spec.url)
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=batch).execute(
                    text(self.spec.query), {"watermark": watermark}
                )
                columns = list(result.keys())
                if missing := sorted((required | {self.spec.watermark}) - set(columns)):
                    raise SourceError(
                        f"{self.name}: the query returns no column(s) {', '.join(missing)}"
                    )
                for number, row in enumerate(result, start=1):
                    cells = [None if value is None else str(value) for value in row]
                    yield SourceRow(
                        self.name, number, dict(zip(columns, cells, strict=True)), row_hash(cells)
                    )
        except SQLAlchemyError as exc:
            raise SourceError(f"{self.name}: {exc.__class__.__name__}: {exc}") from exc
        finally:
            engine.dispose()
