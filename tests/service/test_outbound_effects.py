"""Outbound effects in the service layer, on the in-memory unit of work: intent before the call, one send per key.

A scripted notifier stands in for the provider, so a notice delivery shows the mechanism every kind uses
(service/effects.py): a redelivery sends nothing more, a failure that did nothing is retried, one after
which the message may have arrived is left for a person, and an interrupted attempt is never sent again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.messages import IncomingMessage
from adapters.notifiers.base import Outgoing, PermanentNotifyError, Sent, TransientNotifyError
from adapters.storage.ports import DuplicateKey
from core.cases import open_case
from core.effects import EffectKind, intended
from service.canonical import load_event
from service.effects import Intent, OutboundEffectsFlow
from service.notice_delivery import NoticeDeliveries
from tests.conftest import example, make_settings
from tests.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class ScriptedNotifier:
    """Answers each send with the next of `answers` (an exception is raised); counts what was sent."""

    name = "email"

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.sent: list[Outgoing] = []

    def configured(self, settings: Any) -> bool:
        return True

    def recipient(self, buyer: Any) -> str | None:
        return "buyer@example.com"

    def describe(self, outgoing: Outgoing, settings: Any) -> dict[str, Any]:
        return {"to": outgoing.recipient, "subject": outgoing.kind}

    def send(self, outgoing: Outgoing, settings: Any) -> Sent:
        self.sent.append(outgoing)
        answer = self.answers.pop(0) if self.answers else Sent({"id": "m1"})
        if isinstance(answer, Exception):
            raise answer
        return answer


def with_notice(store: FakeStore) -> str:
    event = load_event(example())
    case = open_case("case_1", "generic", event, NOW)
    case.apply(event, "evt_1", NOW)
    store.put(case)
    return case.notices[0].kind


def deliver(store: FakeStore, notifier: ScriptedNotifier, kind: str, message_id: str = "m-1") -> None:
    deliveries = NoticeDeliveries(
        "notify.email", {"email": notifier}, FakeUnitOfWork(store), lambda: NOW, make_settings()
    )
    body = {"action": "send", "case_id": "case_1", "idempotency_key": f"case_1:notice:{kind}:email",
            "payload": {"notice": kind}}  # fmt: skip
    deliveries(IncomingMessage(message_id, body, "notify.email.send"))


def test_a_delivered_notice_is_recorded_once_and_a_redelivery_sends_nothing():
    store = FakeStore()
    kind = with_notice(store)
    notifier = ScriptedNotifier()
    deliver(store, notifier, kind)
    deliver(store, notifier, kind, "m-2")
    [effect] = store.effects.values()
    assert (len(notifier.sent), effect.kind, effect.state, effect.attempts) == (1, "notice", "done", 1)
    assert store.deliveries[effect.id].recipient == "buyer@example.com"


def test_a_failure_that_sent_nothing_is_retried_and_counts_its_attempts():
    store = FakeStore()
    kind = with_notice(store)
    notifier = ScriptedNotifier(TransientNotifyError("421 busy"))
    with pytest.raises(TransientNotifyError):
        deliver(store, notifier, kind)
    assert [e.state for e in store.effects.values()] == ["retrying"]
    deliver(store, notifier, kind, "m-1-retry")
    [effect] = store.effects.values()
    assert (len(notifier.sent), effect.state, effect.attempts) == (2, "done", 2)


def test_a_message_that_may_have_arrived_is_left_for_a_person_and_flags_the_case():
    store = FakeStore()
    kind = with_notice(store)
    notifier = ScriptedNotifier(TransientNotifyError("timeout after DATA", maybe_delivered=True))
    deliver(store, notifier, kind)
    deliver(store, notifier, kind, "m-2")
    [effect] = store.effects.values()
    case = store.case("case_1")
    assert (len(notifier.sent), effect.state) == (1, "unknown")
    assert case.needs_attention and case.timeline[-1].name == "notice_unknown"


def test_a_refusal_is_final_and_named_as_before():
    store = FakeStore()
    kind = with_notice(store)
    deliver(store, ScriptedNotifier(PermanentNotifyError("550 no such user")), kind)
    [effect] = store.effects.values()
    assert (effect.state, effect.status, store.case("case_1").timeline[-1].name) == ("refused", "failed",
                                                                                      "notice_failed")  # fmt: skip


def test_an_attempt_interrupted_during_the_call_becomes_unknown_and_is_not_sent_again():
    store = FakeStore()
    kind = with_notice(store)
    key = f"case_1:notice:{kind}:email"
    with FakeUnitOfWork(store)() as uow:  # the worker died after recording the intent
        uow.effects.add(intended("ntc_1", "case_1", EffectKind.NOTICE, "email", key, NOW))
        uow.commit()
    notifier = ScriptedNotifier()
    deliver(store, notifier, kind)
    assert (notifier.sent, store.effects["ntc_1"].state) == ([], "unknown")
    assert store.case("case_1").needs_attention


def deliver_notice(store: FakeStore, notifiers: dict[str, ScriptedNotifier], kind: str, message_id: str = "n-1"):
    """The one command of a notice, with its channels (`notify.buyer.send`)."""
    deliveries = NoticeDeliveries("notify.buyer", notifiers, FakeUnitOfWork(store), lambda: NOW, make_settings())
    body = {"action": "send", "case_id": "case_1", "idempotency_key": f"case_1:notice:{kind}",
            "payload": {"notice": kind, "channels": list(notifiers)}}  # fmt: skip
    deliveries(IncomingMessage(message_id, body, "notify.buyer.send"))


def test_a_channel_interrupted_during_its_call_is_left_unknown_and_the_other_still_goes_out():
    store = FakeStore()
    kind = with_notice(store)
    with FakeUnitOfWork(store)() as uow:  # the worker died while sending the email
        uow.effects.add(intended("ntc_1", "case_1", EffectKind.NOTICE, "email", f"case_1:notice:{kind}:email", NOW))
        uow.commit()
    email, webhook = ScriptedNotifier(), ScriptedNotifier()
    deliver_notice(store, {"email": email, "webhook": webhook}, kind)
    deliver_notice(store, {"email": email, "webhook": webhook}, kind, "n-2")
    states = {e.adapter: (e.state, e.attempts) for e in store.effects.values()}
    assert (len(email.sent), len(webhook.sent), states) == (0, 1, {"email": ("unknown", 1), "webhook": ("done", 1)})
    assert store.case("case_1").timeline[-1].name == "notice_unknown"


def test_only_the_channel_being_called_is_ever_sending():
    store = FakeStore()
    kind = with_notice(store)
    seen: list[dict[str, str]] = []

    class Watching(ScriptedNotifier):
        def send(self, outgoing: Outgoing, settings: Any) -> Sent:
            seen.append({e.adapter: e.state for e in store.effects.values()})
            return super().send(outgoing, settings)

    deliver_notice(store, {"email": Watching(), "webhook": Watching()}, kind)
    assert seen == [{"email": "sending"}, {"email": "done", "webhook": "sending"}]
    assert {e.state for e in store.effects.values()} == {"done"}


def test_two_first_attempts_under_one_key_cannot_both_commit():
    store = FakeStore()
    uow = FakeUnitOfWork(store)
    intent = Intent("case_1", EffectKind.MARKETPLACE_DECISION, "ebay", "case_1:approve", "dec_1")
    other = Intent("case_1", EffectKind.MARKETPLACE_DECISION, "ebay", "case_1:approve", "dec_2")
    with uow() as first, uow() as second:
        OutboundEffectsFlow.send(first, None, intent, NOW)
        OutboundEffectsFlow.send(second, None, other, NOW)
        first.commit()
        with pytest.raises(DuplicateKey):
            second.commit()
    assert list(store.effects) == ["dec_1"]


def test_an_idempotent_other_side_gets_a_filing_in_doubt_again():
    store = FakeStore()
    flow = OutboundEffectsFlow(FakeUnitOfWork(store), lambda: NOW)
    intent = Intent("case_1", EffectKind.CUSTOMS_CLAIM, "eu_ics2", "case_1:customs_claim:clm_1", "clm_1")
    with flow.uow() as uow:
        flow.send(uow, None, intent, NOW)
        uow.commit()
    assert flow.in_doubt("clm_1", "read timeout", idempotent=True).state == "retrying"
    with flow.uow() as uow:
        assert flow.find(uow, intent.key, idempotent=True).step == "send"
