"""tracking scans of return parcels; the customs duty/VAT claims ledger (issue 8)

Revision ID: 0003_tracking_customs
Revises: 0002_fx
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_tracking_customs"
down_revision = "0002_fx"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracking_scans",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("scan_key", sa.String(length=300), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("carrier", sa.String(length=40), nullable=False),
        sa.Column("tracking_number", sa.String(length=80), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("received_via", sa.String(length=10), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scan_key"),
    )
    op.create_index("ix_tracking_scans_case_id", "tracking_scans", ["case_id"])
    op.create_index("ix_tracking_scans_tracking_number", "tracking_scans", ["tracking_number"])
    op.create_table(
        "customs_claims",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("basis", sa.String(length=300), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("adapter", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=True),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "authority", name="uq_customs_claims_case_authority"),
    )
    op.create_index("ix_customs_claims_case_id", "customs_claims", ["case_id"])
    op.create_index("ix_customs_claims_due_by", "customs_claims", ["due_by"])
    op.create_index("ix_customs_claims_status", "customs_claims", ["status"])


def downgrade() -> None:
    op.drop_table("customs_claims")
    op.drop_table("tracking_scans")
