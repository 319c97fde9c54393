"""Buyers' personal data: kept out of logs, and purged once a closed case is past its retention.

Names, street lines, phone numbers and e-mail addresses of overseas buyers are personal
data (GDPR Art. 4(1)); storage is limited to what the purpose needs (Art. 5(1)(c) data
minimisation, 5(1)(e) storage limitation). So logs never carry them, nor any secret, and
a periodic task in the worker (queues/scheduler.py) blanks them from cases closed for longer than RB_PII_RETENTION_DAYS,
together with the raw webhook payloads received before that day.
"""

from __future__ import annotations

import json
import logging
import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from adapters.storage.models import (
    CaseRow,
    CustomsClaimRow,
    MarketplaceDecisionRow,
    NoticeDeliveryRow,
    NoticeRow,
    OutboxRow,
    ReceivedEventRow,
    ReturnFactsRow,
    ShipmentRow,
    TimelineRow,
)
from service.operations import CLOSED_STATES

log = logging.getLogger(__name__)

# Fields that identify a person, wherever they appear in an address, a buyer or a carrier request.
PERSONAL_FIELDS = frozenset(
    {"name", "line1", "line2", "line3", "postal_code", "phone", "email", "fullName", "addressLine1", "addressLine2",
     "addressLine3", "postalCode", "phone_number", "mobilePhone", "companyName", "contactInformation",
     "reason_detail", "note"}
)  # fmt: skip
REDACTED = "[redacted]"
PURGED_PAYLOAD = {"purged": True}
PURGED_TEXT = json.dumps(PURGED_PAYLOAD)  # how SQLAlchemy's JSON type stores it, on SQLite and PostgreSQL

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Not an IPv4 address (the client address of an access-log line), an access-log time (29/Nov/2026:23:19:42),
# nor the status and size that follow an access-log request line (`HTTP/1.1" 401 5543`).
_PHONE = re.compile(
    r"(?<![\w.:/-])(?<!HTTP/1\.0\" )(?<!HTTP/1\.1\" )(?<!HTTP/2\.0\" )(?<!HTTP/2\" )"
    r"(?!\d{1,3}(?:\.\d{1,3}){3}(?![\d.]))(?!\d{1,2}/\w{3}/\d{4})\+?\d[\d ()./-]{6,}\d(?![\w.:-])"
)
# A buyer page's token (GET /r/<token>) opens that buyer's return: an access log must not keep it.
_BUYER_LINK = re.compile(r"(/r/)[\w-]+\.[\w-]+")
_FIELD_NAMES = "|".join(sorted(PERSONAL_FIELDS))
_JSON_FIELD = re.compile(r"""(?P<key>["']?(?:""" + _FIELD_NAMES + r""")["']?\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*')""")
_SECRET_SHAPES = (
    re.compile(r"whsec_[A-Za-z0-9+/=]+"),
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer|basic)\s+[^\s\"',}]+"),
    re.compile(r"(?i)(amqps?|postgresql(?:\+psycopg)?)://([^:/@\s]+):([^@\s]+)@"),
    # A credential in a query string or form (`?token=`, `access_token=`, `sign=`, `client_secret=`).
    re.compile(
        r"(?i)([?&;](?:[\w-]*token|[\w-]*secret|[\w-]*password|sign|signature|session|app_?key|api_?key)=)[^&\s\"']+"
    ),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Personal data and secrets out of one log line (whole values of known secrets, then known shapes)."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    text = _SECRET_SHAPES[0].sub(REDACTED, text)
    text = _SECRET_SHAPES[1].sub(lambda m: f"{m.group(1)}{m.group(2)} {REDACTED}", text)
    text = _SECRET_SHAPES[2].sub(lambda m: f"{m.group(1)}://{m.group(2)}:{REDACTED}@", text)
    text = _SECRET_SHAPES[3].sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _JSON_FIELD.sub(lambda m: f'{m.group("key")}"{REDACTED}"', text)
    text = _EMAIL.sub(REDACTED, text)
    text = _BUYER_LINK.sub(lambda m: m.group(1) + REDACTED, text)
    return _PHONE.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Installed on the log handlers: every record is rendered, redacted, and frozen as plain text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what we have rather than lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def secrets_of(env: dict[str, str]) -> list[str]:
    """Values of settings that are secrets by name (RB_*_SECRET, _KEY, _TOKEN, _PASSWORD, _CHECKWORD, _SESSION)
    or URL passwords."""
    found = [v for k, v in env.items() if re.search(r"(SECRET|_KEY|TOKEN|PASSWORD|CHECKWORD|_SESSION)$", k) and v]
    # Lists of keys (RB_BUYER_LINK_KEYS): each key is a secret of its own.
    found += [key.strip() for k, v in env.items() if k.endswith("_KEYS") and v for key in v.split(",") if key.strip()]
    for value in env.values():
        match = re.search(r"://[^:/@\s]+:([^@\s]+)@", value or "")
        if match:
            found.append(match.group(1))
    return found


