"""outbox notify: every INSERT into outbox wakes the relays that LISTEN (PostgreSQL only)

A statement trigger, so a multi-row INSERT (the intake's group commit) notifies once, and PostgreSQL delivers
the notification only when the transaction commits (adapters/storage/outbox_signal.py).

Revision ID: 0020_outbox_notify
Revises: 0017_scheduled_retries
Create Date: 2026-11-30 03:10:00
"""

from alembic import op

revision = "0020_outbox_notify"
down_revision = "0017_scheduled_retries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION rb_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('rb_outbox', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION rb_outbox_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS rb_outbox_notify()")
