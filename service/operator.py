"""Operator commands through our own API: the same lifecycle tables as marketplace events.

An operator acts for the merchant (approve, reject, record an inspection, refund, …);
each command stands for one event of the case table (`core.cases.OPERATOR_COMMANDS`).
Unlike a marketplace's event, which is kept even when the state does not allow it,
a command the state forbids is refused (issue 5: 409 naming the state), so nothing
is recorded. Applied in one transaction with the outbox, like every other move.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.storage.ports import ConcurrentUpdate
from adapters.storage.unit_of_work import UnitOfWork, new_id
from core.cases import OPERATOR_COMMANDS, OPERATOR_RECORDS, ReturnCase
from service.handlers import CaseMoves
from service.marketplaces import decision_commands

ATTEMPTS = 3
# Commands whose `refund_amount` is paid to the buyer, so it is held to the case's refund cap (issue 19).
PAYOUT_COMMANDS = ("refund", "compensate", "resolve_dispute")


class CaseNotFound(Exception):
    """No case has that id: answered 404."""


class UnknownCommand(Exception):
    """No operator command has that name: answered 404."""


class OperatorCommands:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        moves: CaseMoves,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.moves = moves
        self.on_commit = on_commit

    def run(self, case_id: str, action: str, detail: dict[str, Any]) -> str:
        """Apply `action` to the case; returns the event id it was recorded under.

        Raises UnknownCommand, CaseNotFound, core.cases.CommandRefused (the state forbids it) or
        core.ledger.AmountOverCap (a payout above what the buyer paid for the lines).
        """
        event_type = OPERATOR_COMMANDS.get(action)
        if event_type is None and action not in OPERATOR_RECORDS:
            raise UnknownCommand(action)
        for attempt in range(ATTEMPTS):
            try:
                return self._run_once(case_id, action, event_type, detail)
            except ConcurrentUpdate:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _run_once(self, case_id: str, action: str, event_type: str | None, detail: dict[str, Any]) -> str:
        with self.uow() as uow:
            case: ReturnCase | None = uow.cases.get(case_id, for_update=True)
            if case is None:
                raise CaseNotFound(case_id)
            now = self.clock()
            event_id = new_id("op")
            if event_type is None:  # a record (OPERATOR_RECORDS): a fact on the case, no move
                case.record_operator(action, detail, now)
                self.moves.settle(uow, case, [], now)
                uow.commit()
                return event_id
            case.require_command(action)
            previous = case.state
            self.moves.prepare(case)
            if detail.get("refund_amount") is not None and action in PAYOUT_COMMANDS:
                case.check_payout(Decimal(detail["refund_amount"]), award=action == "resolve_dispute")
            if detail.get("diminished_value") is not None:
                case.deduct("diminished_value", Decimal(detail["diminished_value"]), now)
            commands = case.apply_internal(
                event_type, event_id, now, {"operator_command": action, **detail}, self.moves.decide
            )
            commands += decision_commands(case, action, detail.get("note"), detail.get("reason_code"))
            sent = self.moves.settle(uow, case, commands, now, previous)
            uow.commit()
        if sent:
            self.on_commit()
        return event_id
