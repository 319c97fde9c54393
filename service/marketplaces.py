"""Marketplace work done in the worker, never in a webhook request: details for thin notifications, decisions back.

Details (`returns.marketplace.details`, bound to every push marketplace's events):
a notification that names only ids is answered at once (Lazada allows 500 ms,
Shopify 5 s); here the adapter fetches the rest. Without credentials the case keeps
what the notification said and lists what is missing (`facts.missing`). When the
marketplace's own status says more than the notification (eBay's "closed" is a
cancellation when nothing was refunded), that status enters as one more event
through the same intake, id `<notification id>:details`.

Decisions (`returns.marketplace.<name>`, commands `marketplace.<name>.<action>`):
approve, reject and refund are told to the marketplace once per idempotency key: each is
an outbound effect (service/effects.py; the intent is stored before the call, as for
carrier bookings), and the answer is recorded on the effect and the case. Actions an adapter cannot take put the case up for attention.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from adapters.http import HttpClient, TransientHttpError
from adapters.marketplaces.base import (
    MARKETPLACES,
    Decision,
    DecisionAnswer,
    DecisionRefused,
    Enriches,
    Enrichment,
    ParsedDelivery,
    Responds,
)
from adapters.messages import IncomingMessage, Reject
from adapters.registry import declared_capability
from adapters.storage.unit_of_work import UnitOfWork, new_id
from config.settings import Settings
from core.cases import WITHDRAWAL_EVENT_PREFIX, Command, ReturnCase
from core.effects import EffectKind, EffectState, Step
from service.canonical import load_event
from service.effects import Intent, OutboundEffectsFlow
from service.intake import InvalidEvent, command_body, command_message_id

log = logging.getLogger(__name__)

DETAILS_SUFFIX = ":details"
DECIDABLE = ("approve", "reject", "refund", "open_return")
OPEN_RETURN = "open_return"


def untellable(command: Command) -> str | None:
    """Why a withdrawal cannot be told to its marketplace (issue 18 §2), from the adapter's declared capability;
    None when its platform documents an API that opens a return on the buyer's behalf."""
    if command.kind != "marketplace" or command.action != OPEN_RETURN:
        return None
    adapter = MARKETPLACES.get(command.adapter)
    if adapter is None:
        return f"no marketplace adapter named {command.adapter!r}"
    declared = adapter.return_request
    return None if declared.opens_returns else (declared.why_not or "its platform documents no such API")


def enriching_marketplaces() -> list[str]:
    return [name for name, adapter in MARKETPLACES if Enriches in adapter.capabilities]


def responding_marketplaces() -> list[str]:
    return [name for name, adapter in MARKETPLACES if Responds in adapter.capabilities]


class MarketplaceDetails:
    """Fetch what a thin notification lacks and refine the case with it."""

    consumer = "marketplace.details"

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        http: HttpClient,
        intake: Any,
        *,
        settings: Settings,
    ) -> None:
        self.uow, self.clock, self.http, self.intake = uow, clock, http, intake
        self.settings = settings

    def __call__(self, message: IncomingMessage) -> None:
        body = message.body
        marketplace, event, case_id = body.get("marketplace"), body.get("event"), body.get("case_id")
        if not (marketplace and isinstance(event, dict) and case_id):
            raise Reject("not an event envelope")
        adapter = MARKETPLACES.get(marketplace).configured(self.settings.for_adapter(marketplace))
        enriching = declared_capability(adapter, Enriches)
        if enriching is None or event["marketplace_event_id"].endswith(DETAILS_SUFFIX):
            return
        if event["marketplace_event_id"].startswith(WITHDRAWAL_EVENT_PREFIX):
            return  # the buyer's withdrawal on our page: complete, and no return of the marketplace's yet
        with self.uow() as uow:
            if uow.processed.seen(self.consumer, message.message_id):
                return
        result: Enrichment = enriching.enrich(event, self.http, self.clock())  # transient errors: retried
        try:
            refined = load_event(result.event)
        except ValidationError as exc:
            self._record(message, case_id, None, result, {"invalid": exc.messages})
            return
        if refined.type != event["type"]:
            self._take_in(marketplace, result.event)
        self._record(message, case_id, refined, result, {})

    def _take_in(self, marketplace: str, event: dict[str, Any]) -> None:
        """The marketplace's own status as one more event; intake answers a repeat as a duplicate."""
        newer = {**event, "marketplace_event_id": event["marketplace_event_id"][:190] + DETAILS_SUFFIX}
        try:
            self.intake.accept(marketplace, ParsedDelivery(delivery_id=None, events=[newer]))
        except InvalidEvent as exc:
            log.warning("details of %s gave an invalid event: %s", marketplace, exc.fields)

    def _record(self, message: IncomingMessage, case_id: str, refined: Any, result: Enrichment, problem: dict) -> None:
        with self.uow() as uow:
            if uow.processed.seen(self.consumer, message.message_id):
                return
            case = uow.cases.get(case_id)
            if case is None:
                raise Reject(f"case {case_id} does not exist")
            now = self.clock()
            if refined is not None and result.requests:
                case.refine(refined, now, {"requests": len(result.requests)})
            missing = case.record_missing_details(result.missing)
            if missing or problem:
                case.record_result("details_missing", {"missing": missing, **problem}, now)
            uow.cases.save(case, now)
            uow.processed.mark(self.consumer, message.message_id, now)
            uow.commit()


