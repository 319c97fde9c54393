"""Poll checkpoints in the database: one row per marketplace, written after its events are stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from adapters.storage.models import PollCheckpointRow
from adapters.storage.unit_of_work import UnitOfWork


class DatabaseCheckpoints:
    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self.uow = uow

    def load(self, marketplace: str) -> dict[str, Any] | None:
        with self.uow() as uow:
            row = uow.session.get(PollCheckpointRow, marketplace)
            return dict(row.checkpoint) if row is not None and row.checkpoint else None

    def save(self, marketplace: str, checkpoint: dict[str, Any] | None, now: datetime, note: dict[str, Any]) -> None:
        with self.uow() as uow:
            row = uow.session.get(PollCheckpointRow, marketplace)
            if row is None:
                row = PollCheckpointRow(marketplace=marketplace)
                uow.session.add(row)
            row.checkpoint, row.last_outcome, row.updated_at = checkpoint, note, now
            uow.commit()

    def all(self) -> list[dict[str, Any]]:
        with self.uow() as uow:
            rows = uow.session.query(PollCheckpointRow).order_by(PollCheckpointRow.marketplace).all()
            return [
                {"marketplace": r.marketplace, "checkpoint": r.checkpoint, "last_outcome": r.last_outcome,
                 "updated_at": r.updated_at.isoformat()}
                for r in rows
            ]  # fmt: skip
