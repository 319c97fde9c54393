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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, select, update
from sqlalchemy.orm import Session, sessionmaker

from adapters.storage.models import CaseRow, NoticeDeliveryRow, ReceivedEventRow, ReturnFactsRow, ShipmentRow
from service.operations import CLOSED_STATES

log = logging.getLogger(__name__)

# Fields that identify a person, wherever they appear in an address, a buyer or a carrier request.
PERSONAL_FIELDS = frozenset(
    {"name", "line1", "line2", "line3", "postal_code", "phone", "email", "fullName", "addressLine1", "addressLine2",
     "addressLine3", "postalCode", "phone_number", "mobilePhone", "companyName", "contactInformation",
     "reason_detail"}
)  # fmt: skip
REDACTED = "[redacted]"
PURGED_PAYLOAD = {"purged": True}
PURGED_TEXT = json.dumps(PURGED_PAYLOAD)  # how SQLAlchemy's JSON type stores it, on SQLite and PostgreSQL

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w.:/-])\+?\d[\d ()./-]{6,}\d(?![\w.:-])")
_FIELD_NAMES = "|".join(sorted(PERSONAL_FIELDS))
_JSON_FIELD = re.compile(r"""(?P<key>["']?(?:""" + _FIELD_NAMES + r""")["']?\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*')""")
_SECRET_SHAPES = (
    re.compile(r"whsec_[A-Za-z0-9+/=]+"),
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer|basic)\s+[^\s\"',}]+"),
    re.compile(r"(?i)(amqps?|postgresql(?:\+psycopg)?)://([^:/@\s]+):([^@\s]+)@"),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Personal data and secrets out of one log line (whole values of known secrets, then known shapes)."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    text = _SECRET_SHAPES[0].sub(REDACTED, text)
    text = _SECRET_SHAPES[1].sub(lambda m: f"{m.group(1)}{m.group(2)} {REDACTED}", text)
    text = _SECRET_SHAPES[2].sub(lambda m: f"{m.group(1)}://{m.group(2)}:{REDACTED}@", text)
    text = _JSON_FIELD.sub(lambda m: f'{m.group("key")}"{REDACTED}"', text)
    text = _EMAIL.sub(REDACTED, text)
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
    """Values of settings that are secrets by name (RB_*_SECRET, _KEY, _TOKEN, _PASSWORD) or URL passwords."""
    found = [v for k, v in env.items() if re.search(r"(SECRET|_KEY|TOKEN|PASSWORD)$", k) and v]
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
                blanked = {
                    "order": strip_personal(row.order),
                    "return_": strip_personal(row.return_),
                    "facts": {**(row.facts or {}), "pii_purged_at": now.isoformat()},
                    "version": row.version + 1,
                }
                changed = session.execute(
                    update(CaseRow)
                    .where(CaseRow.id == row.id, CaseRow.version == row.version)
                    .values(**blanked)
                    .execution_options(synchronize_session=False)
                )
                if changed.rowcount != 1:
                    continue  # changed meanwhile: the next round looks again
                cases += 1
                # The analytics' buyer pseudonym goes with the buyer's data; the counts stay.
                session.execute(update(ReturnFactsRow).where(ReturnFactsRow.case_id == row.id).values(buyer_key=None))
                for shipment in session.scalars(select(ShipmentRow).where(ShipmentRow.case_id == row.id)):
                    shipment.request = strip_personal(shipment.request or {})
                    shipment.response = strip_personal(shipment.response) if shipment.response else None
                    shipment.label_pdf_base64 = None
                    shipments += 1
                for delivery in session.scalars(select(NoticeDeliveryRow).where(NoticeDeliveryRow.case_id == row.id)):
                    # The buyer's address and the message as sent to it (To: header, payload `to`).
                    delivery.recipient = None
                    delivery.message = PURGED_PAYLOAD
                    delivery.response = strip_personal(delivery.response) if delivery.response else None
                if cases >= self.batch:
                    break
            payloads = session.execute(
                update(ReceivedEventRow)
                .where(ReceivedEventRow.received_at < cutoff, cast(ReceivedEventRow.payload, Text) != PURGED_TEXT)
                .values(payload=PURGED_PAYLOAD)
                .execution_options(synchronize_session=False)
            ).rowcount
            session.commit()
        result = PurgeResult(cases, payloads or 0, shipments)
        if cases or payloads:
            log.info("purged personal data: %d cases, %d webhook payloads, %d shipments", *vars(result).values())
        return result
