"""A case's typed parts as the JSON of its `facts` column, and back: the one place their times become text.

The stored format is the one cases were saved in before these parts were typed: beside what the policy and
the adapters recorded, the keys below hold the table states, timers, the case's own deadlines, milestones,
the carrier route and the order-page mark, times as ISO 8601 text. Rows saved by any version load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from core.case_parts import (
    CustomsDeclaration,
    Dispute,
    Escalation,
    Evidence,
    LateAcceptance,
    MarketplaceReturn,
    Parcel,
    TableStates,
    Timer,
)
from core.cases import ReturnCase
from core.customs import RETURNED, CustomsPlan, Deadline, DutyClaim, recorded_regime
from core.ledger import LedgerLine
from core.money import Money
from core.routing import CarrierRoute

ORDER_STATE, REFUND_STATE, TIMERS = "order_state", "refund_state", "timers"
CASE_DEADLINES, MILESTONES, CARRIER_ROUTE, ORDER_PAGE = "case_deadlines", "milestones", "carrier_route", "order_page"
MARKETPLACE_RETURN, LEDGER, DISPUTE = "marketplace_return", "ledger", "dispute"
CUSTOMS, CUSTOMS_DECLARATION = "customs", "customs_declaration"
POLICY_DEADLINES = "deadlines"  # the policy decision's deadlines (core.cases.record_decision), by name
ORDER_CARRIER, ORDER_TRACKING, OUTBOUND_LEG = "outbound_carrier", "outbound_tracking", "outbound_leg"
LATE_ACCEPTED = "late_accepted"
TYPED_KEYS = (
    ORDER_STATE,
    REFUND_STATE,
    TIMERS,
    CASE_DEADLINES,
    MILESTONES,
    CARRIER_ROUTE,
    ORDER_PAGE,
    MARKETPLACE_RETURN,
    LEDGER,
    DISPUTE,
    CUSTOMS,
    CUSTOMS_DECLARATION,
    POLICY_DEADLINES,
    ORDER_CARRIER,
    ORDER_TRACKING,
    OUTBOUND_LEG,
    LATE_ACCEPTED,
)


def facts_json(case: ReturnCase) -> dict[str, Any]:
    """The `facts` column of `case`: its recorded facts with its typed parts in their stored shape.

    `timers` is written once the case keeps timers, empty or not (service.operations.still_pending).
    """
    facts = {k: v for k, v in case.facts.items() if k not in TYPED_KEYS}
    if case.keeps_timers or case.timers:
        facts[TIMERS] = timers_json(case.timers)
    if case.tables.order:
        facts[ORDER_STATE] = case.tables.order
    if case.tables.refund != TableStates().refund:
        facts[REFUND_STATE] = case.tables.refund
    if case.case_deadlines:
        facts[CASE_DEADLINES] = _texts(case.case_deadlines)
    if case.milestones:
        facts[MILESTONES] = _texts(case.milestones)
    if case.carrier_route is not None:
        facts[CARRIER_ROUTE] = route_json(case.carrier_route)
    if case.order_page:
        facts[ORDER_PAGE] = True
    if case.ledger:
        facts[LEDGER] = [line.to_json() for line in case.ledger]
    if case.dispute is not None:
        facts[DISPUTE] = dispute_json(case.dispute)
    if case.marketplace_return is not None:
        facts[MARKETPLACE_RETURN] = {k: v for k, v in asdict(case.marketplace_return).items() if v is not None}
    if case.policy_deadlines is not None:
        facts[POLICY_DEADLINES] = deadlines_json(case.policy_deadlines)
    if case.order_parcel is not None:
        facts[ORDER_CARRIER], facts[ORDER_TRACKING] = case.order_parcel.carrier, case.order_parcel.tracking_number
    if case.outbound_leg is not None:
        facts[OUTBOUND_LEG] = parcel_json(case.outbound_leg)
    if case.late_accepted is not None:
        facts[LATE_ACCEPTED] = late_acceptance_json(case.late_accepted)
    if case.customs is not None:
        facts[CUSTOMS] = case.customs.to_json()
    if case.customs_declaration is not None:
        facts[CUSTOMS_DECLARATION] = declaration_json(case.customs_declaration)
    return facts


def typed_parts(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The ReturnCase fields a stored `facts` column holds: `facts` (the rest) and each typed part."""
    route = stored.get(CARRIER_ROUTE)
    return {
        "facts": {k: v for k, v in stored.items() if k not in TYPED_KEYS},
        "tables": TableStates(stored.get(ORDER_STATE) or None, stored.get(REFUND_STATE) or TableStates().refund),
        "timers": stored_timers(stored) or {},
        "keeps_timers": TIMERS in stored,
        "case_deadlines": _instants(stored.get(CASE_DEADLINES)),
        "milestones": _instants(stored.get(MILESTONES)),
        "carrier_route": _route(route) if route else None,
        "order_page": bool(stored.get(ORDER_PAGE)),
        "dispute": _dispute(stored[DISPUTE]) if stored.get(DISPUTE) else None,
        "ledger": [_ledger_line(line) for line in stored.get(LEDGER) or []],
        "marketplace_return": _told(stored[MARKETPLACE_RETURN]) if stored.get(MARKETPLACE_RETURN) else None,
        "policy_deadlines": _policy_deadlines(stored.get(POLICY_DEADLINES)),
        "order_parcel": _order_parcel(stored),
        "outbound_leg": _parcel(stored[OUTBOUND_LEG]) if stored.get(OUTBOUND_LEG) else None,
        "late_accepted": _late_acceptance(stored[LATE_ACCEPTED]) if stored.get(LATE_ACCEPTED) else None,
        "customs": _customs_plan(stored[CUSTOMS]) if stored.get(CUSTOMS) else None,
        "customs_declaration": _declaration(stored[CUSTOMS_DECLARATION]) if stored.get(CUSTOMS_DECLARATION) else None,
    }


