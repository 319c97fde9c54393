"""The operations console (server-rendered pages, no script) and `GET /ops/analytics`.

Pages: `/ops` (queues grouped work / retry / dead with depth sparklines, dead letters with
replay, overdue cases, recent failures), `/ops/cases` (search), `/ops/cases/<id>` (everything
about one case, with the operator commands as buttons), `/ops/analytics/page`. A command from
a page goes through the same schema, service and lifecycle checks as
`POST /returns/<id>/commands/<action>`: a state that forbids it is a 409, shown on the page.
Who may see and do what is web/auth.py's to decide, asked through one seam, web/console_access.py.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.exc import SQLAlchemyError

from adapters.marketplaces.base import MARKETPLACES
from core.analytics import DIMENSIONS, Period
from core.cases import OPERATOR_COMMANDS, CommandRefused
from core.lifecycle import LIFECYCLE, CaseState
from service.analytics import ReturnAnalytics, SignalThresholds, backfill_facts
from service.bootstrap import Container
from service.canonical import flatten_errors
from service.operator import CaseNotFound, OperatorCommands, UnknownCommand
from web import console_access as access
from web.charts import bar_chart, sparkline, stacked_bar
from web.errors import error_response
from web.operator import OperatorCommandSchema
from web.returns import case_view

bp = Blueprint("console", __name__, template_folder="templates", cli_group=None)

DEFAULT_DAYS = 30
MAX_DAYS = 3660
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)  # periods stay far from the calendar's ends
ROLES = ("work", "retry", "dead")
STATES = sorted(v for k, v in vars(CaseState).items() if k.isupper())
# Commands whose form asks for more than a note.
COMMAND_FIELDS = {
    "record_inspection": ("inspection_passed",),
    "refund": ("refund_amount",),
    "resolve_dispute": ("refund_amount",),
    "reject": ("reason_code",),
}


@bp.app_template_filter("readable")
def readable(value: Any, indent: int | None = None) -> str:
    """JSON as a person reads it (characters as they are; the template escapes the HTML)."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def _container() -> Container:
    return current_app.extensions["returnbridge"]


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return access.render(render_template(template, nav=request.path, **context), status)


# --- queues and dead letters -----------------------------------------------------------------------


@bp.get("/ops")
@access.page
def home() -> ResponseReturnValue:
    """The operations console (HTML).
    ---
    get:
      summary: Queues grouped work / retry / dead (non-empty first, depth sparklines), dead letters, overdue cases
      security: [{opsToken: []}]
      responses:
        200: {description: The page, content: {text/html: {}}}
        401: {description: The sign-in form, content: {text/html: {}}}
    """
    operations = _container().operations
    groups: dict[str, list[dict[str, Any]]] = {role: [] for role in ROLES}
    queues: list[dict[str, Any]] = []
    dead_letters: list[dict[str, Any]] = []
    overdue: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    history: dict[str, Any] = {}
    broker_error = database_error = None
    # A part that is down (broker or database) is named on the page instead of failing it.
    try:
        queues = operations.queues()
        dead_letters = operations.dead_letters(limit=50)
    except SQLAlchemyError as exc:
        database_error = f"the database did not answer: {type(exc).__name__}"
    except Exception as exc:
        broker_error = f"the broker did not answer: {type(exc).__name__}"
    try:
        history = operations.depth_history()
        overdue = operations.overdue(limit=50)
        failures = operations.recent_failures(limit=20)
    except SQLAlchemyError as exc:
        database_error = f"the database did not answer: {type(exc).__name__}"
    embedded = _container().settings.embedded_broker  # kombu's in-process broker counts no consumers
    for queue in queues:
        if embedded:
            queue = {**queue, "consumers": None}
        # Shown first and unfolded: a queue holding messages, or a work queue nobody consumes.
        attention = bool(queue["messages"]) or (queue["role"] == "work" and queue["consumers"] == 0)
        spark = sparkline(history.get(queue["name"], []))
        groups.setdefault(queue["role"], []).append({**queue, "spark": spark, "attention": attention})
    for role in groups:
        groups[role].sort(key=lambda q: (-(q["messages"] or 0), q["name"]))
    replayed = request.args.get("replayed")
    return _page(
        "console_home.html",
        groups=groups,
        dead_letters=dead_letters,
        broker_error=broker_error,
        database_error=database_error,
        overdue=overdue,
        failures=failures,
        now=operations.clock().isoformat(timespec="seconds"),
        replayed=int(replayed) if replayed and replayed.isdigit() else None,
        replayed_queue=request.args.get("queue"),
    )


