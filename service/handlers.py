"""Case events: a marketplace event (or operator command, or timer) applied to its case, and what follows.

Carrier bookings, the other consumer that once lived here, are in `service/carrier_bookings.py`.

Each handler loads what it needs through a unit of work, calls the domain, and
commits the change, the consumers' inbox mark and any outgoing messages together.
The queue consumer acks only after the handler returns, so a crash anywhere
means a redelivery, and the inbox makes the redelivery a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from marshmallow import ValidationError

from adapters.messages import Defer, IncomingMessage, Reject
from adapters.storage.unit_of_work import UnitOfWork
from core.cases import Command, Decide, ReturnCase
from core.events import ReturnEvent
from core.lifecycle import CaseState
from core.routing import Route, carrier_route
from service.canonical import decode_event
from service.case_policy import CasePolicy
from service.customs import CustomsPlanning
from service.fx import FxRecorder
from service.intake import command_body, command_message_id
from service.marketplaces import untellable
from service.operations import DEAD_LETTER_MARK

log = logging.getLogger(__name__)


class CaseMoves:
    """What follows every move of a case, whatever moved it (marketplace event, operator command, timer).

    The lifecycle's commands go to the outbox (or flag the case when no adapter would take them), and the
    case is saved; the caller commits the lot in its one transaction. The policy engine (`decide`) is
    handed to the case so its deadlines, timers and refund follow what it now knows.
    """

    def __init__(
        self,
        commands_exchange: str,
        known_adapters: Callable[[str], bool],
        policy: CasePolicy | None = None,
        customs: CustomsPlanning | None = None,
    ) -> None:
        self.commands_exchange = commands_exchange
        self.known_adapters = known_adapters
        self.policy = policy
        self.customs = customs

    @property
    def decide(self) -> Decide | None:
        return self.policy

    def prepare(self, case: ReturnCase) -> None:
        if self.policy is not None:
            self.policy.prepare(case)

    def settle(
        self, uow: UnitOfWork, case: ReturnCase, commands: list[Command], now: datetime, previous: str | None = None
    ) -> int:
        """Write the routable commands to the outbox and save the case; returns how many were written.

        `previous` is the state before the move: an approval (by the marketplace, an operator or merchant
        silence) books the return and plans its customs filing.
        """
        books = previous is not None and case.state == CaseState.APPROVED and previous != CaseState.APPROVED
        if books and not any(c.kind == "carrier" for c in commands):
            route = case.carrier_route
            why = (route.reason if route else None) or "no carrier is named and none is routed"
            case.record_result("no_carrier_route", {"lane": route.lane if route else None, "message": why}, now,
                               attention=True)  # fmt: skip
        if self.customs is not None and previous is not None:
            commands = commands + self.customs.plan(uow, case, now, file=books)
        sent = 0
        routable = self._routable(case, commands, now)
        uow.outbox.prefetch([command_message_id(c.idempotency_key) for c in routable])  # one query, not one each
        for command in routable:
            message_id = command_message_id(command.idempotency_key)
            if uow.outbox.has(message_id):
                case.record_result("command_already_sent", {"command": command.routing_key}, now)
                continue
            uow.outbox.add(
                self.commands_exchange,
                command.routing_key,
                command_body(command, case.id),
                now,
                message_id=message_id,
                correlation_id=case.id,
            )
            case.record_result("command_sent", {"command": command.routing_key}, now)
            sent += 1
        uow.cases.save(case, now)
        return sent

    def _routable(self, case: ReturnCase, commands: list[Command], now: datetime) -> list[Command]:
        """A command for an adapter we do not have would be lost in the broker: flag the case instead."""
        routable = []
        for command in commands:
            why_not = untellable(command)
            if why_not is not None:
                # Issue 18 §2: the marketplace could not be told of the withdrawal; a person tells it by hand.
                case.marketplace_not_told(why_not)
                case.record_result("marketplace_not_told", {"command": command.routing_key, "message": why_not}, now,
                                   attention=True)  # fmt: skip
            elif self.known_adapters(f"{command.kind}.{command.adapter}"):
                routable.append(command)
            else:
                case.record_result(
                    "no_adapter",
                    {"command": command.routing_key, "message": f"no {command.kind} adapter named {command.adapter!r}"},
                    now,
                    attention=True,
                )
        return routable


class CaseEvents:
    """`returns.cases`: apply a marketplace event to its case and emit the commands the lifecycle asks for."""

    consumer = "cases"

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        commands_exchange: str,
        known_adapters: Callable[[str], bool],
        on_commit: Callable[[], None] = lambda: None,
        policy: CasePolicy | None = None,
        fx: FxRecorder | None = None,
        routes: Sequence[Route] = (),
        returns_country: str | None = None,
        customs: CustomsPlanning | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.moves = CaseMoves(commands_exchange, known_adapters, policy, customs)
        self.customs = customs
        self.on_commit = on_commit
        self.fx = fx
        self.routes = tuple(routes)
        self.returns_country = returns_country  # RB_RETURNS_ADDRESS_COUNTRY: where returns go, when configured

    def __call__(self, message: IncomingMessage) -> None:
        with self.uow() as uow:
            if uow.processed.seen(self.consumer, message.message_id):
                return
            sent = self._apply(uow, message)
            uow.processed.mark(self.consumer, message.message_id, self.clock())
            uow.commit()
        if sent:
            self.on_commit()

    def handle_batch(self, messages: Sequence[IncomingMessage]) -> list[Exception | None]:
        """Apply a batch in one transaction, each message in its own savepoint; one outcome per message.

        None: applied (or handled before), to be acked; else the message's own `Reject`, `Defer` or
        failure, whose writes alone were rolled back. The inbox marks go in one INSERT with the commit;
        a failing commit raises, and the consumer then handles the messages one by one. An event applied
        earlier in the batch counts as handled for the per-case order check of the ones after it.
        """
        outcomes: list[Exception | None] = [None] * len(messages)
        applied: list[str] = []
        sent = 0
        with self.uow() as uow:
            handled = uow.processed.seen_among(self.consumer, [m.message_id for m in messages])
            for position, message in enumerate(messages):
                if message.message_id in handled:
                    continue
                try:
                    with uow.savepoint():
                        sent += self._apply(uow, message, handled_here=applied)
                except Exception as failure:  # this message's alone: the others of the batch go on
                    outcomes[position] = failure
                else:
                    applied.append(message.message_id)
                    handled.add(message.message_id)
            uow.processed.mark_all(self.consumer, applied, self.clock())
            uow.commit()
        if sent:
            self.on_commit()
        return outcomes

    def _apply(self, uow: UnitOfWork, message: IncomingMessage, handled_here: Sequence[str] = ()) -> int:
        """Apply one event to its case (not committed); returns how many commands went to the outbox."""
        body = message.body
        try:
            event = decode_event(body.get("event"), message.headers.get("x-rb-schema"))
            event_id, case_id = str(body["event_id"]), str(body["case_id"])
        except (ValidationError, KeyError, TypeError) as exc:
            raise Reject(f"not a valid event envelope: {exc}") from exc
        case = uow.cases.get(case_id)
        if case is None:
            raise Reject(f"case {case_id} does not exist")
        earlier = uow.received.earlier_unhandled(
            case_id, event_id, (self.consumer, DEAD_LETTER_MARK + self.consumer), handled_here
        )
        if earlier:
            raise Defer(f"{earlier}, received earlier for case {case_id}, is not handled yet")
        now = self.clock()
        self._route(case, event)
        previous = case.state
        self.moves.prepare(case)
        commands = case.apply(event, event_id, now, self.moves.decide)
        if self.fx is not None:
            ledger = self.fx.record(case, event, now).ledger
            if ledger is not None:
                uow.fx_ledger.put(case.id, ledger, now)
        return self.moves.settle(uow, case, commands, now, previous)

    def _route(self, case: ReturnCase, event: ReturnEvent) -> None:
        """Which carrier brings the return home: the one named, else the lane table's (config/carrier_routes.json)."""
        ship_to = event.order.ship_to or case.order.ship_to
        ship_from = event.order.ship_from or case.order.ship_from
        merchant_country = self.returns_country or (ship_from.country if ship_from else None)
        named = event.return_.carrier or case.return_.carrier
        case.route_return(carrier_route(self.routes, ship_to.country if ship_to else None, merchant_country, named))
