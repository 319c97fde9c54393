"""What the buyer is told, and which facts each notice needs: pure data, no words.

The words live in adapters/notifiers/notice_texts.py and the gettext catalogs (locales/);
the renderer in adapters/notifiers/render.py formats these facts for one locale and time zone.
The moments are the buyer-visible statuses of DOMAIN.md §5 (seed 000 "status"
list: review result, return received, refund paid, exchange shipped; seed 002:
interception and platform intervention; seed 004: disputes), plus the
acknowledgement of a withdrawal that Directive 2011/83/EU art. 11(3) requires
"on a durable medium without delay".

A notice's context is JSON (it is stored on the case): times are ISO-8601
strings in UTC, money is `Money.to_json()` ({"amount": "49.90", "currency":
"EUR"}), codes are the strings listed in CODES.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from core.effects import OutboundEffect, SentThroughEffect
from core.events import Buyer

# How each context value is shown: one table, read by the renderer.
#   id: shown as given; money: Money JSON, formatted by CLDR; deadline: a UTC instant shown with
#   date, time and zone in the buyer's time zone, or a plain date (an inclusive last day) shown as
#   that date; day: a UTC instant shown as a date in the buyer's time zone; last_day: the inclusive
#   last day of a period (contract: every deadline shown names it), a plain date, or an exclusive
#   end instant shown as the day before it; code: one of CODES[key], shown as a translated phrase; text: free text from the
#   merchant, shown as given; url: a link; bool: yes/no fact that picks a paragraph; carrier: a
#   carrier route name (contract README), shown by the trade name its adapter module declares.
CONTEXT_KEYS: dict[str, str] = {
    "order_id": "id",
    "return_id": "id",
    "tracking_number": "id",
    "amount": "money",
    "requested_at": "day",
    "received_at": "day",
    "inspected_at": "day",
    "issued_at": "day",
    "shipped_at": "day",
    "withdrawn_at": "deadline",  # the moment of receipt, with its time (art. 11a(4)): date, time and zone
    "dispute_at": "day",
    "pickup_at": "day",
    "ship_by": "deadline",
    "appeal_by": "deadline",
    "respond_by": "deadline",
    "expected_by": "day",
    "refund_due_by": "last_day",
    "method": "code",
    "reason": "code",
    "route": "code",
    "outcome": "code",
    "stage": "code",
    "passed": "bool",
    "note": "text",
    "statement": "text",
    "return_address": "text",
    "label_url": "url",
    "carrier": "carrier",
}

# The closed sets of codes a notice may carry.
CODES: dict[str, tuple[str, ...]] = {
    # How the parcel goes back (DOMAIN.md §6: label to print, carrier pickup, or drop-off at an address).
    "method": ("label", "pickup", "drop_off"),
    # Why a merchant may refuse (DOMAIN.md §3 eligibility: window, condition, evidence, excluded goods).
    "reason": ("outside_return_window", "item_used", "missing_evidence", "excluded_item", "other"),
    # Where a refund goes (seed 000 "refund processing": original payment, platform balance, bank, credit).
    "route": ("original_payment", "marketplace_balance", "bank_transfer", "store_credit"),
    # Result of a carrier interception request (seed 002, 拦截).
    "outcome": ("stopped", "not_stopped"),
    # Dispute and platform intervention (平台介入) stages (seed 002, 004; DOMAIN.md §7).
    "stage": ("opened", "resolved_for_buyer", "resolved_for_seller"),
}


@dataclass(frozen=True)
class NoticeKind:
    """A buyer-visible moment: the facts it must show, the ones it may show, and why it exists."""

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    source: str = ""
    moment: str | None = None  # the context key that is the notice's own time when nothing else says


NOTICE_KINDS: dict[str, NoticeKind] = {
    k.kind: k
    for k in (
        NoticeKind(
            "request_received",
            ("order_id", "return_id", "requested_at"),
            ("amount",),
            "seed 000 status 'submitted / under review'",
            moment="requested_at",
        ),
        NoticeKind(
            "return_approved",
            ("order_id", "return_id", "method", "ship_by"),
            ("label_url", "carrier", "pickup_at", "return_address", "amount"),
            "seed 000 review result; DOMAIN.md §6 return logistics after approval",
        ),
        NoticeKind(
            "return_rejected",
            ("order_id", "return_id", "reason", "appeal_by"),
            ("note",),
            "seed 000 review result; seed 002/004 merchant rejection and platform intervention",
        ),
        NoticeKind(
            "ship_by_reminder",
            ("return_id", "ship_by"),
            (),
            "seed 001 expired windows: a return not shipped in time closes",
        ),
        NoticeKind(
            "return_shipped",
            ("order_id", "return_id"),
            ("tracking_number",),
            "seed 000 status 'shipped back / awaiting receipt'; seed 003 tracking number",
        ),
        NoticeKind(
            "return_received",
            ("order_id", "return_id", "received_at"),
            (),
            "seed 000 'return received'",
            moment="received_at",
        ),
        NoticeKind(
            "inspection_result",
            ("return_id", "passed", "inspected_at"),
            ("note", "appeal_by"),
            "seed 000 status 'inspecting'",
            moment="inspected_at",
        ),
        NoticeKind(
            "refund_paid",
            ("return_id", "amount", "route", "issued_at"),
            ("expected_by",),
            "seed 000 'refund paid'",
            moment="issued_at",
        ),
        NoticeKind(
            "exchange_shipped",
            ("order_id", "carrier", "tracking_number", "shipped_at"),
            ("expected_by",),
            "seed 000 'exchange shipped'; seed 002 FAQ 4 reshipment (补发)",
            moment="shipped_at",
        ),
        NoticeKind(
            "interception_result",
            ("order_id", "outcome"),
            (),
            "seed 002 interception requested and its outcome",
        ),
        NoticeKind(
            "dispute_update",
            ("order_id", "stage", "dispute_at"),
            ("respond_by",),
            "seed 002/004 platform intervention (平台介入) and disputes",
            moment="dispute_at",
        ),
        NoticeKind(
            "return_expired",
            ("order_id", "return_id"),
            (),
            "seed 001 §5.2.2: a return not made in time closes",
        ),
        NoticeKind(
            "cancellation_refused",
            ("order_id",),
            (),
            "seed 004 §2.4: an order already shipped cannot be cancelled; the buyer may return it",
        ),
        NoticeKind(
            "refund_failed",
            ("order_id", "return_id", "amount"),
            (),
            "seed 000, 003 (refund by the original route): a failed payout is retried and the buyer told",
        ),
        NoticeKind(
            "withdrawal_confirmation",
            ("order_id", "return_id", "withdrawn_at", "refund_due_by"),
            ("amount", "statement"),
            "Directive 2011/83/EU art. 11(3) acknowledgement on a durable medium; art. 13(1) refund within 14 days",
            moment="withdrawn_at",
        ),
    )
}

# Extra facts a value of a code makes necessary (an approved return by label needs the label).
REQUIRED_WHEN: dict[tuple[str, str], tuple[str, ...]] = {
    ("method", "label"): ("label_url",),
    ("method", "pickup"): ("carrier", "pickup_at"),
    ("method", "drop_off"): ("return_address",),
}

# Names the lifecycle (core/cases.py) uses for a moment that one notice kind covers with a fixed code.
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "interception_failed": ("interception_result", {"outcome": "not_stopped"}),
    "interception_succeeded": ("interception_result", {"outcome": "stopped"}),
    "dispute_opened": ("dispute_update", {"stage": "opened"}),
    "dispute_resolved_for_buyer": ("dispute_update", {"stage": "resolved_for_buyer"}),
    "dispute_resolved_for_seller": ("dispute_update", {"stage": "resolved_for_seller"}),
    "reship_sent": ("exchange_shipped", {}),
}

# Where a context key comes from in what a case knows (`known` in notice_context): a path of keys.
# Deadlines come as the policy's inclusive last days (a person is shown the last day, never the date of
# an exclusive end instant: contract, /policy/evaluate); CONTEXT_FALLBACKS read the instants of a
# decision recorded before the policy gave last days.
CONTEXT_SOURCES: dict[str, tuple[str, ...]] = {
    "ship_by": ("last_days", "return_ship_by"),
    "refund_due_by": ("last_days", "refund_due_by"),
    "requested_at": ("milestones", "requested_at"),
    "withdrawn_at": ("milestones", "requested_at"),  # the request is the withdrawal (art. 11(1) CRD)
    "received_at": ("milestones", "received_at"),
    "inspected_at": ("milestones", "inspected_at"),
}
CONTEXT_FALLBACKS: dict[str, tuple[str, ...]] = {
    "ship_by": ("deadlines", "return_ship_by"),
    "refund_due_by": ("deadlines", "refund_due_by"),
}

# Which amount a notice shows: what the returned items are worth while the return is under way,
# the refund (policy decision: items plus the standard delivery cost under EU law) once it is paid.
AMOUNT_SOURCES: dict[str, tuple[str, ...]] = {
    "request_received": ("items_value",),
    "return_approved": ("items_value",),
    "refund_paid": ("paid_amount", "payout_amount", "refund_amount", "items_value"),  # what the marketplace paid
    "refund_failed": ("failed_amount", "payout_amount", "refund_amount"),  # the payout that failed (case ledger)
}
DEFAULT_AMOUNT_SOURCES: tuple[str, ...] = ("refund_amount", "items_value")

# Refunds go back by the original payment route unless a marketplace says otherwise (seeds 000, 003).
DEFAULT_REFUND_ROUTE = "original_payment"

# The delivery channels a notice goes out on (adapters/notifiers/email.py and webhook.py).
CHANNELS: tuple[str, ...] = ("email", "webhook")


class UnknownNotice(LookupError):
    """No buyer-visible moment has that name."""


def notice_kind(kind: str) -> NoticeKind:
    try:
        return NOTICE_KINDS[resolve(kind)[0]]
    except KeyError:
        raise UnknownNotice(f"no notice named {kind!r}") from None


def resolve(kind: str) -> tuple[str, dict[str, Any]]:
    """The notice kind that shows `kind`, with the codes its alias fixes."""
    return ALIASES.get(kind, (kind, {}))


def return_method(pickup: bool | None, carrier: str | None) -> str | None:
    """How the parcel goes back: a booked pickup, a label from the carrier, else unknown (DOMAIN.md §6)."""
    if pickup and carrier:
        return "pickup"
    return "label" if carrier else None


def notice_context(kind: str, known: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The context a case records for `kind`, from the flat facts it `known`s; the notice's moment is `now`.

    Only keys the kind names are kept, so a notice carries what it shows and nothing else.
    """
    spec = notice_kind(kind)
    wanted = (*spec.required, *spec.optional)
    context: dict[str, Any] = {}
    for key in wanted:
        value: Any = known.get(key)
        if key == "amount" and value is None:
            sources = AMOUNT_SOURCES.get(resolve(kind)[0], DEFAULT_AMOUNT_SOURCES)
            value = next((known[s] for s in sources if known.get(s) is not None), None)
        for paths in (CONTEXT_SOURCES, CONTEXT_FALLBACKS):
            if value is None and key in paths:
                value = _at_path(known, paths[key])
        if value not in (None, ""):
            context[key] = value
    if spec.moment and spec.moment not in context:
        context[spec.moment] = now.isoformat()
    if "route" in wanted and "route" not in context:
        context["route"] = DEFAULT_REFUND_ROUTE
    if "method" in wanted and "method" not in context:
        method = return_method(known.get("pickup"), known.get("carrier"))
        if method:
            context["method"] = method
    context.update(resolve(kind)[1])
    return context