# --- cases ---------------------------------------------------------------------------------------


class SearchQuery(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=200))
    order_id = fields.String(load_default="", validate=validate.Length(max=200))
    return_id = fields.String(load_default="", validate=validate.Length(max=200))
    marketplace = fields.String(load_default="", validate=validate.Length(max=40))
    state = fields.String(load_default="", validate=validate.OneOf(["", *STATES]))
    needs_attention = fields.Boolean(load_default=False, truthy={"1", "true", "on", "yes"})
    overdue = fields.Boolean(load_default=False, truthy={"1", "true", "on", "yes"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))


PAGE_SIZE = 50


@bp.get("/ops/cases")
@access.page
def cases() -> ResponseReturnValue:
    """Case search (HTML).
    ---
    get:
      summary: Find cases by id, order id, return id, marketplace, state, needs attention or overdue
      security: [{opsToken: []}]
      responses:
        200: {description: The page, content: {text/html: {}}}
        400: {description: A search field is not valid, content: {text/html: {}}}
        401: {description: The sign-in form, content: {text/html: {}}}
    """
    context: dict[str, Any] = {"states": STATES, "marketplaces": MARKETPLACES.names(), "args": request.args}
    try:
        query = SearchQuery().load(request.args.to_dict())
    except ValidationError as exc:
        return _page("console_cases.html", 400, errors=flatten_errors(exc.messages), rows=[], total=0, **context)
    container = _container()
    overdue = {c["case_id"]: c for c in container.operations.overdue(limit=5000)} if query["overdue"] else None
    ids = list(overdue) if overdue is not None else None
    free = query["q"].strip()
    with container.uow() as uow:
        if free:
            rows, total = _free_search(uow, free, ids)
        else:
            rows, total = uow.cases.list(
                state=query["state"] or None, marketplace=query["marketplace"] or None,
                needs_attention=True if query["needs_attention"] else None, order_id=query["order_id"] or None,
                return_id=query["return_id"] or None, case_ids=ids,
                limit=PAGE_SIZE, offset=(query["page"] - 1) * PAGE_SIZE,
            )  # fmt: skip
        found = [
            {"id": r.id, "marketplace": r.marketplace, "order_id": r.order_id, "return_id": r.return_id,
             "state": r.state, "needs_attention": r.needs_attention, "updated_at": r.updated_at.isoformat(timespec="seconds"),
             "overdue": (overdue or {}).get(r.id, {}).get("overdue")}
            for r in rows
        ]  # fmt: skip
    return _page("console_cases.html", rows=found, total=total, query=query, page_size=PAGE_SIZE, errors=None,
                 **context)  # fmt: skip


def _free_search(uow: Any, text: str, ids: list[str] | None) -> tuple[list[Any], int]:
    """One box for a case id, an order id or a return id: exact matches, each on its index."""
    seen: dict[str, Any] = {}
    for criteria in ({"case_ids": [text]}, {"order_id": text}, {"return_id": text}):
        rows, _ = uow.cases.list(limit=PAGE_SIZE, **criteria)
        for row in rows:
            if ids is None or row.id in ids:
                seen.setdefault(row.id, row)
    return list(seen.values()), len(seen)


def _case_page(case_id: str, status: int = 200, **extra: Any) -> Response:
    container = _container()
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        if case is None:
            return _page("ops_error.html", 404, title="No such case", message=f"There is no case {case_id!r}.")
        view = case_view(case, uow.shipments.for_case(case_id), uow.customs_claims.for_case(case_id),
                         uow.scans.for_case(case_id), uow.notice_deliveries.for_case(case_id))  # fmt: skip
        allowed = {action for action in OPERATOR_COMMANDS if case.command_allowed(action)}
    commands = [
        {"action": action, "event": event, "allowed": action in allowed, "fields": COMMAND_FIELDS.get(action, ())}
        for action, event in OPERATOR_COMMANDS.items()
    ]
    return _page("console_case.html", status, case=view, commands=commands, done=request.args.get("done"), **extra)


