"""Customs on the case: its plan and declaration (`ReturnCase.customs`, `.customs_declaration`), the duty/VAT
claims ledger, and the filings.

The plan (core/customs.py) is worked out from the case whenever an event changes it,
so `GET /returns/<id>` shows the regime, documents and deadlines from the request on
(carriers_customs.md §3). On approval the returned-goods declaration and one claim
per authority where the buyer paid duty or import VAT (`order.duties_paid > 0`) go
out as `customs.<adapter>.declare` / `customs.<adapter>.file_claim` commands; the
consumer here builds each filing, stores it, and sends it only when the adapter has
credentials (contract: built, stored and shown, not sent). Each filing is an outbound
effect (service/effects.py) under the command's idempotency key; the broker receives that
key as `Idempotency-Key`, so it is idempotent: a filing whose answer was lost (timeout,
crash during the call) is sent again rather than left for a person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.customs.base import CUSTOMS, CustomsAdapter, CustomsRejected, Filing
from adapters.http import HttpClient, OutboundRequest, TransientHttpError
from adapters.messages import IncomingMessage, Reject
from adapters.storage.unit_of_work import UnitOfWork, new_id
from config.settings import Settings
from core.cases import Command, ReturnCase
from core.customs import (
    RETURNED,
    CustomsPlan,
    DutyClaim,
    LedgerClaim,
    customs_plan,
    expire_claims,
    facts_for_return,
)
from core.effects import EffectKind, EffectState, OutboundEffect, Step
from service.effects import Intent, OutboundEffectsFlow

log = logging.getLogger(__name__)

FILED, NOT_SENT, REFUSED, PLANNED, EXPIRED = "filed", "not_sent", "refused", "planned", "expired"
SETTLED = {FILED, NOT_SENT, REFUSED, EXPIRED, "accepted"}


def plan_for(case: ReturnCase, returns_country: str | None, now: datetime) -> CustomsPlan | None:
    facts = facts_for_return(case.order, case.items, returns_country, case.created_at or now, case.return_.reason)
    if facts is None:
        return None
    plan = customs_plan(facts)
    return expire_claims(plan, now) if plan is not None else None


def claim_view(claim: LedgerClaim) -> dict[str, Any]:
    filing = claim.filing
    return {
        "id": claim.id,
        "authority": claim.authority,
        "basis": claim.basis,
        "reason": claim.reason or RETURNED,
        "amount": {"amount": str(claim.amount.amount), "currency": claim.amount.currency},
        "due_by": claim.due_by.isoformat(),
        "status": claim.status,
        "adapter": claim.adapter,
        "sent": claim.status not in (PLANNED, NOT_SENT, EXPIRED),
        "reference": claim.reference,
        "request": filing.request if filing else None,
        "error": filing.error if filing else None,
    }


def claim_key(case_id: str, claim_id: str) -> str:
    return f"{case_id}:customs_claim:{claim_id}"


class CustomsPlanning:
    """Called by the case consumer inside its transaction: the plan on the case, the ledger, the commands."""

    def __init__(self, adapter: str, returns_country: str | None = None) -> None:
        self.adapter = adapter
        self.returns_country = returns_country

    def plan(self, uow: UnitOfWork, case: ReturnCase, now: datetime, file: bool) -> list[Command]:
        plan = plan_for(case, self.returns_country, now)
        if plan is None:
            return []
        case.plan_customs(plan)
        if not file:
            return []
        commands = []
        if case.plan_declaration(self.adapter):
            commands.append(
                Command("customs", self.adapter, "declare", f"{case.id}:customs_declaration", {"case_id": case.id})
            )
        for claim in plan.claims:
            if uow.customs_claims.find(case.id, claim.authority) is not None:
                continue
            row = uow.customs_claims.add(
                LedgerClaim(
                    id=new_id("clm"), case_id=case.id, authority=claim.authority, basis=claim.basis, reason=claim.reason,
                    amount=claim.amount, due_by=claim.due_by, status=claim.status, adapter=self.adapter,
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
            if claim.status == EXPIRED:
                case.record_result("duty_claim_expired", {"authority": claim.authority,
                                   "due_by": claim.due_by.isoformat()}, now, attention=True)  # fmt: skip
                continue
            commands.append(
                Command(
                    "customs",
                    self.adapter,
                    "file_claim",
                    claim_key(case.id, row.id),
                    {"case_id": case.id, "claim_id": row.id},
                )
            )
        return commands


class CustomsFilings:
    """`returns.customs.<adapter>`: file the returned-goods declaration and the duty/VAT claims, once each."""

    def __init__(
        self,
        adapter_name: str,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        settings: Settings,
        http: HttpClient,
    ) -> None:
        self.adapter: CustomsAdapter = CUSTOMS.get(adapter_name)
        self.consumer = f"customs.{adapter_name}"
        self.uow = uow
        self.clock = clock
        self.settings = settings
        self.adapter_settings = settings.for_adapter(adapter_name)
        self.returns_country = settings.for_adapter("returns_address").get("COUNTRY")
        self.http = http
        self.effects = OutboundEffectsFlow(uow, clock)

    def __call__(self, message: IncomingMessage) -> None:
        body = message.body
        action, case_id = body.get("action"), body.get("case_id")
        payload = body["payload"] if isinstance(body.get("payload"), dict) else {}
        if action == "declare" and case_id:
            self._declare(message, str(case_id))
        elif action == "file_claim" and case_id and payload.get("claim_id"):
            self._claim(message, str(case_id), str(payload["claim_id"]))
        else:
            raise Reject(f"{self.consumer} does not handle {action!r}")

    def _sendable(self) -> bool:
        return self.adapter.credentials(self.adapter_settings) is not None

    def _send(self, effect: OutboundEffect, request: OutboundRequest) -> Filing | CustomsRejected:
        """One filing; timeouts, 5xx and 429 leave the effect `retrying` and raise for the queue to send it
        again: the broker takes the same Idempotency-Key twice as once."""
        try:
            return self.adapter.parse_filing(self.http.send(request))
        except CustomsRejected as exc:
            return exc
        except TransientHttpError as exc:
            self.effects.in_doubt(effect.id, str(exc), idempotent=True)
            raise

    @staticmethod
    def _outcome(filing: Filing | None, outcome: Filing | CustomsRejected) -> tuple[str, dict[str, Any] | None]:
        if filing is None:
            return EffectState.REFUSED, None
        return EffectState.DONE, filing.raw if isinstance(filing.raw, dict) else None

    def _declare(self, message: IncomingMessage, case_id: str) -> None:
        key = f"{case_id}:customs_declaration"
        with self.uow() as uow:
            if uow.processed.seen(self.consumer, message.message_id):
                return
            case = uow.cases.get(case_id)
            if case is None:
                raise Reject(f"case {case_id} does not exist")
            now = self.clock()
            declared = case.customs_declaration
            found = self.effects.find(uow, key, idempotent=True)
            if (declared is not None and declared.status in SETTLED) or found.step == Step.NOTHING:
                uow.processed.mark(self.consumer, message.message_id, now)
                uow.commit()
                return
            plan = plan_for(case, self.returns_country, now)
            if plan is None:
                raise Reject(f"case {case_id} crosses no border: nothing to declare")
            request = self.adapter.build_declaration(case.id, plan, self.adapter_settings)
            intent = Intent(case_id, EffectKind.CUSTOMS_DECLARATION, self.adapter.name, key, new_id("dcl"))
            if not self._sendable():
                self.effects.record_unsent(uow, found.effect, intent, EffectState.NOT_SENT, now, request.describe())
                case.declaration_not_sent(self.adapter.name, request.describe())
                case.record_result("customs_declaration_not_sent", {"adapter": self.adapter.name, "message":
                                   f"no credentials for {self.adapter.name}: the declaration is stored, not sent"},
                                   now)  # fmt: skip
                uow.cases.save(case, now)
                uow.processed.mark(self.consumer, message.message_id, now)
                uow.commit()
                return
            effect = self.effects.send(uow, found.effect, intent, now, request.describe())
            uow.commit()
        outcome = self._send(effect, request)
        with self.uow() as uow:
            case = uow.cases.get(case_id)
            if case is None:
                raise Reject(f"case {case_id} vanished")
            now = self.clock()
            filing = outcome if isinstance(outcome, Filing) else None
            refused = filing is None
            outcome_state, result = self._outcome(filing, outcome)
            self.effects.settle(uow, effect.id, outcome_state, now, result, str(outcome) if refused else None)
            case.declaration_answered(
                self.adapter.name,
                request.describe(),
                REFUSED if filing is None else filing.status,
                None if filing is None else filing.reference,
                str(outcome) if refused else None,
            )
            case.record_result(
                "customs_declaration_refused" if refused else "customs_declaration_filed",
                {"adapter": self.adapter.name, "message": str(outcome)} if filing is None
                else {"adapter": self.adapter.name, "reference": filing.reference},
                now,
                attention=refused,
            )  # fmt: skip
            uow.cases.save(case, now)
            uow.processed.mark_once(self.consumer, message.message_id, now)
            uow.commit()

    def _claim(self, message: IncomingMessage, case_id: str, claim_id: str) -> None:
        key = claim_key(case_id, claim_id)
        with self.uow() as uow:
            row = uow.customs_claims.get(claim_id)
            case = uow.cases.get(case_id)
            if row is None or case is None:
                raise Reject(f"claim {claim_id} of case {case_id} does not exist")
            now = self.clock()
            found = self.effects.find(uow, key, idempotent=True)
            if row.status in SETTLED or found.step == Step.NOTHING:
                uow.processed.mark_once(self.consumer, message.message_id, now)
                uow.commit()
                return
            claim = DutyClaim(row.authority, row.amount, row.due_by, row.basis, reason=row.reason or RETURNED)
            if now >= row.due_by:
                uow.customs_claims.update(replace(row, status=EXPIRED, updated_at=now))
                case.record_result("duty_claim_expired", {"authority": row.authority, "due_by":
                                   row.due_by.isoformat()}, now, attention=True)  # fmt: skip
                return self._close(uow, case, message, now)
            request = self.adapter.build_claim(case.id, claim, self.adapter_settings)
            intent = Intent(case_id, EffectKind.CUSTOMS_CLAIM, self.adapter.name, key, claim_id)
            if not self._sendable():
                self.effects.record_unsent(uow, found.effect, intent, EffectState.NOT_SENT, now, request.describe())
                uow.customs_claims.update(replace(row, status=NOT_SENT, updated_at=now))
                case.record_result("duty_claim_not_sent", {"authority": row.authority, "message":
                                   f"no credentials for {self.adapter.name}: the claim is stored, not sent"},
                                   now)  # fmt: skip
                return self._close(uow, case, message, now)
            effect = self.effects.send(uow, found.effect, intent, now, request.describe())
            uow.commit()
        outcome = self._send(effect, request)
        with self.uow() as uow:
            row = uow.customs_claims.get(claim_id)
            case = uow.cases.get(case_id)
            if row is None or case is None:
                raise Reject(f"claim {claim_id} vanished")
            now = self.clock()
            filing = outcome if isinstance(outcome, Filing) else None
            refused = filing is None
            outcome_state, result = self._outcome(filing, outcome)
            self.effects.settle(uow, effect.id, outcome_state, now, result, str(outcome) if refused else None)
            uow.customs_claims.update(replace(row, status=REFUSED if filing is None else filing.status,
                                              reference=None if filing is None else filing.reference,
                                              updated_at=now))  # fmt: skip
            if filing is not None:
                # The case's money ledger (issue 19): what the claim should bring back, once the authority pays.
                case.record_recovery("duty_vat_recovery", row.amount, now, "claimed",
                                     authority=row.authority, reference=filing.reference)  # fmt: skip
            case.record_result(
                "duty_claim_refused" if refused else "duty_claim_filed",
                {"authority": row.authority, "message": str(outcome)} if filing is None
                else {"authority": row.authority, "reference": filing.reference},
                now,
                attention=refused,
            )  # fmt: skip
            self._close(uow, case, message, now)

    def _close(self, uow: UnitOfWork, case: ReturnCase, message: IncomingMessage, now: datetime) -> None:
        uow.cases.save(case, now)
        uow.processed.mark_once(self.consumer, message.message_id, now)
        uow.commit()
