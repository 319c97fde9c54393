"""`returns.notify.buyer`: deliver each buyer notice once on each of its channels, whatever is redelivered.

The case records a notice and emits one `notify.buyer.send` command carrying the notice's channels
(core/notices.py `notice_command`). The consumer reads the case and renders the notice once, then
treats each channel as its own outbound effect (service/effects.py), as carrier bookings are, under
the per-channel key `<case>:notice:<kind>:<channel>`: the intent is stored under that key before the
provider is called, with the message as rendered (`notice_deliveries`, same id). A redelivered
command finds a channel's final effect and sends nothing on it; a failure that certainly sent
nothing is retried through the queue's delay queues (the channels already done are skipped then);
one that may have sent (connection lost after DATA, read timeout) is left `unknown` for a person
instead of risking a second message. Without configuration (the embedded default) the rendered
message is recorded and shown, not sent.

Only the channel being sent is ever `sending`: the outcome of one channel is committed with the
intent of the next, so a process that dies mid-call leaves at most that one channel for a person.
The previous version's per-channel commands (`notify.<channel>.send`, keyed per channel) are still
accepted on their own queues, so messages already queued are delivered once under the same keys.

Every outcome is recorded on the effect (shown with the case by `GET /returns/<id>`);
only failed and uncertain ones also touch the case itself (timeline entry and attention
flag), so that routine deliveries never contend with the case's other writers for its
version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from adapters.messages import IncomingMessage, Reject
from adapters.notifiers.base import Notifier, Outgoing, PermanentNotifyError, Sent, TransientNotifyError
from adapters.notifiers.negotiation import negotiate
from adapters.notifiers.render import Rendered, buyer_zone, render
from adapters.storage.ports import ConcurrentUpdate
from adapters.storage.unit_of_work import UnitOfWork, new_id
from config.settings import Settings
from core.cases import Notice
from core.effects import EffectKind, EffectState, OutboundEffect, Step, status_label
from core.events import Buyer
from core.notices import NoticeDelivery, NoticeToDeliver, delivery_key
from service.buyer_links import BuyerLinks
from service.effects import Begun, Intent, OutboundEffectsFlow

log = logging.getLogger(__name__)

_CASE_SAVE_ATTEMPTS = 5


def rendered_for(buyer: Buyer | None, notice: Notice, default_locale: str | None = None,
                 page_url: str | None = None) -> Rendered:  # fmt: skip
    """The notice as the buyer reads it: their locale and time zone from the order, ending with the link to
    their page. The same on every channel, so it is rendered once per notice."""
    negotiated = negotiate([buyer.locale if buyer else None, default_locale])
    zone = buyer_zone(buyer.timezone if buyer else None)
    return render(notice.kind, notice.context, negotiated, zone, notice.at, page_url=page_url)


@dataclass(frozen=True)
class _Channel:
    """One channel of a notice to deliver: its notifier and the key its single message goes under."""

    name: str
    key: str
    notifier: Notifier


@dataclass(frozen=True)
class _Sending:
    """A channel whose intent is recorded (`sending`) and whose message goes out next."""

    channel: str
    delivery_id: str
    outgoing: Outgoing
    notifier: Notifier


@dataclass(frozen=True)
class _Flag:
    """A failed or uncertain channel, told to the case after the outcomes are committed."""

    state: str
    channel: str
    delivery_id: str
    error: str | None


@dataclass(frozen=True)
class _Outcome:
    """What one call gave: the effect's next state, the provider's answer or what went wrong."""

    sending: _Sending
    state: str
    sent: Sent | None = None
    error: str | None = None
    retry: TransientNotifyError | None = None  # a failure that sent nothing: the queue's retry comes back


@dataclass
class _Run:
    """One command's delivery across its transactions: the channels still to do, and what was read once."""

    message: IncomingMessage
    case_id: str
    kind: str
    pending: list[_Channel]
    found: dict[str, Begun] = field(default_factory=dict)  # each channel's effect, found in one query
    reading: NoticeToDeliver | None = None
    rendered: Rendered | None = None
    flags: list[_Flag] = field(default_factory=list)
    retry: TransientNotifyError | None = None