def _at_path(known: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = known
    for step in path:
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def missing_context(kind: str, context: Mapping[str, Any]) -> list[str]:
    """The facts a complete notice of `kind` still lacks, or whose code is not one of CODES."""
    spec = notice_kind(kind)
    context = {**context, **resolve(kind)[1]}
    needed = list(spec.required)
    for (key, value), extra in REQUIRED_WHEN.items():
        if key in spec.required and context.get(key) == value:
            needed.extend(extra)
    missing = [key for key in needed if context.get(key) in (None, "")]
    for key in needed:
        if CONTEXT_KEYS.get(key) == "code" and key not in missing and context[key] not in CODES[key]:
            missing.append(key)
    return missing


def days_left(now: datetime, deadline: datetime, zone: tzinfo) -> int:
    """Calendar days from today to the deadline's day, both as the buyer sees them in `zone`.

    Counted in the buyer's zone because the calendar date of a UTC deadline differs by zone
    (policy_fx_l10n.md §6.4); never negative.
    """
    return days_until(now, deadline.astimezone(zone).date(), zone)


def days_until(now: datetime, last_day: date, zone: tzinfo) -> int:
    """Calendar days from today (in the buyer's zone) to an inclusive last day; never negative."""
    return max(0, (last_day - now.astimezone(zone).date()).days)


# The one command per notice is `notify.buyer.send`: its consumer delivers the notice on each channel.
NOTICE_ADAPTER = "buyer"


def notice_key(case_id: str, kind: str) -> str:
    """The key of the one command that delivers a notice on all its channels."""
    return f"{case_id}:notice:{kind}"


def delivery_key(case_id: str, kind: str, channel: str) -> str:
    """One notice goes out once per channel: this key names that single message everywhere."""
    return f"{notice_key(case_id, kind)}:{channel}"


def notice_payload(kind: str) -> dict[str, Any]:
    """What the notice command carries: the notice and every channel (the consumer decides, per channel,
    whether it can be sent: settings and the buyer's address)."""
    return {"notice": kind, "channels": list(CHANNELS)}


@dataclass(frozen=True)
class NoticeToDeliver:
    """What delivering one notice reads of its case: who the buyer is, the notice's facts, when the case began
    (its buyer link). Read on its own, without loading the whole case, once per notice."""

    case_id: str
    created_at: datetime | None
    buyer: Buyer | None
    kind: str
    at: datetime | None = None  # None: the case has no such notice
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NoticeDelivery(SentThroughEffect):
    """One notice on one channel as rendered for the buyer, with its sending's effect (state, attempts, answer)."""

    id: str
    case_id: str
    kind: str
    channel: str
    created_at: datetime
    effect: OutboundEffect
    recipient: str | None = None
    locale: str | None = None
    message: Mapping[str, Any] | None = None

    @property
    def attempts(self) -> int:
        return self.effect.attempts
