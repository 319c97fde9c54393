"""`returns.notify.<channel>`: deliver each buyer notice once per channel, whatever is redelivered.

The case records a notice and emits `notify.<channel>.send` with the idempotency key
`<case>:notice:<kind>:<channel>` (core/notices.py). Here, as for carrier bookings
(service/carrier_bookings.py), the intent is stored before the provider is called: a
`notice_deliveries` row per key. A redelivered command finds a final row and sends
nothing; a failure that certainly sent nothing is retried through the queue's delay
queues; one that may have sent (connection lost after DATA, read timeout) is left
for a person instead of risking a second message. Without configuration (the
embedded default) the rendered message is recorded and shown, not sent.

Every outcome is recorded in `notice_deliveries` (shown with the case by
`GET /returns/<id>`); only failed and uncertain ones also touch the case itself
(timeline entry and attention flag), so that routine deliveries never contend
with the case's other writers for its version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from adapters.messages import IncomingMessage, Reject
from adapters.notifiers import NOTIFIERS
from adapters.notifiers.base import Notifier, Outgoing, PermanentNotifyError, Sent, TransientNotifyError
from adapters.notifiers.negotiation import negotiate
from adapters.notifiers.render import buyer_zone, render
from adapters.storage.models import NoticeDeliveryRow
from adapters.storage.ports import ConcurrentUpdate
from adapters.storage.unit_of_work import UnitOfWork, new_id
from config.settings import Settings
from core.cases import Notice, ReturnCase
from service.buyer_links import BuyerLinks

log = logging.getLogger(__name__)

# Delivery statuses. FINAL ones end the story for that key: a redelivery sends nothing.
SENT, NOT_SENT, NO_RECIPIENT, SENDING, RETRYING, FAILED, UNKNOWN = (
    "sent",
    "not_sent",
    "no_recipient",
    "sending",
    "retrying",
    "failed",
    "unknown",
)
FINAL = {SENT, NOT_SENT, NO_RECIPIENT, FAILED, UNKNOWN}
_CASE_SAVE_ATTEMPTS = 5


def outgoing_for(
    case: ReturnCase,
    notice: Notice,
    channel: str,
    key: str,
    notifier: Notifier,
    default_locale: str | None = None,
    page_url: str | None = None,
) -> Outgoing:
    """The notice rendered as the buyer reads it: their locale and time zone from the order, ending with
    the link to their page."""
    buyer = case.order.buyer
    negotiated = negotiate([buyer.locale if buyer else None, default_locale])
    zone = buyer_zone(buyer.timezone if buyer else None)
    rendered = render(notice.kind, notice.context, negotiated, zone, notice.at, page_url=page_url)
    return Outgoing(
        case_id=case.id,
        kind=notice.kind,
        channel=channel,
        idempotency_key=key,
        recipient=notifier.recipient(buyer) or "",
        notice=rendered,
    )


class NoticeDeliveries:
    """Consumer of `notify.<channel>.#`: one message per notice per channel."""

    def __init__(
        self,
        channel: str,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        settings: Settings,
        notifier: Notifier | None = None,
        links: BuyerLinks | None = None,
    ) -> None:
        self.links = links
        self.channel = channel
        self.notifier: Notifier = notifier or NOTIFIERS.get(channel)
        self.consumer = f"notify.{channel}"
        self.uow = uow
        self.clock = clock
        self.settings = settings

    def __call__(self, message: IncomingMessage) -> None:
        body = message.body
        key, case_id = body.get("idempotency_key"), body.get("case_id")
        kind = (body.get("payload") or {}).get("notice")
        if body.get("action") != "send" or not key or not case_id or not kind:
            raise Reject(f"{self.consumer} does not handle {body.get('action')!r} without case, key and notice")
        prepared = self._prepare(message, case_id, kind, key)
        if prepared is None:
            return
        delivery_id, outgoing = prepared
        try:
            sent = self.notifier.send(outgoing, self.settings)
        except PermanentNotifyError as exc:
            self._finish(message, delivery_id, FAILED, error=str(exc))
            return
        except TransientNotifyError as exc:
            if exc.maybe_delivered:
                self._finish(message, delivery_id, UNKNOWN, error=f"{exc}: it may have been delivered; not resent")
                return
            self._mark_retrying(delivery_id, str(exc))
            raise
        self._finish(message, delivery_id, SENT, sent=sent)

    def _prepare(self, message: IncomingMessage, case_id: str, kind: str, key: str) -> tuple[str, Outgoing] | None:
        """Record the intent to send before sending; None when there is nothing (more) to send."""
        with self.uow() as uow:
            now = self.clock()
            existing: NoticeDeliveryRow | None = uow.notice_deliveries.by_key(key)
            if existing is not None and existing.status in FINAL:
                uow.processed.mark_once(self.consumer, message.message_id, now)
                uow.commit()
                return None
            case = uow.cases.get(case_id)
            if case is None:
                raise Reject(f"case {case_id} does not exist")
            notice = next((n for n in case.notices if n.kind == kind), None)
            if notice is None:
                raise Reject(f"case {case_id} has no notice {kind!r}")
            if existing is not None and existing.status == SENDING:
                # A previous attempt died between sending and recording: never send blindly again.
                error = "interrupted while sending; check with the provider before sending again"
                existing.status, existing.error, existing.updated_at = UNKNOWN, error, now
                uow.processed.mark(self.consumer, message.message_id, now)
                uow.commit()
                self._flag_case(case_id, UNKNOWN, existing.kind, existing.id, error)
                return None
            page_url = self.links.url(case.id, case.created_at or now) if self.links else None
            outgoing = outgoing_for(
                case, notice, self.channel, key, self.notifier, self.settings.default_locale, page_url
            )
            status = self._initial_status(outgoing)
            if existing is None:
                existing = uow.notice_deliveries.add(
                    NoticeDeliveryRow(
                        id=new_id("ntc"),
                        case_id=case_id,
                        kind=kind,
                        channel=self.channel,
                        idempotency_key=key,
                        status=status,
                        attempts=0,
                        recipient=outgoing.recipient or None,
                        locale=outgoing.notice.locale,
                        message=self.notifier.describe(outgoing, self.settings),
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                existing.status, existing.updated_at = status, now
            if status == SENDING:
                existing.attempts += 1
                uow.commit()
                return existing.id, outgoing
            existing.error = (
                f"no RB_* settings for {self.channel}: recorded and shown, not sent"
                if status == NOT_SENT
                else f"the order gives no address for {self.channel}"
            )
            uow.processed.mark(self.consumer, message.message_id, now)
            uow.commit()
            return None

    def _initial_status(self, outgoing: Outgoing) -> str:
        if not self.notifier.configured(self.settings):
            return NOT_SENT
        if not outgoing.recipient:
            return NO_RECIPIENT
        return SENDING

    def _mark_retrying(self, delivery_id: str, error: str) -> None:
        with self.uow() as uow:
            row = uow.notice_deliveries.get(delivery_id)
            if row is not None:
                row.status, row.error, row.updated_at = RETRYING, error, self.clock()
                uow.commit()

    def _finish(
        self,
        message: IncomingMessage,
        delivery_id: str,
        status: str,
        sent: Sent | None = None,
        error: str | None = None,
    ) -> None:
        """The delivery's outcome is committed first, on its own: a clash on the case must not make a sent
        message look unsent (a redelivery would then see `sending` and flag it unknown)."""
        with self.uow() as uow:
            row = uow.notice_deliveries.get(delivery_id)
            if row is None:
                raise Reject(f"notice delivery {delivery_id} vanished")
            now = self.clock()
            row.status, row.error, row.updated_at = status, error, now
            if sent is not None:
                row.response = sent.detail
            case_id, kind = row.case_id, row.kind
            uow.processed.mark_once(self.consumer, message.message_id, now)
            uow.commit()
        if status in (FAILED, UNKNOWN):
            self._flag_case(case_id, status, kind, delivery_id, error)

    def _flag_case(self, case_id: str, status: str, kind: str, delivery_id: str, error: str | None) -> None:
        """A failed or uncertain delivery needs a person: it joins the timeline and flags the case.

        Only these rare outcomes touch the case row. Routine outcomes live in `notice_deliveries`
        (shown with the case), so delivery consumers do not contend with the case and carrier
        handlers for the case's version.
        """
        detail = {"notice": kind, "channel": self.channel, "delivery_id": delivery_id, "message": error}
        for _attempt in range(_CASE_SAVE_ATTEMPTS):
            try:
                with self.uow() as uow:
                    case = uow.cases.get(case_id)
                    if case is None:
                        return
                    now = self.clock()
                    case.record_result(f"notice_{status}", detail, now, attention=True)
                    uow.cases.save(case, now)
                    uow.commit()
                    return
            except ConcurrentUpdate:
                continue
        log.warning("%s: could not flag case %s (notice %s %s) after %d attempts", self.consumer, case_id, kind,
                    status, _CASE_SAVE_ATTEMPTS)  # fmt: skip
