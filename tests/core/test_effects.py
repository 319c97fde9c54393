"""Outbound effects: what a redelivered command does, and which moves an effect allows (core/effects.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.effects import (
    EffectKind,
    EffectMoveError,
    EffectState,
    OutboundEffect,
    Step,
    intended,
    next_step,
    recorded,
    status_label,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


def sending():  # type: ignore[no-untyped-def]
    return intended("shp_1", "case_1", EffectKind.CARRIER_BOOKING, "dhl_express", "case_1:label", NOW, {"url": "u"})


def test_a_new_effect_is_sent_and_counts_its_first_attempt():
    effect = sending()
    assert (next_step(None), effect.state, effect.attempts, effect.final) == (Step.SEND, "sending", 1, False)


@pytest.mark.parametrize(
    ("state", "idempotent", "step"),
    [
        ("retrying", False, Step.SEND),
        ("sending", False, Step.INTERRUPTED),  # died during the call: it may have happened
        ("sending", True, Step.SEND),  # the other side takes the same key twice as once
        ("unknown", True, Step.NOTHING),
        ("done", False, Step.NOTHING),
        ("refused", False, Step.NOTHING),
        ("not_sent", False, Step.NOTHING),
        ("no_recipient", False, Step.NOTHING),
        ("operator_task", False, Step.NOTHING),
    ],
)
def test_what_a_redelivered_command_finds_decides_whether_it_sends(state: str, idempotent: bool, step: Step):
    effect = OutboundEffect("e", "c", "notice", "email", "k", state, NOW, NOW)
    assert next_step(effect, idempotent) == step


def test_an_interrupted_effect_is_unknown_and_never_sent_again():
    unknown = sending().interrupted(LATER)
    assert (unknown.state, unknown.updated_at, unknown.final) == ("unknown", LATER, True)
    assert "check" in (unknown.error or "")
    with pytest.raises(EffectMoveError):
        unknown.sending(LATER)


def test_an_answer_that_comes_after_the_effect_was_given_up_as_unknown_still_counts():
    late = sending().interrupted(LATER).settled(EffectState.DONE, LATER, {"tracking": "T1"})
    assert (late.state, late.result, late.error) == ("done", {"tracking": "T1"}, None)


def test_a_failure_that_did_nothing_is_retried_with_one_more_attempt():
    retrying = sending().retrying("503 Service Unavailable", LATER)
    again = retrying.sending(LATER)
    assert (retrying.state, again.state, again.attempts, again.error) == ("retrying", "sending", 2, None)


def test_a_failure_in_doubt_is_unknown_unless_the_other_side_is_idempotent():
    assert sending().failed_in_doubt("read timeout", LATER, idempotent=False).state == EffectState.UNKNOWN
    assert sending().failed_in_doubt("read timeout", LATER, idempotent=True).state == EffectState.RETRYING


def test_an_outcome_keeps_the_answer_and_is_recorded_once():
    done = sending().settled(EffectState.DONE, LATER, {"tracking": "T1"})
    assert (done.state, done.result, done.request) == ("done", {"tracking": "T1"}, {"url": "u"})
    with pytest.raises(EffectMoveError):
        done.settled(EffectState.REFUSED, LATER)
    with pytest.raises(EffectMoveError):
        sending().settled(EffectState.RETRYING, LATER)
    with pytest.raises(EffectMoveError):
        recorded("e", "c", "notice", "email", "k", EffectState.SENDING, NOW)


def test_each_kind_shows_its_outcomes_under_the_names_its_views_always_used():
    assert status_label(EffectKind.CARRIER_BOOKING, "done") == "booked"
    assert status_label(EffectKind.CARRIER_BOOKING, "refused") == "rejected"
    assert status_label(EffectKind.NOTICE, "done") == "sent"
    assert status_label(EffectKind.NOTICE, "refused") == "failed"
    assert status_label(EffectKind.MARKETPLACE_DECISION, "done") == "answered"
    assert status_label(EffectKind.CUSTOMS_CLAIM, "done") == "filed"
    assert status_label(EffectKind.NOTICE, "unknown") == "unknown"