def install_redaction(secrets: Iterable[str]) -> None:
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(secrets))


def strip_personal(value: Any) -> Any:
    """A copy of a JSON value without the personal fields, at any depth."""
    if isinstance(value, dict):
        return {k: strip_personal(v) for k, v in value.items() if k not in PERSONAL_FIELDS}
    if isinstance(value, list):
        return [strip_personal(v) for v in value]
    return value


def personal_traces(*values: Any) -> re.Pattern[str] | None:
    """A pattern for every personal value held in `values` (names, lines, phones, e-mails, free text), in any
    case, and for a phone as carriers rewrite it (its digits, its subscriber part), so every copy is found
    whatever key a carrier or marketplace stored it under."""
    found: set[str] = set()

    def walk(value: Any, personal: bool = False) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, personal or key in PERSONAL_FIELDS)
        elif isinstance(value, list):
            for item in value:
                walk(item, personal)
        elif personal and isinstance(value, str) and len(value.strip()) >= 3:
            found.add(value.strip())
            found.update(word for word in re.split(r"[\s,]+", value) if len(word) >= 4 and not word.isdigit())
            digits = re.sub(r"\D", "", value)
            if len(digits) >= 7 and not _EMAIL.search(value):
                found.update({digits, digits[-7:]})

    for value in values:
        walk(value)
    if not found:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(found, key=len, reverse=True)), re.IGNORECASE)


def scrub_personal(value: Any, traces: re.Pattern[str] | None) -> Any:
    """`strip_personal`, then every remaining occurrence of the traces replaced, at any depth."""
    value = strip_personal(value)
    if traces is None:
        return value
    if isinstance(value, dict):
        return {k: scrub_personal(v, traces) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_personal(v, traces) for v in value]
    if isinstance(value, str):
        return traces.sub(REDACTED, value)
    return value


@dataclass(frozen=True)
class PurgeResult:
    cases: int
    payloads: int
    shipments: int