def stored_timers(stored: Mapping[str, Any]) -> dict[str, Timer] | None:
    """The timers a stored `facts` column keeps; None for a case saved before it kept any."""
    if TIMERS not in stored:
        return None
    return {name: _timer(t) for name, t in (stored.get(TIMERS) or {}).items()}


def stored_deadlines(stored: Mapping[str, Any]) -> dict[str, datetime]:
    """The policy decision's deadlines (`facts["deadlines"]`) still to meet, as instants; see `deadline_due`."""
    deadlines = stored.get(POLICY_DEADLINES) or {}
    if not isinstance(deadlines, Mapping):
        return {}
    return {name: due for name, value in deadlines.items() if (due := deadline_due(value)) is not None}


def deadlines_json(deadlines: Mapping[str, datetime | None] | None) -> dict[str, str | None]:
    """The policy deadlines as stored and as the case view shows them (`deadlines`), as the policy wrote them."""
    return {name: _text(at) if at else None for name, at in (deadlines or {}).items()}


def _policy_deadlines(stored: Any) -> dict[str, datetime | None] | None:
    """As `core.policy` writes them (ISO instants, None where unset); an older shape is read as `deadline_due`
    reads it. None: no decision was recorded."""
    if not isinstance(stored, Mapping):
        return None
    return {name: None if at is None else deadline_due(at) for name, at in stored.items()}