class MarketplaceDecisions:
    """`marketplace.<name>.<action>`: tell the marketplace once, record its answer on the case."""

    def __init__(
        self,
        name: str,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        http: HttpClient,
        commands_exchange: str = "",
        known_adapters: Callable[[str], bool] = lambda queue: True,
        *,
        settings: Settings,
    ) -> None:
        self.name = name
        adapter = declared_capability(MARKETPLACES.get(name).configured(settings.for_adapter(name)), Responds)
        if adapter is None:
            raise ValueError(f"marketplace {name} takes no decisions through its API")
        self.adapter: Responds = adapter
        self.consumer = f"marketplace.{name}"
        self.uow, self.clock, self.http = uow, clock, http
        self.commands_exchange, self.known_adapters = commands_exchange, known_adapters
        self.effects = OutboundEffectsFlow(uow, clock)

    def __call__(self, message: IncomingMessage) -> None:
        body = message.body
        action, key, case_id = body.get("action"), body.get("idempotency_key"), body.get("case_id")
        if not (action and key and case_id):
            raise Reject("a marketplace command needs action, idempotency_key and case_id")
        prepared = self._prepare(message, case_id, action, key, body.get("payload") or {})
        if prepared is None:
            return
        row_id, decision = prepared
        try:
            answer = self.adapter.respond(decision, self.http, self.clock())
        except DecisionRefused as exc:
            answer = DecisionAnswer(action, sent=False, accepted=False, detail=str(exc))
        except TransientHttpError as exc:
            if getattr(exc, "maybe_delivered", False):
                answer = DecisionAnswer(action, sent=True, accepted=False, detail=f"{exc}: may have arrived")
                self._finish(message, row_id, EffectState.UNKNOWN, answer)
                return
            self.effects.retrying(row_id, str(exc))
            raise
        self._finish(message, row_id, EffectState.DONE if answer.sent else EffectState.NOT_SENT, answer)

    def _prepare(
        self, message: IncomingMessage, case_id: str, action: str, key: str, payload: dict[str, Any]
    ) -> tuple[str, Decision] | None:
        with self.uow() as uow:
            now = self.clock()
            found = self.effects.find(uow, key)
            case = uow.cases.get(case_id)
            if case is None:
                raise Reject(f"case {case_id} does not exist")
            if found.step != Step.SEND:
                if found.step == Step.INTERRUPTED and found.effect is not None:
                    # died while the marketplace was being called: never send blindly again
                    self.effects.interrupt(uow, found.effect, now)
                    case.record_result(
                        f"marketplace_{action}_unknown",
                        {"marketplace": self.name, "message": "interrupted during the call; check the marketplace"},
                        now,
                        attention=True,
                    )
                    uow.cases.save(case, now)
                uow.processed.mark_once(self.consumer, message.message_id, now)
                uow.commit()
                return None
            if action not in DECIDABLE:
                case.record_result(
                    f"marketplace_{action}_not_supported",
                    {"marketplace": self.name, "message": f"{self.name} takes no {action!r} through its API"},
                    now,
                    attention=True,
                )
                uow.cases.save(case, now)
                uow.processed.mark_once(self.consumer, message.message_id, now)
                uow.commit()
                return None
            intent = Intent(case_id, EffectKind.MARKETPLACE_DECISION, self.name, key, new_id("dec"))
            effect = self.effects.send(uow, found.effect, intent, now, {"action": action})
            uow.commit()
            return effect.id, decision_for(case, action, key, payload)

    def _finish(self, message: IncomingMessage, row_id: str, state: str, answer: DecisionAnswer) -> None:
        with self.uow() as uow:
            now = self.clock()
            effect = self.effects.settle(uow, row_id, state, now, answer.as_record())
            case = uow.cases.get(effect.case_id) if effect else None
            if effect is None or case is None:
                raise Reject(f"decision {row_id} vanished")
            outcome = "accepted" if answer.accepted else ("not_sent" if not answer.sent else "refused")
            case.record_result(
                f"marketplace_{answer.action}_{outcome}",
                {"marketplace": self.name, **answer.as_record()},
                now,
                attention=not answer.accepted,
            )
            if answer.action == "refund" and answer.sent and not answer.accepted and state == EffectState.DONE:
                self._refund_failed(uow, case, answer, now)
            if answer.action == OPEN_RETURN:
                self._opened(uow, case, answer, state, now)
            uow.cases.save(case, now)
            uow.processed.mark_once(self.consumer, message.message_id, now)
            uow.commit()

    def _opened(self, uow: UnitOfWork, case: ReturnCase, answer: DecisionAnswer, status: str, now: datetime) -> None:
        """The withdrawal told: the marketplace's return joins the case (its webhook then finds it by that id)."""
        if answer.accepted and answer.created_id:
            case.link_marketplace_return(answer.created_id, now)
            uow.cases.rekey(case.id, answer.created_id)
            return
        outcome = "unknown" if status == EffectState.UNKNOWN else ("not_sent" if not answer.sent else "refused")
        case.marketplace_answered(outcome)  # a return its webhook already joined to the case stays accepted

    def _refund_failed(self, uow: UnitOfWork, case: ReturnCase, answer: DecisionAnswer, now: datetime) -> None:
        """The marketplace refused the refund: the case's `refund.failed` (retried by timer, the buyer told)."""
        if case.allowed("refund.failed") is None:
            return
        detail = {"marketplace": self.name, "message": answer.detail}
        for command in case.apply_internal("refund.failed", new_id("evt"), now, detail):
            message_id = command_message_id(command.idempotency_key)
            if uow.outbox.has(message_id) or not self.known_adapters(f"{command.kind}.{command.adapter}"):
                continue
            uow.outbox.add(self.commands_exchange, command.routing_key, command_body(command, case.id), now,
                           message_id=message_id, correlation_id=case.id)  # fmt: skip


