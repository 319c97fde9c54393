"""The ReturnCase aggregate: one case per marketplace return, moved by events.

The lifecycle is a table (DOMAIN.md §5, the method of seed 004): for each state,
which actor may cause which event, and what follows. An event the table does not
allow in the current state is still kept on the timeline, and the case is flagged
for attention: marketplaces resend what is refused, so refusing would lose it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.events import Order, ReturnEvent, ReturnRequest
from core.money import Money


class CaseState:
    NEW = "new"
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


# Who causes each canonical event (DOMAIN.md §5: buyer, merchant, platform, carrier, system timer).
EVENT_ACTOR: dict[str, str] = {
    "return.requested": "buyer",
    "return.cancelled": "buyer",
    "return.approved": "merchant",
    "return.rejected": "merchant",
}


@dataclass(frozen=True)
class Transition:
    """One row of the lifecycle table: in `sources`, `actor` causing `event` leads to `target`."""

    sources: frozenset[str]
    event: str
    actor: str
    target: str
    actions: tuple[str, ...] = ()
    source_doc: str = ""


def _row(sources: str, event: str, target: str, *actions: str, source_doc: str = "") -> Transition:
    return Transition(frozenset(sources.split()), event, EVENT_ACTOR[event], target, actions, source_doc)


LIFECYCLE: tuple[Transition, ...] = (
    _row(
        "new",
        "return.requested",
        CaseState.REQUESTED,
        "notify:request_received",
        source_doc="seed 000 §status",
    ),
    _row(
        "requested",
        "return.approved",
        CaseState.APPROVED,
        "book_return_shipment",
        "notify:return_approved",
        source_doc="seed 000 §status; DOMAIN §6 logistics after approval",
    ),
    _row("requested", "return.rejected", CaseState.REJECTED, "notify:return_rejected", source_doc="seed 000"),
    _row("new requested approved", "return.cancelled", CaseState.CANCELLED, source_doc="seed 004"),
)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # event | transition | attention | command | result | notice
    name: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """A request to an adapter, sent through the commands exchange as `<kind>.<adapter>.<action>`."""

    kind: str
    adapter: str
    action: str
    idempotency_key: str
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def routing_key(self) -> str:
        return f"{self.kind}.{self.adapter}.{self.action}"


@dataclass(frozen=True)
class Notice:
    """A buyer-visible moment; its words live in the gettext catalogs, its facts here."""

    kind: str
    at: datetime
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReturnCase:
    id: str
    marketplace: str
    order: Order
    return_: ReturnRequest
    items: tuple = ()
    state: str = CaseState.NEW
    needs_attention: bool = False
    timeline: list[TimelineEntry] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # derived facts kept with the case (deadlines, refund, …)
    created_at: datetime | None = None

    @property
    def order_id(self) -> str:
        return self.order.id

    @property
    def return_id(self) -> str:
        return self.return_.id

    def return_value(self) -> Money | None:
        """What the returned lines are worth, in the payment currency; None while unknown."""
        currency = self.order.currency
        if not currency or not self.items:
            return None
        cents = sum((Decimal(item.unit_price) * item.quantity for item in self.items), Decimal(0))
        return Money(cents, currency)

    def apply(self, event: ReturnEvent, event_id: str, now: datetime) -> list[Command]:
        """Record `event`, take the transition the lifecycle allows, and return the commands it causes."""
        self._merge_facts(event)
        self.timeline.append(
            TimelineEntry(
                now, "event", event.type, {"event_id": event_id, "occurred_at": event.occurred_at.isoformat()}
            )
        )
        transition = self.allowed(event.type)
        if transition is None:
            self.needs_attention = True
            self.timeline.append(
                TimelineEntry(
                    now,
                    "attention",
                    "event_not_allowed",
                    {"event": event.type, "state": self.state, "event_id": event_id},
                )
            )
            return []
        previous, self.state = self.state, transition.target
        self.timeline.append(
            TimelineEntry(
                now,
                "transition",
                f"{previous}->{self.state}",
                {"event": event.type, "actor": transition.actor},
            )
        )
        return [c for action in transition.actions for c in self._perform(action, event_id, now)]

    def allowed(self, event_type: str) -> Transition | None:
        for transition in LIFECYCLE:
            if transition.event == event_type and self.state in transition.sources:
                return transition
        return None

    def record_result(self, name: str, detail: dict[str, Any], now: datetime, attention: bool = False) -> None:
        """An adapter's answer (label issued, booking failed) joins the timeline."""
        self.timeline.append(TimelineEntry(now, "result", name, detail))
        if attention:
            self.needs_attention = True

    def _perform(self, action: str, event_id: str, now: datetime) -> list[Command]:
        if action.startswith("notify:"):
            self._add_notice(action.split(":", 1)[1], now)
            return []
        if action == "book_return_shipment":
            return self._book_return_shipment()
        raise ValueError(f"lifecycle names an unknown action {action!r}")

    def _book_return_shipment(self) -> list[Command]:
        carrier = self.return_.carrier
        if not carrier:
            return []
        return [
            Command(
                kind="carrier",
                adapter=carrier,
                action="book_return",
                idempotency_key=f"{self.id}:return_shipment",
                payload={"case_id": self.id, "pickup": bool(self.return_.pickup)},
            )
        ]

    def _add_notice(self, kind: str, now: datetime) -> None:
        if any(n.kind == kind for n in self.notices):
            return
        value = self.return_value()
        context: dict[str, Any] = {"order_id": self.order_id, "return_id": self.return_id}
        if value is not None:
            context["amount"] = value.to_json()
        if self.return_.carrier:
            context["carrier"] = self.return_.carrier
        self.notices.append(Notice(kind, now, context))
        self.timeline.append(TimelineEntry(now, "notice", kind, {}))

    def _merge_facts(self, event: ReturnEvent) -> None:
        """Later events refine what earlier ones said; a field left out keeps its value."""
        self.order = _merge(self.order, event.order)
        self.return_ = _merge(self.return_, event.return_)
        if event.items:
            self.items = event.items


def _merge(old: Any, new: Any) -> Any:
    if old is None:
        return new
    if new is None:
        return old
    changes = {
        name: value
        for name, value in vars(new).items()
        if value is not None and value != () and value != getattr(old, name)
    }
    return replace(old, **changes) if changes else old


def open_case(case_id: str, marketplace: str, event: ReturnEvent, now: datetime) -> ReturnCase:
    """A new case for a return seen for the first time; no event is applied yet."""
    return ReturnCase(
        id=case_id,
        marketplace=marketplace,
        order=event.order,
        return_=event.return_,
        items=event.items,
        created_at=now,
    )
