"""one table for every request to another system: outbound_effects takes the send state of shipments, notice
deliveries, marketplace decisions and customs claims (issue 17, item 4)

Revision ID: 0014_outbound_effects
Revises: 0013_ops_console
Create Date: 2026-11-30 02:30:00
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014_outbound_effects"
down_revision = "0013_ops_console"
branch_labels = None
depends_on = None

# Each kind's old statuses as the effect's states (core/effects.py); the rest keep their names.
STATES = {
    "carrier_booking": {"booked": "done", "rejected": "refused"},
    "notice": {"sent": "done", "failed": "refused"},
    "marketplace_decision": {"answered": "done"},
    "customs_claim": {"filed": "done", "accepted": "done", "refused": "refused", "not_sent": "not_sent"},
}
BACK = {kind: {new: old for old, new in states.items()} for kind, states in STATES.items()}
BACK["customs_claim"] = {}  # a claim's own status was kept: nothing to give back
TRIED = {"sending", "retrying", "unknown", "done", "refused"}  # states in which at least one attempt went out

effects = sa.table(
    "outbound_effects",
    *(sa.column(name) for name in ("id", "case_id", "kind", "adapter", "idempotency_key", "state", "attempts")),
    sa.column("request", sa.JSON()),
    sa.column("result", sa.JSON()),
    sa.column("error", sa.Text()),
    sa.column("created_at"),  # untyped: the value read is written back as the database gave it
    sa.column("updated_at"),
)


def _table(name: str, *columns: str, json: tuple[str, ...] = ()) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns), *(sa.column(c, sa.JSON()) for c in json))


def _effect(row: Any, kind: str, adapter: str, key: str, status: str, request: Any, result: Any) -> dict[str, Any]:
    state = STATES[kind].get(status, status)
    return {
        "id": row.id, "case_id": row.case_id, "kind": kind, "adapter": adapter, "idempotency_key": key,
        "state": state, "attempts": getattr(row, "attempts", None) or (1 if state in TRIED else 0),
        "request": request, "result": result, "error": row.error, "created_at": row.created_at,
        "updated_at": row.updated_at,
    }  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "outbound_effects",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("adapter", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_outbound_effects_case_id", "outbound_effects", ["case_id"])
    op.create_index("ix_outbound_effects_state_updated", "outbound_effects", ["state", "updated_at"])
    _move_send_state()
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        for column in ("idempotency_key", "status", "request", "response", "error", "updated_at"):
            batch_op.drop_column(column)
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        for column in ("idempotency_key", "status", "attempts", "response", "error", "updated_at"):
            batch_op.drop_column(column)
    with op.batch_alter_table("customs_claims", schema=None) as batch_op:
        for column in ("request", "response", "error"):
            batch_op.drop_column(column)
    with op.batch_alter_table("marketplace_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_decisions_case_id"))
    op.drop_table("marketplace_decisions")


def _move_send_state() -> None:
    connection = op.get_bind()
    rows: list[dict[str, Any]] = []
    shipments = _table("shipments", "id", "case_id", "carrier", "idempotency_key", "status", "error", "created_at",
                       "updated_at", json=("request", "response"))  # fmt: skip
    for row in connection.execute(sa.select(shipments)):
        rows.append(_effect(row, "carrier_booking", row.carrier, row.idempotency_key, row.status, row.request,
                            row.response))  # fmt: skip
    deliveries = _table("notice_deliveries", "id", "case_id", "channel", "idempotency_key", "status", "attempts",
                        "error", "created_at", "updated_at", json=("response",))  # fmt: skip
    for row in connection.execute(sa.select(deliveries)):
        rows.append(_effect(row, "notice", row.channel, row.idempotency_key, row.status, None, row.response))
    decisions = _table("marketplace_decisions", "id", "case_id", "marketplace", "action", "idempotency_key", "status",
                       "created_at", "updated_at", json=("answer",))  # fmt: skip
    for row in connection.execute(sa.select(decisions, sa.null().label("error"))):
        rows.append(_effect(row, "marketplace_decision", row.marketplace, row.idempotency_key, row.status,
                            {"action": row.action}, row.answer))  # fmt: skip
    claims = _table("customs_claims", "id", "case_id", "adapter", "status", "error", "created_at", "updated_at",
                    json=("request", "response"))  # fmt: skip
    for row in connection.execute(sa.select(claims)):
        if row.status in STATES["customs_claim"]:
            rows.append(_effect(row, "customs_claim", row.adapter, f"{row.case_id}:customs_claim:{row.id}",
                                row.status, row.request, row.response))  # fmt: skip
        elif row.request is not None:  # the filing was under way: the broker's Idempotency-Key makes a resend safe
            rows.append(_effect(row, "customs_claim", row.adapter, f"{row.case_id}:customs_claim:{row.id}",
                                "retrying", row.request, row.response))  # fmt: skip
    if rows:
        op.bulk_insert(effects, rows)


def downgrade() -> None:
    op.create_table(
        "marketplace_decisions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("marketplace", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("marketplace_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marketplace_decisions_case_id"), ["case_id"], unique=False)
    with op.batch_alter_table("customs_claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("response", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("response", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("request", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("response", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    _give_back_send_state()
    op.drop_index("ix_outbound_effects_state_updated", table_name="outbound_effects")
    op.drop_index("ix_outbound_effects_case_id", table_name="outbound_effects")
    op.drop_table("outbound_effects")


def _give_back_send_state() -> None:
    connection = op.get_bind()
    targets = {
        "carrier_booking": _table("shipments", "id", "idempotency_key", "status", "error", "updated_at",
                                  json=("request", "response")),
        "notice": _table("notice_deliveries", "id", "idempotency_key", "status", "attempts", "error", "updated_at",
                         json=("response",)),
        "customs_claim": _table("customs_claims", "id", "error", json=("request", "response")),
    }  # fmt: skip
    decisions = _table("marketplace_decisions", "id", "case_id", "marketplace", "action", "idempotency_key",
                       "status", "created_at", "updated_at", json=("answer",))  # fmt: skip
    for effect in connection.execute(sa.select(effects)).all():
        status = BACK.get(effect.kind, {}).get(effect.state, effect.state)
        if effect.kind == "marketplace_decision":
            connection.execute(sa.insert(decisions).values(
                id=effect.id, case_id=effect.case_id, marketplace=effect.adapter,
                action=(effect.request or {}).get("action", ""), idempotency_key=effect.idempotency_key,
                status=status, answer=effect.result, created_at=effect.created_at, updated_at=effect.updated_at,
            ))  # fmt: skip
            continue
        table = targets.get(effect.kind)
        if table is None:
            continue
        values: dict[str, Any] = {"error": effect.error, "response": effect.result}
        if effect.kind != "customs_claim":
            values.update(idempotency_key=effect.idempotency_key, status=status, updated_at=effect.updated_at)
        if effect.kind == "notice":
            values["attempts"] = effect.attempts
        else:
            values["request"] = effect.request
        connection.execute(sa.update(table).where(table.c.id == effect.id).values(**values))
