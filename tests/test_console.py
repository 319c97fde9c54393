"""The console's pages through Flask's test browser: sign-in, CSRF, search, a case, commands, queues, charts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import Settings
from core.cases import open_case
from service.canonical import load_event
from tests.case_helpers import recent
from tests.conftest import make_settings, post_event, unique_event, wait_for
from web.charts import bar_chart, sparkline, stacked_bar

TOKEN = "console-token-0123456789abcdef"
PAGES = ["/ops", "/ops/cases", "/ops/cases/case_x", "/ops/analytics/page"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_OPS_TOKEN=TOKEN)


@pytest.fixture
def browser(app):  # type: ignore[no-untyped-def]
    """A client as a browser is: no Authorization header, cookies kept."""
    return app.test_client()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _signed_in(browser, next_page: str = "/ops/cases") -> str:  # type: ignore[no-untyped-def]
    """Sign in through the form (web/auth.py); the CSRF token the console's forms then carry."""
    form = browser.get(f"/ops/login?next={next_page}").get_data(as_text=True)
    answer = browser.post("/ops/login", data={"token": TOKEN, "csrf_token": _csrf(form), "next": next_page})
    assert answer.status_code == 303 and answer.headers["Location"] == next_page
    return _csrf(browser.get(next_page).get_data(as_text=True))