@bp.get("/ops/cases/<case_id>")
@access.page
def case_page(case_id: str) -> ResponseReturnValue:
    """One case (HTML).
    ---
    get:
      summary: A case's timeline, shipments and tracking, customs plan and claims, notices and deliveries, policy trace
      security: [{opsToken: []}]
      parameters:
        - {in: path, name: case_id, required: true, schema: {type: string}}
      responses:
        200: {description: The page, content: {text/html: {}}}
        401: {description: The sign-in form, content: {text/html: {}}}
        404: {description: No such case, content: {text/html: {}}}
    """
    return _case_page(case_id)


@bp.post("/ops/cases/<case_id>/commands/<action>")
@access.act
def case_command(case_id: str, action: str) -> ResponseReturnValue:
    """An operator command from the console (HTML form).
    ---
    post:
      summary: Run an operator command from the case page; the same checks as POST /returns/<id>/commands/<action>
      security: [{opsToken: []}]
      parameters:
        - {in: path, name: case_id, required: true, schema: {type: string}}
        - {in: path, name: action, required: true, schema: {type: string}}
      responses:
        303: {description: Done; back to the case page}
        400: {description: A field is not valid, content: {text/html: {}}}
        401: {description: Not signed in, content: {text/html: {}}}
        403: {description: Missing or wrong CSRF token, content: {text/html: {}}}
        404: {description: No such case or command, content: {text/html: {}}}
        409: {description: The case's state forbids the command, content: {text/html: {}}}
    """
    if action not in OPERATOR_COMMANDS:
        return _page("ops_error.html", 404, title="No such command", message=f"There is no command {action!r}.")
    body = {k: v for k, v in request.form.items() if k != access.CSRF_FIELD and v != ""}
    schema = OperatorCommandSchema()
    schema.context_action = action
    try:
        detail = schema.load(body)
    except ValidationError as exc:
        errors = flatten_errors(exc.messages)
        return _case_page(case_id, 400, problem={"status": 400, "action": action, "message": "The command is not valid.",
                                                  "fields": errors})  # fmt: skip
    container = _container()
    commands = OperatorCommands(container.uow, container.clock, container.moves, container.relay.notify)
    try:
        commands.run(case_id, action, detail)
    except (CaseNotFound, UnknownCommand):
        return _page("ops_error.html", 404, title="Not found", message=f"No case {case_id!r} or command {action!r}.")
    except CommandRefused as refused:
        return _case_page(case_id, 409, problem={"status": 409, "action": action, "message": str(refused),
                                                  "allowed_from": _allowed_from(action)})  # fmt: skip
    return redirect(f"/ops/cases/{case_id}?done={action}", code=303)


def _allowed_from(action: str) -> list[str]:
    event = OPERATOR_COMMANDS[action]
    return sorted({state for row in LIFECYCLE if row.event == event for state in row.sources})


# --- analytics -------------------------------------------------------------------------------------


class AnalyticsQuery(Schema):
    from_ = fields.Date(data_key="from", load_default=None, validate=validate.Range(min=FIRST_DAY, max=LAST_DAY))
    to = fields.Date(load_default=None, validate=validate.Range(min=FIRST_DAY, max=LAST_DAY))
    days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_DAYS))
    min_returns = fields.Integer(load_default=None, validate=validate.Range(min=1, max=10_000))
    returned_share = fields.Decimal(load_default=None, places=None, validate=validate.Range(min=Decimal("0.01"),
                                    max=Decimal(1)), allow_nan=False)  # fmt: skip
    window_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_DAYS))

    @validates_schema
    def _period(self, data: dict[str, Any], **kwargs: object) -> None:
        start, end = data.get("from_"), data.get("to")
        if start and end and end < start:
            raise ValidationError("must not be before from", "to")
        if start and end and (end - start).days >= MAX_DAYS:
            raise ValidationError(f"the period is at most {MAX_DAYS} days", "to")
        if data.get("days") and start:
            raise ValidationError("give either from (with to) or days, not both", "days")


