"""ops console: return facts for the analytics, queue depth samples, claims by status and time

Revision ID: 0013_ops_console
Revises: 0009_carrier_customs_fidelity
Create Date: 2026-11-29 23:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_ops_console"
down_revision = "0009_carrier_customs_fidelity"
branch_labels = None
depends_on = None

DIMENSIONS = ["marketplace", "reason", "category", "lane", "jurisdiction"]
# name: (columns, columns carried for index-only scans on PostgreSQL)
FACTS_INDEXES = {
    "ix_return_facts_requested": (["requested_at"], [*DIMENSIONS, "seen_at", "first_of_order"]),
    "ix_return_facts_seen": (
        ["seen_at"],
        [*DIMENSIONS, "requested_at", "first_of_order", "buyer_key", "currency", "ordered_minor", "returned_minor"],
    ),
    "ix_return_facts_refunded": (["refunded_at", "refund_currency"], ["refund_minutes", "refund_minor"]),
    "ix_return_facts_buyer": (["buyer_key", "seen_at"], []),
    "ix_return_facts_order": (["order_id", "marketplace"], []),
    "ix_return_facts_due": (["refund_due_by", "refunded_at"], ["refund_late", "state"]),
}
# The signal lists (worn or tags removed; reason changed) read only their own few rows.
PARTIAL_INDEXES = {
    "ix_return_facts_condition": "worn OR tags_removed",
    "ix_return_facts_reason_changed": "reason_changed",
}


def upgrade() -> None:
    op.create_table(
        "return_facts",
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("marketplace", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("first_of_order", sa.Boolean(), nullable=True),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refund_due_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refund_minutes", sa.Integer(), nullable=True),
        sa.Column("refund_late", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("reason_at_request", sa.String(length=40), nullable=True),
        sa.Column("reason_at_inspection", sa.String(length=40), nullable=True),
        sa.Column("reason_changed", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=False),
        sa.Column("lane", sa.String(length=20), nullable=False),
        sa.Column("jurisdiction", sa.String(length=20), nullable=False),
        sa.Column("buyer_key", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("ordered_minor", sa.BigInteger(), nullable=True),
        sa.Column("returned_minor", sa.BigInteger(), nullable=True),
        sa.Column("refund_minor", sa.BigInteger(), nullable=True),
        sa.Column("refund_currency", sa.String(length=3), nullable=True),
        sa.Column("worn", sa.Boolean(), nullable=False),
        sa.Column("tags_removed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id"),
    )
    for name, (columns, carried) in FACTS_INDEXES.items():
        op.create_index(name, "return_facts", columns, postgresql_include=carried)
    for name, where in PARTIAL_INDEXES.items():
        op.create_index(name, "return_facts", ["requested_at"], postgresql_where=sa.text(where),
                        sqlite_where=sa.text(where))  # fmt: skip
    op.create_table(
        "queue_depth_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_queue_depth_samples_queue_at", "queue_depth_samples", ["queue", "at"])
    op.create_index("ix_customs_claims_status_updated", "customs_claims", ["status", "updated_at"],
                    postgresql_include=["currency", "amount"])  # fmt: skip
    op.create_index("ix_cases_return_id", "cases", ["return_id"])


def downgrade() -> None:
    op.drop_index("ix_cases_return_id", table_name="cases")
    op.drop_index("ix_customs_claims_status_updated", table_name="customs_claims")
    op.drop_index("ix_queue_depth_samples_queue_at", table_name="queue_depth_samples")
    op.drop_table("queue_depth_samples")
    for name in [*FACTS_INDEXES, *PARTIAL_INDEXES]:
        op.drop_index(name, table_name="return_facts")
    op.drop_table("return_facts")