def deadline_due(value: Any) -> datetime | None:
    """A deadline as kept in `facts["deadlines"]`: an ISO date-time or date, or `{"due_by": …}`; None when met.

    A deadline already met (`{"met_at": …}` or `{"done": true}`) or unreadable is None; a day is due by its end.
    """
    if isinstance(value, Mapping):
        if value.get("met_at") or value.get("done"):
            return None
        value = value.get("due_by") or value.get("due") or value.get("at")
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
        return _instant(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def timers_json(timers: Mapping[str, Timer]) -> dict[str, dict[str, Any]]:
    """Timers as stored and as the case view shows them (`GET /returns/<id>`, `timers`)."""
    return {
        name: {
            "due_at": _text(t.due_at),
            "fired_at": _text(t.fired_at) if t.fired_at else None,
            "cancelled": t.cancelled,
        }
        for name, t in timers.items()
    }


def route_json(route: CarrierRoute | None) -> dict[str, Any] | None:
    """The carrier route as stored and as the case view shows it; `reason` only where there is one."""
    if route is None:
        return None
    shown: dict[str, Any] = {"carrier": route.carrier, "lane": route.lane, "source": route.source}
    if route.reason is not None:
        shown["reason"] = route.reason
    return shown


def _route(stored: Mapping[str, Any]) -> CarrierRoute:
    return CarrierRoute(stored.get("carrier"), stored.get("lane", ""), stored.get("source", ""), stored.get("reason"))


def dispute_json(dispute: Dispute) -> dict[str, Any]:
    """The dispute as stored and as the case view shows it (`decisions.dispute`)."""
    shown: dict[str, Any] = {
        "type": dispute.type,
        "opened_at": _text(dispute.opened_at),
        "evidence_due_by": _text(dispute.evidence_due_by),
        "evidence": [
            {"kind": e.kind, "url": e.url, "at": _text(e.at), "valid": e.valid, "problems": list(e.problems)}
            for e in dispute.evidence
        ],
        "escalations": [{"to": e.to, "at": _text(e.at), "note": e.note} for e in dispute.escalations],
        "objection_after_completion": dispute.objection_after_completion,
    }
    if dispute.evidence_outcome is not None:
        shown["evidence_outcome"] = dispute.evidence_outcome
    return shown


def _dispute(stored: Mapping[str, Any]) -> Dispute:
    return Dispute(
        type=stored.get("type"),
        opened_at=_instant(stored["opened_at"]),
        evidence_due_by=_instant(stored["evidence_due_by"]),
        evidence=tuple(
            Evidence(
                e.get("kind"), e.get("url"), _instant(e["at"]), bool(e.get("valid")), tuple(e.get("problems") or ())
            )
            for e in stored.get("evidence") or ()
        ),
        escalations=tuple(
            Escalation(e["to"], _instant(e["at"]), e.get("note")) for e in stored.get("escalations") or ()
        ),
        objection_after_completion=bool(stored.get("objection_after_completion")),
        evidence_outcome=stored.get("evidence_outcome"),
    )


def late_acceptance_json(accepted: LateAcceptance) -> dict[str, Any]:
    """A late acceptance as stored and as the case view shows it (`decisions.late_accepted`)."""
    return {"reason": accepted.reason, "at": _text(accepted.at)}


def _late_acceptance(stored: Mapping[str, Any]) -> LateAcceptance:
    return LateAcceptance(stored.get("reason"), _instant(stored["at"]))


def parcel_json(parcel: Parcel) -> dict[str, Any]:
    """An outbound leg as stored and as the case view shows it (`decisions.outbound_leg`)."""
    shown: dict[str, Any] = {"carrier": parcel.carrier, "tracking_number": parcel.tracking_number}
    if parcel.booked_at is not None:
        shown["booked_at"] = _text(parcel.booked_at)
    return shown


def _parcel(stored: Mapping[str, Any]) -> Parcel:
    booked = stored.get("booked_at")
    return Parcel(stored.get("carrier"), stored.get("tracking_number"), _instant(booked) if booked else None)


def _order_parcel(stored: Mapping[str, Any]) -> Parcel | None:
    """The order's parcel was kept as two keys beside the rest of the facts."""
    if ORDER_CARRIER not in stored and ORDER_TRACKING not in stored:
        return None
    return Parcel(stored.get(ORDER_CARRIER), stored.get(ORDER_TRACKING))


def declaration_json(declaration: CustomsDeclaration) -> dict[str, Any]:
    """The declaration as stored and as the case view shows it (`customs.declaration`): a planned one names its
    adapter, a built one its request, an answered one its reference and error (null where none)."""
    shown: dict[str, Any] = {"status": declaration.status, "adapter": declaration.adapter}
    if declaration.status != "planned":
        shown["request"] = declaration.request
    if declaration.answered:
        shown.update(reference=declaration.reference, error=declaration.error)
    return shown


def _declaration(stored: Mapping[str, Any]) -> CustomsDeclaration:
    return CustomsDeclaration(
        stored["status"],
        stored.get("adapter") or "",
        stored.get("request"),
        stored.get("reference"),
        stored.get("error"),
    )


def _customs_plan(stored: Mapping[str, Any]) -> CustomsPlan:
    """A plan as `CustomsPlan.to_json` wrote it; the personal-data purge (service/privacy.py) strips every `name`
    key, so a purged case's regime and deadlines load nameless."""
    regime = stored.get("regime") or {}
    return CustomsPlan(
        lane=stored["lane"],
        regime=recorded_regime(regime["code"], regime.get("name", ""), regime.get("basis", ""),
                               regime.get("condition", "")),
        documents=tuple(stored.get("documents") or ()),
        deadlines=tuple(
            Deadline(d.get("name", ""), _instant(d["due_by"]), d.get("basis", ""), bool(d.get("estimated")))
            for d in stored.get("deadlines") or ()
        ),
        claims=tuple(
            DutyClaim(c["authority"], Money.of(c["amount"]["amount"], c["amount"]["currency"]), _instant(c["due_by"]),
                      c.get("basis", ""), c.get("status", "planned"), c.get("reason") or RETURNED)
            for c in stored.get("claims") or ()
        ),
        warnings=tuple(stored.get("warnings") or ()),
    )  # fmt: skip


def _ledger_line(stored: Mapping[str, Any]) -> LedgerLine:
    """A line as `LedgerLine.to_json` wrote it: its own fields, then what it was for."""
    amount, currency = stored.get("amount"), stored.get("currency")
    money = Money.of(amount, currency) if amount is not None and currency else None
    detail = {k: v for k, v in stored.items() if k not in ("kind", "amount", "currency", "at", "status")}
    return LedgerLine(stored["kind"], money, _instant(stored["at"]), stored["status"], detail)


def _told(stored: Mapping[str, Any]) -> MarketplaceReturn:
    return MarketplaceReturn(
        stored["status"], stored.get("return_id"), stored.get("withdrawal_return_id"), stored.get("reason")
    )


def _timer(stored: Mapping[str, Any]) -> Timer:
    fired = stored.get("fired_at")
    return Timer(_instant(stored["due_at"]), _instant(fired) if fired else None, bool(stored.get("cancelled")))


def _instants(stored: Mapping[str, str] | None) -> dict[str, datetime]:
    return {name: _instant(at) for name, at in (stored or {}).items()}


def _instant(text: str) -> datetime:
    """ISO 8601 text as written by `datetime.isoformat`; one without an offset is UTC (time is kept in UTC)."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _text(at: datetime) -> str:
    return at.isoformat()


def _texts(instants: Mapping[str, datetime]) -> dict[str, str]:
    return {name: _text(at) for name, at in instants.items()}
