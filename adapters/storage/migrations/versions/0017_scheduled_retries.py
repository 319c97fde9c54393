"""scheduled retries: deferred and failed deliveries parked in the database, not in broker delay queues

Revision ID: 0017_scheduled_retries
Revises: 0014_outbound_effects
Create Date: 2026-11-30 02:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_scheduled_retries"
down_revision = "0014_outbound_effects"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_retries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.String(length=80), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("correlation_id", sa.String(length=80), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue", "message_id", name="uq_scheduled_retries_queue_message"),
    )
    op.create_index("ix_scheduled_retries_due", "scheduled_retries", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_retries_due", table_name="scheduled_retries")
    op.drop_table("scheduled_retries")
