"""Tables: cases and their timeline and notices, the webhook inbox, the consumers' inbox, the outbox, and the
outbound effects (every request to another system) with the shipments, notice deliveries and claims they make.

The same definitions serve SQLite (embedded default) and PostgreSQL; Alembic
migrations in `migrations/` create them. JSON columns hold the canonical
snapshot of a case (order, return, items) exactly as the codec dumps it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite's INTEGER PRIMARY KEY autoincrements; BIGINT does not, so BigInteger becomes Integer there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator):
    """Aware UTC in and out, whatever the database keeps (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: use aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("marketplace", "return_id", name="uq_cases_marketplace_return"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    marketplace: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[str] = mapped_column(String(200), index=True)
    return_id: Mapped[str] = mapped_column(String(200), index=True)  # the console finds a return by its id alone
    state: Mapped[str] = mapped_column(String(40), index=True)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    order: Mapped[dict[str, Any]] = mapped_column(JSON)
    return_: Mapped[dict[str, Any]] = mapped_column("return", JSON)
    items: Mapped[list[Any]] = mapped_column(JSON)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


class TimelineRow(Base):
    __tablename__ = "case_timeline"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_timeline_case_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(80))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class NoticeRow(Base):
    __tablename__ = "case_notices"
    __table_args__ = (UniqueConstraint("case_id", "kind", name="uq_notice_case_kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReceivedEventRow(Base):
    """The webhook inbox: every accepted delivery, keyed so a resend is recognised."""

    __tablename__ = "received_events"
    __table_args__ = (
        UniqueConstraint("marketplace", "marketplace_event_id", name="uq_received_marketplace_event"),
        UniqueConstraint("marketplace", "delivery_id", name="uq_received_marketplace_delivery"),
    )

    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    marketplace: Mapped[str] = mapped_column(String(40))
    marketplace_event_id: Mapped[str] = mapped_column(String(200))
    delivery_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class ProcessedMessageRow(Base):
    """The consumers' inbox: a message id handled by a consumer is never handled again."""

    __tablename__ = "processed_messages"

    consumer: Mapped[str] = mapped_column(String(80), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboxRow(Base):
    """Messages written in the same transaction as the change that caused them; the relay publishes them."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "published_at", "available_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(80), unique=True)
    exchange: Mapped[str] = mapped_column(String(120))
    routing_key: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    correlation_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class OutboundEffectRow(Base):
    """Every request to another system, one row per idempotency key (core/effects.py): carrier bookings, buyer
    notices, decisions told to marketplaces, customs filings. The intent is committed before the request goes
    out; a redelivered command finds the row and sends nothing more."""

    __tablename__ = "outbound_effects"
    __table_args__ = (Index("ix_outbound_effects_state_updated", "state", "updated_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the business record's id (shp_, ntc_, clm_)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # carrier_booking | notice | marketplace_decision | customs_*
    adapter: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ScheduledRetryRow(Base):
    """A delivery parked until `due_at` (a deferral or a retry): the relay publishes it back to `queue` then.

    Its own table, not the outbox: the copy keeps the message id of the original, which is in
    the outbox already, so the consumers' inbox still recognises it. One row per message and queue.
    """

    __tablename__ = "scheduled_retries"
    __table_args__ = (
        UniqueConstraint("queue", "message_id", name="uq_scheduled_retries_queue_message"),
        Index("ix_scheduled_retries_due", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(80))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    correlation_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    parked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ShipmentRow(Base):
    """A carrier booking's parcel (tracking number, label); its request and state are its `outbound_effects` row."""

    __tablename__ = "shipments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # = outbound_effects.id
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    carrier: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    tracking_number: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    label_pdf_base64: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NoticeDeliveryRow(Base):
    """A notice on one channel as rendered for the buyer; its state and attempts are its `outbound_effects` row."""

    __tablename__ = "notice_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # = outbound_effects.id
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(40), nullable=True)
    message: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CaseTimerRow(Base):
    """A case's pending and fired timers, kept in step with the case (issue 5: timers survive restarts).

    The case's own record (`facts["timers"]`) decides; this table lets the worker find what is due
    without reading every case, and claim it with `FOR UPDATE SKIP LOCKED` on PostgreSQL.
    """

    __tablename__ = "case_timers"
    __table_args__ = (
        UniqueConstraint("case_id", "name", name="uq_case_timers_case_name"),
        Index("ix_case_timers_due", "fired_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class PollCheckpointRow(Base):
    """Where each marketplace poller stopped (issue 4): stored after its events are taken in."""

    __tablename__ = "poll_checkpoints"

    marketplace: Mapped[str] = mapped_column(String(40), primary_key=True)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_outcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FxRateRow(Base):
    """Published reference rates as fetched: one row per source, day and currency, rate as exact decimal text."""

    __tablename__ = "fx_rates"

    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    rate_date: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    anchor: Mapped[str] = mapped_column(String(3))
    rate: Mapped[str] = mapped_column(String(40))
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FxLedgerRow(Base):
    """A case's refund in the settlement currency at sale-date and refund-date rates (amounts as decimal text)."""

    __tablename__ = "fx_ledger"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    refund_amount: Mapped[str] = mapped_column(String(40))
    refund_currency: Mapped[str] = mapped_column(String(3))
    settlement_currency: Mapped[str] = mapped_column(String(3), index=True)
    sale_date: Mapped[date] = mapped_column(Date)
    refund_date: Mapped[date] = mapped_column(Date, index=True)
    at_sale_amount: Mapped[str] = mapped_column(String(40))
    at_sale_rate: Mapped[str] = mapped_column(String(40))
    at_sale_rate_date: Mapped[date] = mapped_column(Date)
    at_refund_amount: Mapped[str] = mapped_column(String(40))
    at_refund_rate: Mapped[str] = mapped_column(String(40))
    at_refund_rate_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))
    fx_gain_loss: Mapped[str] = mapped_column(String(40))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TrackingScanRow(Base):
    """Carrier scans of return parcels, one row per scan: pushes and polls overlap, the key refuses a second copy."""

    __tablename__ = "tracking_scans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scan_key: Mapped[str] = mapped_column(String(300), unique=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    carrier: Mapped[str] = mapped_column(String(40))
    tracking_number: Mapped[str] = mapped_column(String(80), index=True)
    code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    received_via: Mapped[str] = mapped_column(String(10))  # push | poll
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CustomsClaimRow(Base):
    """The duty/VAT recovery ledger: one claim per case and authority, with its time limit and status.

    Filing it is an `outbound_effects` row of the same id (request, answer, error, attempts)."""

    __tablename__ = "customs_claims"
    __table_args__ = (
        UniqueConstraint("case_id", "authority", name="uq_customs_claims_case_authority"),
        # duty/VAT recovered over a period, read from the index alone on PostgreSQL
        Index("ix_customs_claims_status_updated", "status", "updated_at", postgresql_include=["currency", "amount"]),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    authority: Mapped[str] = mapped_column(String(200))
    basis: Mapped[str] = mapped_column(String(300))
    # returned_goods | rejected_goods | overpayment (None on claims planned before issue 13: returned_goods)
    reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    amount: Mapped[str] = mapped_column(String(40))  # Decimal as text: exact, never float
    currency: Mapped[str] = mapped_column(String(3))
    due_by: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(
        String(20), index=True
    )  # planned | not_sent | filed | accepted | refused | expired
    adapter: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(120), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


_DIMENSIONS = ["marketplace", "reason", "category", "lane", "jurisdiction"]  # core.analytics.DIMENSIONS


class ReturnFactsRow(Base):
    """What the return analytics count of one case (core.analytics.ReturnFacts), kept in step with the case.

    Plain, indexed columns so that the figures over a period are range scans, not reads of JSON;
    amounts in minor units (exact integers) so that they are summed in the database.
    """

    __tablename__ = "return_facts"
    __table_args__ = (
        # On PostgreSQL the period indexes carry what their queries read (INCLUDE): index-only scans.
        Index(
            "ix_return_facts_requested", "requested_at", postgresql_include=[*_DIMENSIONS, "seen_at", "first_of_order"]
        ),
        Index(
            "ix_return_facts_seen",
            "seen_at",
            postgresql_include=[
                *_DIMENSIONS,
                "requested_at",
                "first_of_order",
                "buyer_key",
                "currency",
                "ordered_minor",
                "returned_minor",
            ],
        ),
        Index(
            "ix_return_facts_refunded",
            "refunded_at",
            "refund_currency",
            postgresql_include=["refund_minutes", "refund_minor"],
        ),
        Index("ix_return_facts_buyer", "buyer_key", "seen_at"),
        Index("ix_return_facts_order", "order_id", "marketplace"),
        Index("ix_return_facts_due", "refund_due_by", "refunded_at", postgresql_include=["refund_late", "state"]),
        # The two signal lists read only their few rows.
        Index(
            "ix_return_facts_condition",
            "requested_at",
            postgresql_where=text("worn OR tags_removed"),
            sqlite_where=text("worn OR tags_removed"),
        ),
        Index(
            "ix_return_facts_reason_changed",
            "requested_at",
            postgresql_where=text("reason_changed"),
            sqlite_where=text("reason_changed"),
        ),
    )

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    marketplace: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[str] = mapped_column(String(200))
    # The first case of its order: orders are counted as these rows, so no count is ever DISTINCT.
    # None until the case's first save after the intake decides it (see CaseRepository._sync_facts).
    first_of_order: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    state: Mapped[str] = mapped_column(String(40))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    refund_due_by: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    refund_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refund_late: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(40))
    reason_at_request: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason_at_inspection: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    category: Mapped[str] = mapped_column(String(80))
    lane: Mapped[str] = mapped_column(String(20))
    jurisdiction: Mapped[str] = mapped_column(String(20))
    buyer_key: Mapped[str | None] = mapped_column(String(40), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    ordered_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    returned_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refund_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refund_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    worn: Mapped[bool] = mapped_column(Boolean, default=False)
    tags_removed: Mapped[bool] = mapped_column(Boolean, default=False)


class QueueDepthSampleRow(Base):
    """A queue's depth at one moment: the console draws the last hour of them as a sparkline."""

    __tablename__ = "queue_depth_samples"
    __table_args__ = (Index("ix_queue_depth_samples_queue_at", "queue", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    messages: Mapped[int] = mapped_column(Integer)


class ApiKeyRow(Base):
    """An API key the project issued: only a SHA-256 digest of its secret part is kept, never the key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the public part, `rbk_<id>_...`
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(20))  # read | act
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class WebSessionRow(Base):
    """A console sign-in: the cookie carries this id, signed; revoking the row ends the session at once."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal: Mapped[str] = mapped_column(String(200))  # "ops token" or "api key <id>"
    scopes: Mapped[str] = mapped_column(String(100))  # space-separated
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
