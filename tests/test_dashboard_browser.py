"""`GET /ops` in headless Chromium (Debian's `chromium`, driven by Playwright): sign in, read, replay.

Served for real over HTTP on 127.0.0.1, on RabbitMQ when it answers (so the page shows
real queues), else on the embedded broker. The screenshot goes to test-artifacts/.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from core.cases import open_case
from queues.publisher import OutgoingMessage
from queues.worker import Worker
from service.bootstrap import Container
from service.canonical import load_event
from service.intake import event_envelope
from tests.conftest import IN_CI, make_settings, server_answers, unique_event, wait_for

TOKEN = "dashboard-token-0123456789abcdef"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def need_chromium() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -r requirements-dev.txt)")
    if missing:
        message = "the dashboard test needs " + " and ".join(missing)
        if IN_CI:
            pytest.fail(message + "; CI=true makes it mandatory")
        pytest.skip(message)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Container]]:
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
    yield f"http://127.0.0.1:{server.server_port}", container
    server.shutdown()
    worker.stop()
    if not settings.embedded_broker:
        from tests.faults.stack import delete_queues

        names = [q.name for q in container.operations.inspector.queues()]
        delete_queues(broker, settings.topology_prefix, names)
    container.close()


def _seed(container: Container) -> str:
    """A dead letter (an event for a case not yet stored) and an overdue case."""
    now = datetime.now(UTC)
    event = load_event(unique_event(n="dash"))
    body = event_envelope("evt_dash_orphan", "case_dash_orphan", "generic", now, event)
    container.publisher.publish(
        OutgoingMessage("evt_dash_orphan", container.topology.events.name, "return.requested.generic", body)
    )
    with container.uow() as uow:
        late = open_case("case_dash_late", "generic", load_event(unique_event(n="late")), now)
        late.state = "requested"
        late.facts["deadlines"] = {"merchant_response_due_by": (now - timedelta(hours=30)).isoformat()}
        uow.cases.add(late, now)
        uow.commit()
    assert wait_for(lambda: container.operations.dead_letters(), timeout=15), "no dead letter appeared"
    return f"{container.topology.prefix}.cases"


def test_dashboard_signs_in_shows_queues_dead_letters_overdue_and_replays(served) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, container = served
    queue = _seed(container)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "ops-dashboard.png"
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
            page.wait_for_selector("#queues")
            assert page.locator(f'tr[data-queue="{queue}"]').count() == 1
            assert page.locator(f'tr[data-queue="{queue}.dead"]').count() == 1
            text = page.inner_text("body")
            assert "evt_dash_orphan" in text and "does not exist" in text
            assert "case_dash_late" in text and "merchant_response_due_by" in text
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["rb_session"]["httpOnly"] and TOKEN not in cookies["rb_session"]["value"]
            assert cookies["rb_session"]["sameSite"] == "Strict"
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"\n[dashboard] screenshot: {screenshot}")
            with container.uow() as uow:  # the missing case arrives: a replay can now succeed
                uow.cases.add(open_case("case_dash_orphan", "generic", load_event(unique_event(n="dash")),
                                        datetime.now(UTC)), datetime.now(UTC))  # fmt: skip
                uow.commit()
            page.click("form[action$='/replay'] button:text('Replay')")
            page.wait_for_selector("#queues")
            assert wait_for(lambda: not container.operations.dead_letters(), timeout=15)
            page.reload()
            assert "No dead letters." in page.inner_text("body")
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
