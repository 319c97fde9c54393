"""poll checkpoints and marketplace decisions (issue 4)

Revision ID: 0005_marketplaces
Revises: 0004_case_timers
Create Date: 2026-11-23 19:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_marketplaces"
down_revision = "0004_case_timers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_checkpoints",
        sa.Column("marketplace", sa.String(length=40), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("last_outcome", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("marketplace"),
    )
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


def downgrade() -> None:
    with op.batch_alter_table("marketplace_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_decisions_case_id"))
    op.drop_table("marketplace_decisions")
    op.drop_table("poll_checkpoints")
