"""`returns.notify.<channel>`: deliver each buyer notice once per channel, whatever is redelivered.

The case records a notice and emits `notify.<channel>.send` with the idempotency key
`<case>:notice:<kind>:<channel>` (core/notices.py). Each delivery is an outbound effect
(service/effects.py), as carrier bookings are: the intent is stored under the key before
the provider is called, with the message as rendered (`notice_deliveries`, same id). A
redelivered command finds a final effect and sends nothing; a failure that certainly sent
nothing is retried through the queue's delay queues; one that may have sent (connection
lost after DATA, read timeout) is left `unknown` for a person instead of risking a second
message. Without configuration (the embedded default) the rendered message is recorded
and shown, not sent.

Every outcome is recorded on the effect (shown with the case by `GET /returns/<id>`);
only failed and uncertain ones also touch the case itself (timeline entry and attention
flag), so that routine deliveries never contend with the case's other writers for its
version.
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
from adapters.storage.ports import ConcurrentUpdate
from adapters.storage.unit_of_work import UnitOfWork, new_id
from config.settings import Settings
from core.cases import Notice, ReturnCase
from core.effects import EffectKind, EffectState, Step, status_label
from core.notices import NoticeDelivery
from service.buyer_links import BuyerLinks
from service.effects import Intent, OutboundEffectsFlow

log = logging.getLogger(__name__)

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
        self.effects = OutboundEffectsFlow(uow, clock)

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
            self._finish(message, delivery_id, kind, EffectState.REFUSED, error=str(exc))
            return
        except TransientNotifyError as exc:
            if exc.maybe_delivered:
                self._finish(message, delivery_id, kind, EffectState.UNKNOWN,
                             error=f"{exc}: it may have been delivered; not resent")  # fmt: skip
                return
            self.effects.retrying(delivery_id, str(exc))
            raise
        self._finish(message, delivery_id, kind, EffectState.DONE, sent=sent)

    def _prepare(self, message: IncomingMessage, case_id: str, kind: str, key: str) -> tuple[str, Outgoing] | None:
        """Record the intent to send before sending; None when there is nothing (more) to send."""
        with self.uow() as uow:
            now = self.clock()
            found = self.effects.find(uow, key)
            if found.step == Step.NOTHING:
                uow.processed.mark_once(self.consumer, message.message_id, now)
                uow.commit()
                return None
            case = uow.cases.get(case_id)
            if case is None:
                raise Reject(f"case {case_id} does not exist")
            notice = next((n for n in case.notices if n.kind == kind), None)
            if notice is None:
                raise Reject(f"case {case_id} has no notice {kind!r}")
            if found.step == Step.INTERRUPTED and found.effect is not None:
                # A previous attempt died between sending and recording: never send blindly again.
                effect = self.effects.interrupt(uow, found.effect, now)
                uow.processed.mark(self.consumer, message.message_id, now)
                uow.commit()
                self._flag_case(case_id, EffectState.UNKNOWN, kind, effect.id, effect.error)
                return None
            page_url = self.links.url(case.id, case.created_at or now) if self.links else None
            outgoing = outgoing_for(
                case, notice, self.channel, key, self.notifier, self.settings.default_locale, page_url
            )
            state = self._initial_state(outgoing)
            intent = Intent(case_id, EffectKind.NOTICE, self.channel, key, new_id("ntc"))
            if state == EffectState.SENDING:
                effect = self.effects.send(uow, found.effect, intent, now)
            else:
                error = (
                    f"no RB_* settings for {self.channel}: recorded and shown, not sent"
                    if state == EffectState.NOT_SENT
                    else f"the order gives no address for {self.channel}"
                )
                effect = self.effects.record_unsent(uow, found.effect, intent, state, now, error=error)
                uow.processed.mark(self.consumer, message.message_id, now)
            if found.effect is None:
                uow.notice_deliveries.add(
                    NoticeDelivery(
                        effect.id,
                        case_id,
                        kind,
                        self.channel,
                        now,
                        effect,
                        outgoing.recipient or None,
                        outgoing.notice.locale,
                        self.notifier.describe(outgoing, self.settings),
                    )
                )
            uow.commit()
            return (effect.id, outgoing) if state == EffectState.SENDING else None

    def _initial_state(self, outgoing: Outgoing) -> str:
        if not self.notifier.configured(self.settings):
            return EffectState.NOT_SENT
        if not outgoing.recipient:
            return EffectState.NO_RECIPIENT
        return EffectState.SENDING

    def _finish(
        self,
        message: IncomingMessage,
        delivery_id: str,
        kind: str,
        state: str,
        sent: Sent | None = None,
        error: str | None = None,
    ) -> None:
        """The delivery's outcome is committed first, on its own: a clash on the case must not make a sent
        message look unsent (a redelivery would then see `sending` and flag it unknown)."""
        with self.uow() as uow:
            now = self.clock()
            effect = self.effects.settle(uow, delivery_id, state, now, sent.detail if sent is not None else None, error)
            if effect is None:
                raise Reject(f"notice delivery {delivery_id} vanished")
            uow.processed.mark_once(self.consumer, message.message_id, now)
            uow.commit()
        if state in (EffectState.REFUSED, EffectState.UNKNOWN):
            self._flag_case(effect.case_id, state, kind, delivery_id, error)

    def _flag_case(self, case_id: str, status: str, kind: str, delivery_id: str, error: str | None) -> None:
        """A failed or uncertain delivery needs a person: it joins the timeline and flags the case.

        Only these rare outcomes touch the case row. Routine outcomes live on the delivery's outbound
        effect (shown with the case), so delivery consumers do not contend with the case and carrier
        handlers for the case's version.
        """
        detail = {"notice": kind, "channel": self.channel, "delivery_id": delivery_id, "message": error}
        outcome = status_label(EffectKind.NOTICE, status)  # `notice_failed`, `notice_unknown`, as ever
        for _attempt in range(_CASE_SAVE_ATTEMPTS):
            try:
                with self.uow() as uow:
                    case = uow.cases.get(case_id)
                    if case is None:
                        return
                    now = self.clock()
                    case.record_result(f"notice_{outcome}", detail, now, attention=True)
                    uow.cases.save(case, now)
                    uow.commit()
                    return
            except ConcurrentUpdate:
                continue
        log.warning("%s: could not flag case %s (notice %s %s) after %d attempts", self.consumer, case_id, kind,
                    status, _CASE_SAVE_ATTEMPTS)  # fmt: skip
