"""The console's pages through Flask's test client: sign-in, CSRF, search, a case, commands, queues, charts."""

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


def _signed_in(client) -> str:  # type: ignore[no-untyped-def]
    """Sign in through the form; the CSRF token the pages then carry."""
    answer = client.post("/ops/login", data={"token": TOKEN, "next": "/ops/cases"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/ops/cases"
    page = client.get("/ops/cases").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]


def _case(client, container, n: str, **changes) -> str:  # type: ignore[no-untyped-def]
    answer = post_event(client, recent(unique_event(n=n, **changes), datetime.now(UTC)))
    assert answer.status_code == 202
    body = answer.get_json()

    def handled() -> bool:
        with container.uow() as uow:
            return uow.processed.seen("cases", body["event_id"])

    assert wait_for(handled, timeout=10)
    return body["case_id"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_asks_for_sign_in_and_a_wrong_token_is_refused(client, path: str) -> None:  # type: ignore[no-untyped-def]
    answer = client.get(path)
    assert answer.status_code == 401 and 'name="token"' in answer.get_data(as_text=True)
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    wrong = client.post("/ops/login", data={"token": "nope", "next": path})
    assert wrong.status_code == 401 and "not the operations token" in wrong.get_data(as_text=True)
    assert client.get(path).status_code == 401


def test_the_token_is_never_taken_from_the_address_bar(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.get(f"/ops?token={TOKEN}")
    assert answer.status_code == 401
    assert "Set-Cookie" not in answer.headers


def test_sign_in_sets_a_digest_cookie_and_only_redirects_within_the_console(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/ops/login", data={"token": TOKEN, "next": "https://evil.example/"})
    assert answer.headers["Location"] == "/ops"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert client.post("/ops/login", data={"token": TOKEN, "next": "//evil.example"}).headers["Location"] == "/ops"
    assert client.get("/ops").status_code == 200


def test_posts_from_pages_need_the_forms_csrf_token(client, container, running) -> None:  # type: ignore[no-untyped-def]
    case_id = _case(client, container, "csrf")
    csrf = _signed_in(client)
    assert client.post(f"/ops/cases/{case_id}/commands/approve").status_code == 403
    assert client.post(f"/ops/cases/{case_id}/commands/approve", data={"csrf_token": "0" * 64}).status_code == 403
    queue = f"{container.topology.prefix}.cases"
    assert client.post(f"/ops/dead-letters/{queue}/replay", data={"all": "true"}).status_code == 403
    assert client.post("/ops/logout").status_code == 403
    with container.uow() as uow:
        assert uow.cases.get(case_id).state == "requested"  # nothing ran
    assert client.post(f"/ops/cases/{case_id}/commands/approve", data={"csrf_token": csrf}).status_code == 303
    assert client.post("/ops/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/ops").status_code == 401


def test_a_command_the_state_forbids_is_a_409_page_and_changes_nothing(client, container, running) -> None:  # type: ignore[no-untyped-def]
    case_id = _case(client, container, "conflict")
    csrf = _signed_in(client)
    answer = client.post(f"/ops/cases/{case_id}/commands/mark_refunded", data={"csrf_token": csrf})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 409
    assert "409 Conflict" in page and "not allowed while the case is &#39;requested&#39;" in page
    assert "allowed only while the case is: refund_processing" in page
    missing = client.post(f"/ops/cases/{case_id}/commands/record_inspection", data={"csrf_token": csrf})
    assert missing.status_code == 400 and "inspection_passed" in missing.get_data(as_text=True)
    assert client.post(f"/ops/cases/{case_id}/commands/nope", data={"csrf_token": csrf}).status_code == 404
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        assert case.state == "requested" and not any(e.name == "refund.completed" for e in case.timeline)


def test_a_command_the_state_allows_runs_and_the_page_says_so(client, container, running) -> None:  # type: ignore[no-untyped-def]
    case_id = _case(client, container, "allowed")
    csrf = _signed_in(client)
    page = client.get(f"/ops/cases/{case_id}").get_data(as_text=True)
    allowed = page.split('id="commands-allowed"')[1].split('id="commands-other"')[0]
    assert 'data-command="approve"' in allowed and 'data-command="mark_refunded"' not in allowed
    answer = client.post(f"/ops/cases/{case_id}/commands/reject", data={"csrf_token": csrf, "note": "worn"})
    assert answer.status_code == 303
    after = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Done: <code>reject</code>" in after and "The case is now <strong>rejected</strong>" in after


def test_the_case_page_shows_everything_about_the_case(client, container, running) -> None:  # type: ignore[no-untyped-def]
    case_id = _case(client, container, "view")
    _signed_in(client)
    page = client.get(f"/ops/cases/{case_id}").get_data(as_text=True)
    for section in ("timeline", "shipments", "customs", "notices", "policy", "deadlines"):
        assert f'id="{section}"' in page
    assert "return.requested" in page and "request_received" in page  # an event and a notice
    assert "Directive 2011/83/EU" in page  # the policy trace's sources
    assert "cn_cbec_export_return" in page  # the customs plan of a DE→CN return
    assert client.get("/ops/cases/case_missing").status_code == 404


def test_search_by_id_order_return_marketplace_state_attention_and_overdue(client, container, running) -> None:  # type: ignore[no-untyped-def]
    first = _case(client, container, "s1")
    second = _case(client, container, "s2")
    now = datetime.now(UTC)
    with container.uow() as uow:
        late = open_case("case_late_search", "generic", load_event(recent(unique_event(n="late"), now)), now)
        late.state, late.needs_attention = "requested", True
        late.facts["deadlines"] = {"merchant_response_due_by": (now - timedelta(hours=3)).isoformat()}
        uow.cases.add(late, now)
        uow.commit()
    _signed_in(client)

    def found(query: str) -> list[str]:
        answer = client.get(f"/ops/cases?{query}")
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
    bad = client.get("/ops/cases?state=bogus")
    assert bad.status_code == 400 and "state" in bad.get_data(as_text=True)


def test_queues_are_grouped_with_the_non_empty_first_and_a_depth_sparkline(client, container, running) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        container.operations.sample_depths()
    _signed_in(client)
    page = client.get("/ops").get_data(as_text=True)
    assert page.index('data-role="work"') < page.index('data-role="retry"') < page.index('data-role="dead"')
    assert "2 samples over the last hour, now 0, at most 0" in page
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
