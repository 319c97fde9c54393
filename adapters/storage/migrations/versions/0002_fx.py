"""fx_rates (cached reference rates) and fx_ledger (refunds in the settlement currency)

Revision ID: 0002_fx
Revises: 0001_initial
Create Date: 2026-11-23 19:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_fx"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fx_rates",
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("anchor", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "rate_date", "currency"),
    )
    op.create_table(
        "fx_ledger",
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("refund_amount", sa.String(length=40), nullable=False),
        sa.Column("refund_currency", sa.String(length=3), nullable=False),
        sa.Column("settlement_currency", sa.String(length=3), nullable=False),
        sa.Column("sale_date", sa.Date(), nullable=False),
        sa.Column("refund_date", sa.Date(), nullable=False),
        sa.Column("at_sale_amount", sa.String(length=40), nullable=False),
        sa.Column("at_sale_rate", sa.String(length=40), nullable=False),
        sa.Column("at_sale_rate_date", sa.Date(), nullable=False),
        sa.Column("at_refund_amount", sa.String(length=40), nullable=False),
        sa.Column("at_refund_rate", sa.String(length=40), nullable=False),
        sa.Column("at_refund_rate_date", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("fx_gain_loss", sa.String(length=40), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("fx_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fx_ledger_settlement_currency"), ["settlement_currency"], unique=False)
        batch_op.create_index(batch_op.f("ix_fx_ledger_refund_date"), ["refund_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fx_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fx_ledger_refund_date"))
        batch_op.drop_index(batch_op.f("ix_fx_ledger_settlement_currency"))
    op.drop_table("fx_ledger")
    op.drop_table("fx_rates")
