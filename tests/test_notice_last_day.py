"""Item 8 of issue 14: every deadline shown to a person names the inclusive last day.

A withdrawal received on 10 November is refunded by 24 November (Directive 2011/83/EU art. 13(1): "not
later than 14 days from the day on which [the trader] is informed"; Reg. (EEC, Euratom) 1182/71 art. 3(1):
the day of the event is not counted, the period ends at the end of its last day). The engine keeps the
exclusive end instant (00:00 on 25 November in Berlin) for its timers; the buyer reads 24 November.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.calendars import HolidaysCalendars
from adapters.notifiers.render import render_notice
from config.policy_tables import default_policy_tables
from core.cases import open_case
from service.case_policy import CasePolicy
from tests.core.policy_fixtures import event

RECEIVED = datetime(2026, 11, 10, 8, 30, tzinfo=UTC)  # 09:30 in Berlin, a Tuesday


def _requested_case():
    ev = event(occurred_at=RECEIVED.isoformat())
    case = open_case("case_1", "generic", ev, RECEIVED)
    case.apply(ev, "evt_1", RECEIVED, decide=CasePolicy(default_policy_tables(), HolidaysCalendars(), None))
    return case


def test_the_german_withdrawal_confirmation_names_24_november_not_25():
    case = _requested_case()
    assert (case.policy_deadlines or {})["refund_due_by"] == datetime(2026, 11, 24, 23, tzinfo=UTC)  # the exclusive end
    notice = next(n for n in case.notices if n.kind == "withdrawal_confirmation")
    assert notice.context["refund_due_by"] == "2026-11-24"
    body = render_notice("withdrawal_confirmation", notice.context, "de-DE", "Europe/Berlin", at=RECEIVED)["body"]
    assert "spätestens bis zum 24. November 2026" in body
    assert "25. November" not in body


def test_the_same_last_day_reads_in_every_language_and_zone_of_the_buyer():
    notice = next(n for n in _requested_case().notices if n.kind == "withdrawal_confirmation")
    english = render_notice("withdrawal_confirmation", notice.context, "en", "Europe/Berlin", at=RECEIVED)["body"]
    assert "by November 24, 2026 at the latest" in english


def test_a_notice_recorded_with_an_exclusive_end_instant_still_shows_the_day_before():
    """Contexts stored before the policy gave last days hold the instant: midnight ends the previous day."""
    context = {"order_id": "O", "return_id": "R", "withdrawn_at": RECEIVED.isoformat(),
               "refund_due_by": "2026-11-24T23:00:00+00:00"}  # fmt: skip
    body = render_notice("withdrawal_confirmation", context, "de-DE", "Europe/Berlin", at=RECEIVED)["body"]
    assert "spätestens bis zum 24. November 2026" in body


def test_the_ship_by_deadline_shows_the_last_day_and_counts_days_to_it():
    """Directive 2011/83/EU art. 14(1): goods sent back within 14 days of the withdrawal: by 24 November."""
    context = {"return_id": "RET-77", "ship_by": "2026-11-24T23:00:00+00:00"}
    at = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    body = render_notice("ship_by_reminder", context, "en", "Europe/Berlin", at=at)["body"]
    assert "November 24, 2026" in body and "November 25" not in body and "00:00" not in body
    assert "2 days" in body


def test_the_policy_answer_gives_the_last_day_of_every_deadline():
    case = _requested_case()
    assert case.facts["policy"]["last_days"]["refund_due_by"] == "2026-11-24"
    assert case.facts["policy"]["window"]["last_day"] == "2026-11-16"
    assert case.facts["policy"]["last_days"]["window_ends_at"] == "2026-11-16"
