"""The operations console in headless Chromium (Debian's `chromium`, driven by Playwright).

Served for real over HTTP on 127.0.0.1, on RabbitMQ when it answers (so the page shows real
queues and a real dead letter), else on the embedded broker. One walk, as an operator would:
sign in, read the queues, replay a dead letter, search for a case, open it, press a command the
state forbids (409 on the page) and one it allows, then read the analytics. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from core.cases import open_case
from queues.publisher import OutgoingMessage
from queues.worker import Worker
from service.bootstrap import Container
from service.canonical import load_event
from service.intake import event_envelope
from tests.browser import ARTIFACTS, CHROMIUM, FLAGS, need_chromium
from tests.case_helpers import recent
from tests.conftest import make_settings, post_event, server_answers, unique_event, wait_for

TOKEN = "dashboard-token-0123456789abcdef"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Container, Any]]:
    need_chromium()
    broker = "amqp://guest:guest@127.0.0.1:5672//" if server_answers(5672) else "memory://"
    settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_OPS_TOKEN=TOKEN, RB_BROKER_URL=broker)
    from wsgi import create_app

    container = Container(settings)
    app = create_app(settings, container)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(20)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", container, app.test_client()
    server.shutdown()
    worker.stop()
    if not settings.embedded_broker:
        from tests.faults.stack import delete_queues

        names = [q.name for q in container.operations.inspector.queues()]
        delete_queues(broker, settings.topology_prefix, names)
    container.close()


def _handled(container: Container, event_id: str) -> bool:
    with container.uow() as uow:
        return uow.processed.seen("cases", event_id)


def _seed(container: Container, client: Any) -> dict[str, str]:
    """A dead letter (an event for a case not yet stored), an overdue case, and returns to count."""
    now = datetime.now(UTC)
    event = load_event(recent(unique_event(n="dash"), now))
    body = event_envelope("evt_dash_orphan", "case_dash_orphan", "generic", now, event)
    container.publisher.publish(
        OutgoingMessage("evt_dash_orphan", container.topology.events.name, "return.requested.generic", body)
    )
    with container.uow() as uow:
        late = open_case("case_dash_late", "generic", load_event(unique_event(n="late")), now)
        late.state = "requested"
        late.policy_deadlines = {"merchant_response_due_by": now - timedelta(hours=30)}
        uow.cases.add(late, now)
        uow.commit()
    cases: dict[str, str] = {}
    for n, (reason, condition) in enumerate(
        [("size_or_fit", None), ("defective", None), ("changed_mind", {"used": True, "tags_attached": False})]
    ):
        extra: dict[str, Any] = {"return": {"reason": reason}}
        if condition:
            extra["items"] = [{"sku": "COAT", "quantity": 1, "unit_price": "120.00", "category": "outerwear",
                               "condition": condition}]  # fmt: skip
        answer = post_event(client, recent(unique_event(n=f"walk{n}", **extra), now))
        assert answer.status_code == 202, answer.get_json()
        cases[reason], event_id = answer.get_json()["case_id"], answer.get_json()["event_id"]
        assert wait_for(lambda event_id=event_id: _handled(container, event_id), timeout=15)
    refunded = cases["size_or_fit"]  # one refund paid, for the analytics' timing and money
    for action, body in (("approve", {}), ("mark_received", {}), ("record_inspection", {"inspection_passed": True}),
                         ("mark_refunded", {})):  # fmt: skip
        answer = client.post(
            f"/returns/{refunded}/commands/{action}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 200, answer.get_json()
    assert wait_for(lambda: container.operations.dead_letters(), timeout=15), "no dead letter appeared"
    for _ in range(3):  # the depth history the sparklines draw (the worker's periodic task, taken by hand)
        container.operations.sample_depths()
    return cases


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"\n[console] screenshot: {path}")
    return path


def test_the_console_walk_sign_in_queues_replay_search_case_commands_and_analytics(served) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, container, client = served
    cases = _seed(container, client)
    prefix = container.topology.prefix
    shots: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            response = page.goto(f"{base}/ops")
            assert response is not None and response.status == 401
            page.fill("input[name=token]", "not-the-token")
            page.click("button[type=submit]")
            assert page.get_by_role("alert").inner_text().startswith("That is not the operations token")
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            page.goto(f"{base}/ops")
            page.wait_for_selector("#queues")

            # Queues: grouped by role, the dead queue with its letter first among the dead ones, a sparkline each.
            roles = page.locator("table[data-role]").evaluate_all("ts => ts.map(t => t.dataset.role)")
            assert roles == ["work", "retry", "dead"]
            first_dead = page.locator("table[data-role=dead] tbody tr").first
            assert first_dead.get_attribute("data-queue") == f"{prefix}.cases.dead"
            assert "needs a look" in first_dead.inner_text()
            assert "samples over the last hour" in (first_dead.locator("svg").get_attribute("aria-label") or "")
            letter = page.locator("tr[data-message=evt_dash_orphan]")
            assert "does not exist" in letter.inner_text()
            assert "case_dash_late" in page.inner_text("#overdue ~ table")
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["rb_session"]["httpOnly"] and TOKEN not in cookies["rb_session"]["value"]
            shots.append(_shot(page, "console-queues.png"))

            # Replay: the missing case arrives, then the letter goes back to its queue and is handled.
            with container.uow() as uow:
                now = datetime.now(UTC)
                orphan = load_event(recent(unique_event(n="dash"), now))
                uow.cases.add(open_case("case_dash_orphan", "generic", orphan, now), now)
                uow.commit()
            letter.locator("button:text('Replay')").click()
            assert "Replayed 1 dead letter" in page.get_by_role("status").inner_text()
            assert wait_for(lambda: not container.operations.dead_letters(), timeout=15)
            assert wait_for(lambda: _handled(container, "evt_dash_orphan"), timeout=15)
            page.reload()
            assert "No dead letters." in page.inner_text("body")

            # Search by order id, then open the case.
            page.click("nav >> text=Cases")
            page.fill("input[name=q]", "ORD-walk1")
            page.click("fieldset button[type=submit]")
            rows = page.locator("tr[data-case]")
            assert rows.count() == 1 and rows.first.get_attribute("data-case") == cases["defective"]
            page.select_option("select[name=state]", "requested")
            page.fill("input[name=q]", "")
            page.check("input[name=overdue]")
            page.click("fieldset button[type=submit]")
            assert [r.get_attribute("data-case") for r in page.locator("tr[data-case]").all()] == ["case_dash_late"]
            page.goto(f"{base}/ops/cases?q=ORD-walk1")
            page.click(f"a[href='/ops/cases/{cases['defective']}']")
            page.wait_for_selector("#timeline")
            for section in ("#timeline", "#shipments", "#customs", "#notices", "#policy"):
                assert page.locator(section).count() == 1
            assert "return.requested" in page.inner_text("#timeline ~ table")
            assert page.locator("#policy ~ table tbody tr").count() > 0  # the policy trace, rule by rule

            # A command the state forbids: 409, said plainly; nothing changed.
            page.click("#commands-other summary")
            page.click("form[data-command=mark_refunded] button")
            problem = page.locator("#command-problem")
            assert "409 Conflict" in problem.inner_text() and "'requested'" in problem.inner_text()
            assert page.locator("#case-state").inner_text() == "requested"
            shots.append(_shot(page, "console-case-409.png"))
            # One it allows: done, the state moved.
            page.click("#commands-allowed form[data-command=approve] button")
            assert "Done: approve" in page.locator("#command-done").inner_text()
            assert page.locator("#case-state").inner_text() == "approved"
            shots.append(_shot(page, "console-case.png"))

            # Analytics: the charts carry their figures as text; the signals are for review.
            page.click("nav >> text=Analytics")
            page.wait_for_selector("#chart-reason svg")
            described = page.locator("#chart-reason desc").text_content() or ""
            assert re.search(r"defective 1 \(\d+\.\d %", described), described
            assert page.locator("#chart-marketplace [data-bar=generic]").count() == 1
            assert "never refuse" in page.get_by_role("note").inner_text()
            assert cases["changed_mind"] in page.inner_text("#worn")
            assert "1 refund paid in the period" in page.inner_text("#timing ~ p")
            assert "EUR" in page.inner_text("#money ~ .grid")
            shots.append(_shot(page, "console-analytics.png"))
            page.click("header button:text('Sign out')")
            assert page.goto(f"{base}/ops").status == 401
        finally:
            browser.close()
    assert all(shot.stat().st_size > 10_000 for shot in shots)
