"""case_timers: due times of case timers, fired once by the worker

Revision ID: 0004_case_timers
Revises: 0003_tracking_customs
Create Date: 2026-11-23 19:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_case_timers"
down_revision = "0003_tracking_customs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_timers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "name", name="uq_case_timers_case_name"),
    )
    op.create_index("ix_case_timers_due", "case_timers", ["fired_at", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_timers_due", table_name="case_timers")
    op.drop_table("case_timers")
