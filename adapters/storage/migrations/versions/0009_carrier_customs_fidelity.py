"""customs claims carry their reason: returned goods, rejected goods or overpayment each have their own limit

Revision ID: 0009_carrier_customs_fidelity
Revises: 0007_security
Create Date: 2026-11-29 23:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_carrier_customs_fidelity"
down_revision = "0007_security"  # re-chained after merging main (0007_security landed first)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customs_claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customs_claims", schema=None) as batch_op:
        batch_op.drop_column("reason")