def decision_for(case: ReturnCase, action: str, key: str, payload: dict[str, Any]) -> Decision:
    amount = payload.get("amount") or {}
    lines = tuple(
        (str(line["sku"]), int(line["quantity"]))
        for line in payload.get("lines") or []
        if isinstance(line, dict) and line.get("sku") and line.get("quantity")
    )
    return Decision(
        action=action,
        order_id=str(payload.get("order_id") or case.order_id),
        return_id=str(payload.get("return_id") or case.return_id),
        idempotency_key=key,
        note=payload.get("note"),
        reason_code=payload.get("reason_code"),
        amount=str(amount["amount"]) if amount.get("amount") is not None else None,
        currency=amount.get("currency") or case.order.currency,
        lines=lines,
        reason=payload.get("reason"),
    )


def decision_commands(
    case: ReturnCase, action: str, note: str | None = None, reason_code: str | None = None
) -> list[Command]:
    """What an operator's approve or reject tells the marketplace (a refund goes out through the lifecycle's
    `issue_refund`). The generic route has no marketplace API to tell."""
    if action not in ("approve", "reject") or case.marketplace == "generic":
        return []
    payload = {"case_id": case.id, "order_id": case.order_id, "return_id": case.return_id}
    payload.update({k: v for k, v in (("note", note), ("reason_code", reason_code)) if v})
    return [Command("marketplace", case.marketplace, action, f"{case.id}:{action}", payload)]


def command_envelope(command: Command, case_id: str) -> tuple[str, dict[str, Any], str]:
    return command.routing_key, command_body(command, case_id), command_message_id(command.idempotency_key)