def _analytics_request() -> tuple[Period, SignalThresholds] | dict[str, list[str]]:
    """The period and thresholds asked for, or the fields at fault."""
    try:
        query = AnalyticsQuery().load({k: v for k, v in request.args.items() if v != ""})
    except ValidationError as exc:
        return flatten_errors(exc.messages)
    today: date = _container().clock().date()
    end = query["to"] or today
    if query["from_"]:
        if query["from_"] > end:
            return {"from": [f"must not be after the period's end ({end.isoformat()})"]}
        if (end - query["from_"]).days >= MAX_DAYS:
            return {"from": [f"the period is at most {MAX_DAYS} days"]}
        period = Period.of_days(query["from_"], end)
    else:
        period = Period.of_days(end - timedelta(days=(query["days"] or DEFAULT_DAYS) - 1), end)
    defaults = SignalThresholds()
    thresholds = SignalThresholds(
        window_days=query["window_days"] or defaults.window_days,
        min_returns=query["min_returns"] or defaults.min_returns,
        returned_share=query["returned_share"] or defaults.returned_share,
    )
    return period, thresholds


def _report(period: Period, thresholds: SignalThresholds) -> dict[str, Any]:
    container = _container()
    return ReturnAnalytics(container.uow, container.clock).report(period, thresholds)


@bp.get("/ops/analytics")
@access.api
def analytics() -> ResponseReturnValue:
    """Return analytics (JSON).
    ---
    get:
      summary: Return rate and counts by reason, marketplace, category, lane, jurisdiction; refund timing against
        deadlines with breaches; refunds and duty/VAT recovered by currency; buyer-level abuse signals
      description: >
        The period is `from`..`to` (days, inclusive, UTC) or the `days` ending `to` (default the last 30 days
        to today). Signals look back `window_days` (default 90) from the period's end; a buyer is a serial
        returner with `min_returns` returns (default 5) or `returned_share` (default 0.6) of the value of at
        least 3 orders returned. Signals are for a person to review; nothing acts on them.
      security: [{opsToken: []}]
      parameters:
        - {in: query, name: from, schema: {type: string, format: date}}
        - {in: query, name: to, schema: {type: string, format: date}}
        - {in: query, name: days, schema: {type: integer}}
        - {in: query, name: window_days, schema: {type: integer}}
        - {in: query, name: min_returns, schema: {type: integer}}
        - {in: query, name: returned_share, schema: {type: string}}
      responses:
        200: {description: The report}
        400: {description: A query field is not valid, content: {application/json: {schema: Error}}}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
    """
    asked = _analytics_request()
    if isinstance(asked, dict):
        return error_response(400, "invalid_query", "the analytics query is not valid", asked)
    return jsonify(_report(*asked))


@bp.get("/ops/analytics/page")
@access.page
def analytics_page() -> ResponseReturnValue:
    """Return analytics (HTML).
    ---
    get:
      summary: The analytics of GET /ops/analytics as a page with charts (server-rendered SVG)
      security: [{opsToken: []}]
      responses:
        200: {description: The page, content: {text/html: {}}}
        400: {description: A query field is not valid, content: {text/html: {}}}
        401: {description: The sign-in form, content: {text/html: {}}}
    """
    asked = _analytics_request()
    if isinstance(asked, dict):
        return _page("console_analytics.html", 400, errors=asked, report=None, args=request.args)
    report = _report(*asked)
    charts = {
        dimension: bar_chart(
            f"Returns by {dimension}",
            [(g["key"], g["returns"], _bar_text(g, dimension)) for g in report["by"][dimension] if g["returns"]],
        )
        for dimension in DIMENSIONS
    }
    deadlines = report["refund_timing"]["deadlines"]
    deadline_bar = stacked_bar(
        "Refund deadlines in the period",
        [
            ("met", deadlines["met"]),
            ("paid late", deadlines["paid_late"]),
            ("passed unpaid", deadlines["passed_unpaid"]),
        ],
    )
    return _page("console_analytics.html", report=report, charts=charts, deadline_bar=deadline_bar,
                 dimensions=DIMENSIONS, errors=None, args=request.args)  # fmt: skip


def _bar_text(group: dict[str, Any], dimension: str) -> str:
    rate = group["return_rate"]
    share = f"{Decimal(rate) * 100:.1f} %" if rate is not None else "no orders known"
    orders = group["orders"]
    of = "of all orders" if dimension == "reason" else f"of {orders} order{'' if orders == 1 else 's'}"
    return f"{group['returns']} ({share} {of})"


@bp.cli.command("analytics-backfill")
def analytics_backfill() -> None:
    """Give cases stored before migration 0013 their analytics row (`flask --app wsgi analytics-backfill`)."""
    container = _container()
    print(f"{backfill_facts(container.uow, container.clock)} cases given their analytics facts")
