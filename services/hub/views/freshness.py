"""How current a recipient's views are, for every API response.

The builder records a heartbeat whenever it has applied everything it read
(:func:`beat`); :func:`freshness` reports that time, the broker time of the
newest share applied to the recipient's topics, and the lag.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from hub.views.tables import heartbeat, offsets


def beat(engine: Engine, moment: datetime) -> None:
    """Record that the builder has applied everything it had read at ``moment``."""
    stamp = moment.isoformat()
    with engine.begin() as conn:
        changed = conn.execute(
            update(heartbeat).where(heartbeat.c.name == "builder").values(checked_at=stamp)
        )
        if changed.rowcount == 0:
            conn.execute(insert(heartbeat).values(name="builder", checked_at=stamp))


def freshness(engine: Engine, recipient: str, now: datetime) -> dict[str, Any]:
    """How current a recipient's views are: when the builder last caught up, the
    newest share applied, and the lag in seconds."""
    with engine.connect() as conn:
        checked = conn.execute(
            select(heartbeat.c.checked_at).where(heartbeat.c.name == "builder")
        ).scalar()
        latest_ms = max(
            (
                int(ms)
                for topic, ms in conn.execute(select(offsets.c.topic, offsets.c.latest_ms))
                if topic.split(".")[-2:-1] == [recipient]  # <...>.<recipient>.<type>
            ),
            default=None,
        )
    checked_at = datetime.fromisoformat(checked) if checked else None
    return {
        "views_checked_at": checked,
        "latest_share_at": (
            datetime.fromtimestamp(latest_ms / 1000, tz=now.tzinfo).isoformat()
            if latest_ms
            else None
        ),
        "lag_seconds": round((now - checked_at).total_seconds(), 1) if checked_at else None,
    }