class NoticeDeliveries:
    """Consumer of `notify.buyer.#` (one message per notice, with its channels) and, for messages the
    previous version queued, of `notify.<channel>.#` (one message per notice per channel)."""

    def __init__(
        self,
        consumer: str,
        notifiers: Mapping[str, Notifier],
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        settings: Settings,
        links: BuyerLinks | None = None,
    ) -> None:
        self.consumer = consumer
        self.notifiers = dict(notifiers)
        self.links = links
        self.uow = uow
        self.clock = clock
        self.settings = settings
        self.effects = OutboundEffectsFlow(uow, clock)

    def __call__(self, message: IncomingMessage) -> None:
        body = message.body
        key, case_id = body.get("idempotency_key"), body.get("case_id")
        payload = body.get("payload") or {}
        kind = payload.get("notice")
        if body.get("action") != "send" or not key or not case_id or not kind:
            raise Reject(f"{self.consumer} does not handle {body.get('action')!r} without case, key and notice")
        run = _Run(message, case_id, kind, self._channels(message, case_id, kind, key, payload.get("channels")))
        try:
            self._deliver(run)
        finally:
            for flag in run.flags:
                self._flag_case(case_id, flag.state, kind, flag.channel, flag.delivery_id, flag.error)

    def _channels(self, message: IncomingMessage, case_id: str, kind: str, key: str,
                  listed: object) -> list[_Channel]:  # fmt: skip
        """The channels to deliver on, each under its own key: listed by the command, or (a per-channel
        command of the previous version) named by its routing key and keyed by the command itself."""
        if listed is None:
            name = message.routing_key.split(".")[1] if message.routing_key.count(".") >= 2 else ""
            if name not in self.notifiers:
                raise Reject(f"{self.consumer} has no notifier for {message.routing_key!r}")
            return [_Channel(name, key, self.notifiers[name])]
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise Reject(f"{self.consumer}: the notice's channels must be a list of names")
        unknown = [c for c in listed if c not in self.notifiers]
        if unknown:
            # The case only lists channels this service has (core/notices.py CHANNELS): a bug, not a retry.
            log.warning("%s: no notifier for %s (case %s, notice %s)", self.consumer, unknown, case_id, kind)
        return [_Channel(c, delivery_key(case_id, kind, c), self.notifiers[c]) for c in listed if c in self.notifiers]

    def _deliver(self, run: _Run) -> None:
        """Each channel once: the outcome of one is committed with the intent of the next.

        A transient failure on one channel does not stop the others; it is raised at the end, so the
        queue's retry comes back for that channel only (the ones done find their final effect)."""
        outcome: _Outcome | None = None
        while (sending := self._step(run, outcome)) is not None:
            outcome = self._send(sending)
            run.retry = run.retry or outcome.retry
        if run.retry is not None:
            raise run.retry

    def _send(self, sending: _Sending) -> _Outcome:
        """The one call to the provider, outside any transaction."""
        try:
            return _Outcome(sending, EffectState.DONE, sent=sending.notifier.send(sending.outgoing, self.settings))
        except PermanentNotifyError as exc:
            return _Outcome(sending, EffectState.REFUSED, error=str(exc))
        except TransientNotifyError as exc:
            if exc.maybe_delivered:
                return _Outcome(sending, EffectState.UNKNOWN, error=f"{exc}: it may have been delivered; not resent")
            return _Outcome(sending, EffectState.RETRYING, error=str(exc), retry=exc)

    def _step(self, run: _Run, outcome: _Outcome | None) -> _Sending | None:
        """One transaction: the previous channel's outcome, then every channel up to the next one to send
        (those with nothing more to send are settled here). None when no channel is left to send; the
        message is then marked handled, unless a channel waits for the queue's retry."""
        flags: list[_Flag] = []  # told to the case only once this transaction is committed
        with self.uow() as uow:
            now = self.clock()
            if outcome is not None:
                self._settle(uow, outcome, now, flags)
            else:  # the first step finds every channel's effect in one query; later ones look again
                run.found.update(self.effects.find_all(uow, [c.key for c in run.pending]))
            sending = None
            while run.pending and sending is None:
                channel = run.pending.pop(0)
                sending = self._begin(uow, run, channel, now, flags)
            run.found.clear()  # a channel begun in a later transaction finds its effect in that one
            if sending is None and run.retry is None:
                uow.processed.mark_once(self.consumer, run.message.message_id, now)
            uow.commit()
        run.flags.extend(flags)
        return sending

    def _begin(self, uow: UnitOfWork, run: _Run, channel: _Channel, now: datetime,
               flags: list[_Flag]) -> _Sending | None:  # fmt: skip
        """The channel's intent, to be committed before its call; None when there is nothing to send on it."""
        begun = run.found.pop(channel.key, None) or self.effects.find(uow, channel.key)
        if begun.step == Step.NOTHING:
            return None
        if run.reading is None:
            run.reading = uow.cases.notice_of(run.case_id, run.kind)  # read once, and only what is needed
            if run.reading is None:
                raise Reject(f"case {run.case_id} does not exist")
            if run.reading.at is None:
                raise Reject(f"case {run.case_id} has no notice {run.kind!r}")
        if begun.step == Step.INTERRUPTED and begun.effect is not None:
            # A previous attempt died between sending and recording: never send blindly again.
            effect = self.effects.interrupt(uow, begun.effect, now)
            flags.append(_Flag(EffectState.UNKNOWN, channel.name, effect.id, effect.error))
            return None
        if run.rendered is None:
            run.rendered = self._render(run.reading, now)
        return self._record(uow, run.reading, channel, begun.effect, run.rendered, now)

    def _render(self, reading: NoticeToDeliver, now: datetime) -> Rendered:
        page_url = self.links.url(reading.case_id, reading.created_at or now) if self.links else None
        notice = Notice(reading.kind, reading.at or now, dict(reading.context))
        return rendered_for(reading.buyer, notice, self.settings.default_locale, page_url)

    def _record(self, uow: UnitOfWork, reading: NoticeToDeliver, channel: _Channel, previous: OutboundEffect | None,
                rendered: Rendered, now: datetime) -> _Sending | None:  # fmt: skip
        """The channel's intent (`sending`), or its outcome when there is nothing to send (not configured,
        no address), with the message as rendered for it; the intent is committed before the call."""
        notifier = channel.notifier
        outgoing = Outgoing(case_id=reading.case_id, kind=rendered.kind, channel=channel.name, idempotency_key=channel.key,
                            recipient=notifier.recipient(reading.buyer) or "", notice=rendered)  # fmt: skip
        state = self._initial_state(notifier, outgoing)
        intent = Intent(reading.case_id, EffectKind.NOTICE, channel.name, channel.key, new_id("ntc"))
        if state == EffectState.SENDING:
            effect = self.effects.send(uow, previous, intent, now)
        else:
            error = (
                f"no RB_* settings for {channel.name}: recorded and shown, not sent"
                if state == EffectState.NOT_SENT
                else f"the order gives no address for {channel.name}"
            )
            effect = self.effects.record_unsent(uow, previous, intent, state, now, error=error)
        if previous is None:
            uow.notice_deliveries.add(
                NoticeDelivery(
                    effect.id,
                    reading.case_id,
                    outgoing.kind,
                    channel.name,
                    now,
                    effect,
                    outgoing.recipient or None,
                    rendered.locale,
                    notifier.describe(outgoing, self.settings),
                )
            )
        return _Sending(channel.name, effect.id, outgoing, notifier) if state == EffectState.SENDING else None

    def _initial_state(self, notifier: Notifier, outgoing: Outgoing) -> str:
        if not notifier.configured(self.settings):
            return EffectState.NOT_SENT
        if not outgoing.recipient:
            return EffectState.NO_RECIPIENT
        return EffectState.SENDING

    def _settle(self, uow: UnitOfWork, outcome: _Outcome, now: datetime, flags: list[_Flag]) -> None:
        """The channel's outcome, committed with the next step: a clash on the case never makes a sent
        message look unsent (the case is not written here)."""
        sending, state, sent, error = outcome.sending, outcome.state, outcome.sent, outcome.error
        if state == EffectState.RETRYING:
            self.effects.retry(uow, sending.delivery_id, error or "", now)
            return
        effect = self.effects.settle(uow, sending.delivery_id, state, now, sent.detail if sent else None, error)
        if effect is None:
            raise Reject(f"notice delivery {sending.delivery_id} vanished")
        if state in (EffectState.REFUSED, EffectState.UNKNOWN):
            flags.append(_Flag(state, sending.channel, sending.delivery_id, error))

    def _flag_case(self, case_id: str, status: str, kind: str, channel: str, delivery_id: str,
                   error: str | None) -> None:  # fmt: skip
        """A failed or uncertain delivery needs a person: it joins the timeline and flags the case.

        Only these rare outcomes touch the case row. Routine outcomes live on the delivery's outbound
        effect (shown with the case), so delivery consumers do not contend with the case and carrier
        handlers for the case's version.
        """
        detail = {"notice": kind, "channel": channel, "delivery_id": delivery_id, "message": error}
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
        log.warning("%s: could not flag case %s (notice %s on %s %s) after %d attempts", self.consumer, case_id,
                    kind, channel, status, _CASE_SAVE_ATTEMPTS)  # fmt: skip