class PiiPurge:
    """Blank buyers' personal data of cases closed before the retention cut-off, and old webhook payloads."""

    def __init__(self, session_factory: sessionmaker[Session], retention_days: int,
                 clock: Callable[[], datetime], batch: int = 500) -> None:  # fmt: skip
        self.session_factory = session_factory
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self.batch = batch

    def _purge_copies(self, session: Session, case_id: str, traces: re.Pattern[str] | None) -> int:
        """Every other copy of one case's personal data; the number of carrier bookings blanked."""

        def scrub(value: Any) -> Any:
            return scrub_personal(value, traces) if value is not None else None

        def scrub_text(value: str | None) -> str | None:
            return traces.sub(REDACTED, value) if value and traces is not None else value

        shipments = 0
        for shipment in session.scalars(select(ShipmentRow).where(ShipmentRow.case_id == case_id)):
            shipment.request, shipment.response = scrub(shipment.request or {}), scrub(shipment.response)
            shipment.error, shipment.label_pdf_base64 = scrub_text(shipment.error), None
            shipments += 1
        for delivery in session.scalars(select(NoticeDeliveryRow).where(NoticeDeliveryRow.case_id == case_id)):
            # The buyer's address and the message as sent to it (To: header, payload `to`).
            delivery.recipient, delivery.message = None, PURGED_PAYLOAD
            delivery.response, delivery.error = scrub(delivery.response), scrub_text(delivery.error)
        for notice in session.scalars(select(NoticeRow).where(NoticeRow.case_id == case_id)):
            notice.context = scrub(notice.context or {})
        for entry in session.scalars(select(TimelineRow).where(TimelineRow.case_id == case_id)):
            entry.detail = scrub(entry.detail or {})  # operator notes, carrier answers, failure texts
        for claim in session.scalars(select(CustomsClaimRow).where(CustomsClaimRow.case_id == case_id)):
            claim.request, claim.response, claim.error = (
                scrub(claim.request),
                scrub(claim.response),
                scrub_text(claim.error),
            )
        for decision in session.scalars(
            select(MarketplaceDecisionRow).where(MarketplaceDecisionRow.case_id == case_id)
        ):
            decision.answer = scrub(decision.answer)
        session.execute(
            update(ReceivedEventRow).where(ReceivedEventRow.case_id == case_id).values(payload=PURGED_PAYLOAD)
        )
        # The outbox has no case column: its messages name the case in their body. Published ones are history
        # (blanked); one still waiting keeps its shape, without the personal values.
        for message in session.scalars(select(OutboxRow).where(cast(OutboxRow.body, Text).contains(case_id))):
            message.body = {**PURGED_PAYLOAD, "case_id": case_id} if message.published_at else scrub(message.body)
            message.last_error = scrub_text(message.last_error)
        return shipments

    def run_once(self) -> PurgeResult:
        now = self.clock()
        cutoff = now - self.retention
        cases = shipments = 0
        with self.session_factory() as session:
            rows = session.scalars(
                select(CaseRow)
                .where(CaseRow.state.in_(CLOSED_STATES), CaseRow.updated_at < cutoff)
                .order_by(CaseRow.updated_at)
                .limit(self.batch * 4)
            )
            for row in rows:
                if (row.facts or {}).get("pii_purged_at"):
                    continue
                traces = personal_traces(row.order, row.return_, row.facts)
                blanked = {
                    "order": scrub_personal(row.order, traces),
                    "return_": scrub_personal(row.return_, traces),
                    "items": scrub_personal(row.items, traces),
                    "facts": {**scrub_personal(row.facts or {}, traces), "pii_purged_at": now.isoformat()},
                    "version": row.version + 1,
                }
                # An UPDATE's result is a CursorResult (rowcount); Session.execute is typed for any statement.
                changed = typing.cast(
                    "CursorResult[Any]",
                    session.execute(
                        update(CaseRow)
                        .where(CaseRow.id == row.id, CaseRow.version == row.version)
                        .values(**blanked)
                        .execution_options(synchronize_session=False)
                    ),
                )
                if changed.rowcount != 1:
                    continue  # changed meanwhile: the next round looks again
                cases += 1
                # The analytics' buyer pseudonym goes with the buyer's data; the counts stay.
                session.execute(update(ReturnFactsRow).where(ReturnFactsRow.case_id == row.id).values(buyer_key=None))
                shipments += self._purge_copies(session, row.id, traces)
                if cases >= self.batch:
                    break
            payloads = typing.cast(
                "CursorResult[Any]",
                session.execute(
                    update(ReceivedEventRow)
                    .where(ReceivedEventRow.received_at < cutoff, cast(ReceivedEventRow.payload, Text) != PURGED_TEXT)
                    .values(payload=PURGED_PAYLOAD)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
            session.commit()
        result = PurgeResult(cases, payloads or 0, shipments)
        if cases or payloads:
            log.info("purged personal data: %d cases, %d webhook payloads, %d shipments", *vars(result).values())
        return result