def _case(browser, container, n: str, **changes) -> str:  # type: ignore[no-untyped-def]
    answer = post_event(browser, recent(unique_event(n=n, **changes), datetime.now(UTC)))
    assert answer.status_code == 202
    body = answer.get_json()

    def handled() -> bool:
        with container.uow() as uow:
            return uow.processed.seen("cases", body["event_id"])

    assert wait_for(handled, timeout=10)
    return body["case_id"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_asks_for_sign_in_and_takes_no_token_from_the_address_bar(browser, path: str) -> None:  # type: ignore[no-untyped-def]
    answer = browser.get(path)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 401 and 'name="token"' in page
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert f'name="next" value="{path}"' in page  # signed in, the operator is back on the page asked for
    assert browser.get("/ops/analytics").status_code == 401  # the JSON route: no sign-in form, a 401
    assert browser.get(f"{path}?token={TOKEN}").status_code == 401  # never a token from the address bar


def test_the_console_routes_go_through_web_auth(app) -> None:  # type: ignore[no-untyped-def]
    scopes = {
        rule.rule: getattr(app.view_functions[rule.endpoint], "required_scope", None)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("console.")
    }
    assert scopes == {"/ops": "read", "/ops/cases": "read", "/ops/cases/<case_id>": "read",
                      "/ops/cases/<case_id>/commands/<action>": "act", "/ops/analytics": "read",
                      "/ops/analytics/page": "read"}  # fmt: skip


def test_posts_from_pages_need_the_forms_csrf_token(browser, container, running) -> None:  # type: ignore[no-untyped-def]
    case_id = _case(browser, container, "csrf")
    csrf = _signed_in(browser)
    assert browser.post(f"/ops/cases/{case_id}/commands/approve").status_code == 403
    assert browser.post(f"/ops/cases/{case_id}/commands/approve", data={"csrf_token": "0" * 64}).status_code == 403
    queue = f"{container.topology.prefix}.cases"
    assert browser.post(f"/ops/dead-letters/{queue}/replay", data={"all": "true"}).status_code == 403
    with container.uow() as uow:
        assert uow.cases.get(case_id).state == "requested"  # nothing ran
    assert browser.post(f"/ops/cases/{case_id}/commands/approve", data={"csrf_token": csrf}).status_code == 303
    assert browser.post("/ops/logout", data={"csrf_token": csrf}).status_code == 303
    assert browser.get("/ops").status_code == 401


def test_a_read_only_key_sees_the_console_but_runs_no_command(browser, container, running) -> None:  # type: ignore[no-untyped-def]
    case_id = _case(browser, container, "readonly")
    key = container.api_keys.create("auditor", "read").key
    reader = {"Authorization": f"Bearer {key}"}
    assert browser.get(f"/ops/cases/{case_id}", headers=reader).status_code == 200
    assert browser.get("/ops/analytics", headers=reader).status_code == 200
    assert browser.post(f"/ops/cases/{case_id}/commands/approve", headers=reader).status_code == 403
    with container.uow() as uow:
        assert uow.cases.get(case_id).state == "requested"


def test_a_command_the_state_forbids_is_a_409_page_and_changes_nothing(browser, container, running) -> None:  # type: ignore[no-untyped-def]
    case_id = _case(browser, container, "conflict")
    csrf = _signed_in(browser)
    answer = browser.post(f"/ops/cases/{case_id}/commands/mark_refunded", data={"csrf_token": csrf})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 409
    assert "409 Conflict" in page and "not allowed while the case is &#39;requested&#39;" in page
    assert "allowed only while the case is: refund_processing" in page
    missing = browser.post(f"/ops/cases/{case_id}/commands/record_inspection", data={"csrf_token": csrf})
    assert missing.status_code == 400 and "inspection_passed" in missing.get_data(as_text=True)
    assert browser.post(f"/ops/cases/{case_id}/commands/nope", data={"csrf_token": csrf}).status_code == 404
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        assert case.state == "requested" and not any(e.name == "refund.completed" for e in case.timeline)


def test_a_command_the_state_allows_runs_and_the_page_says_so(browser, container, running) -> None:  # type: ignore[no-untyped-def]
    case_id = _case(browser, container, "allowed")
    csrf = _signed_in(browser)
    page = browser.get(f"/ops/cases/{case_id}").get_data(as_text=True)
    allowed = page.split('id="commands-allowed"')[1].split('id="commands-other"')[0]
    assert 'data-command="approve"' in allowed and 'data-command="mark_refunded"' not in allowed
    answer = browser.post(f"/ops/cases/{case_id}/commands/reject", data={"csrf_token": csrf, "note": "worn"})
    assert answer.status_code == 303
    after = browser.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Done: <code>reject</code>" in after and "The case is now <strong>rejected</strong>" in after


def test_the_case_page_shows_everything_about_the_case(browser, container, running) -> None:  # type: ignore[no-untyped-def]
    case_id = _case(browser, container, "view")
    _signed_in(browser)
    page = browser.get(f"/ops/cases/{case_id}").get_data(as_text=True)
    for section in ("timeline", "shipments", "customs", "notices", "policy", "deadlines"):
        assert f'id="{section}"' in page
    assert "return.requested" in page and "request_received" in page  # an event and a notice
    assert "Directive 2011/83/EU" in page  # the policy trace's sources
    assert "cn_cbec_export_return" in page  # the customs plan of a DE→CN return
    assert "\\u0027" not in page  # shown as written, not as escaped JSON
    assert browser.get("/ops/cases/case_missing").status_code == 404


def test_search_by_id_order_return_marketplace_state_attention_and_overdue(browser, container, running) -> None:  # type: ignore[no-untyped-def]
    first = _case(browser, container, "s1")
    second = _case(browser, container, "s2")
    now = datetime.now(UTC)
    with container.uow() as uow:
        late = open_case("case_late_search", "generic", load_event(recent(unique_event(n="late"), now)), now)
        late.state, late.needs_attention = "requested", True
        late.policy_deadlines = {"merchant_response_due_by": now - timedelta(hours=3)}
        uow.cases.add(late, now)
        uow.commit()
    _signed_in(browser)

    def found(query: str) -> list[str]:
        answer = browser.get(f"/ops/cases?{query}")
        assert answer.status_code == 200
        return re.findall(r'data-case="([^"]+)"', answer.get_data(as_text=True))

    assert found("q=ORD-s1") == [first]
    assert found(f"q={second}") == [second]
    assert found("q=RMA-s2") == [second]
    assert found("return_id=RMA-s1") == [first]
    assert found("order_id=ORD-s2&marketplace=generic") == [second]
    assert found("order_id=ORD-s2&marketplace=ebay") == []
    assert sorted(found("state=requested")) == sorted([first, second, "case_late_search"])
    assert found("needs_attention=1") == ["case_late_search"]
    assert found("overdue=1") == ["case_late_search"]
    bad = browser.get("/ops/cases?state=bogus")
    assert bad.status_code == 400 and "state" in bad.get_data(as_text=True)


def test_queues_are_grouped_with_the_non_empty_first_and_a_depth_sparkline(browser, container, running) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        container.operations.sample_depths()
    _signed_in(browser)
    page = browser.get("/ops").get_data(as_text=True)
    assert page.index('data-role="work"') < page.index('data-role="retry"') < page.index('data-role="dead"')
    assert "2 samples over the last hour, now 0, at most 0" in page
    assert re.search(r"All \d+ retry queues are empty\.", page) and '<details data-role-quiet="retry">' in page
    history = container.operations.depth_history()
    assert all(len(samples) == 2 for samples in history.values()) and history


def test_depth_samples_older_than_an_hour_are_dropped(container) -> None:  # type: ignore[no-untyped-def]
    real = container.operations.clock
    container.operations.clock = lambda: real() - timedelta(hours=2)
    container.operations.sample_depths()
    container.operations.clock = real
    container.operations.sample_depths()
    assert all(len(samples) == 1 for samples in container.operations.depth_history().values())


def test_charts_scale_bars_and_draw_patterns_for_parts() -> None:
    chart = bar_chart("Returns by reason", [("defective", 10, "10 (5.0 %)"), ("other", 5, "5 (2.5 %)"), ("x", 0, "0")])
    assert [b.width for b in chart.bars] == [300, 150, 0]
    assert [b.y for b in chart.bars] == [0, 26, 52]
    stacked = stacked_bar("Deadlines", [("met", 3), ("paid late", 1), ("passed unpaid", 0)], width=400)
    assert [(s.width, s.pattern) for s in stacked.segments] == [(300, "solid"), (100, "hatched"), (0, "dotted")]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    line = sparkline([(start, 0), (start + timedelta(minutes=30), 4), (start + timedelta(hours=1), 2)])
    assert line.points == "1.0,22.0 60.0,2.0 119.0,12.0"
    assert line.description == "3 samples over the last hour, now 2, at most 4"
    assert sparkline([]).description == "no depth samples yet"


def test_the_analytics_page_draws_its_charts_and_names_a_bad_field(browser, container, running) -> None:  # type: ignore[no-untyped-def]
    _case(browser, container, "chart")
    _signed_in(browser)
    page = browser.get("/ops/analytics/page").get_data(as_text=True)
    assert page.count('<svg role="img"') >= 5  # one chart per dimension, at least
    assert re.search(
        r"<desc id=\"chart-reason-desc\">Returns by reason: size_or_fit 1 \(100\.0 % of all orders\)", page
    )
    bad = browser.get("/ops/analytics/page?days=0")
    assert bad.status_code == 400 and "<code>days</code>" in bad.get_data(as_text=True)
