"""The personal-data purge reaches every copy: cases, every carrier's stored requests and answers, notices and
their deliveries, customs filings, the timeline (operator notes), the outbox (full events, e-mails) and the
webhook inbox. Real flows seed every table; after the purge no table holds any of the buyer's details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
from sqlalchemy import inspect, text

from adapters.storage.purge_store import PurgeStore
from config.settings import Settings
from service.privacy import PiiPurge
from tests.carrier_flow import CARRIER_ENV, approved_case, fake_carriers, wait_case
from tests.conftest import make_settings, post_event, unique_event, wait_for

BUYER = {
    "name": "Zoe Quartermain",
    "line1": "Kastanienallee 77",
    "line2": "Hinterhaus 3. OG",
    "postal_code": "10435",
    "phone": "+49 30 9876543",
    "email": "zoe.quartermain@example.de",
}
REASON = "Zoe Quartermain says the zipper broke"
NOTE = "called Zoe Quartermain back on +49 30 9876543"
# What must be gone from every row; the phone also as carriers write it (digits only, no country code).
TRACES = [*BUYER.values(), REASON, NOTE, "Quartermain", "9876543", "zoe.quartermain"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/purge.db", RB_NOTIFY_WEBHOOK_URL="https://notify.test/h",
                         RB_NOTIFY_WEBHOOK_SECRET="whsec_bm90aWZ5LWtleS0wMTIzNDU2Nzg5", **CARRIER_ENV)  # fmt: skip


@pytest.fixture
def fakes():  # type: ignore[no-untyped-def]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake_carriers(mock)
        mock.post("https://notify.test/h", json={"id": "msg-1"})
        yield mock


def stored_text(container) -> str:  # type: ignore[no-untyped-def]
    rows = []
    with container.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            rows += [repr(tuple(row)) for row in connection.execute(text(f'SELECT * FROM "{table}"'))]
    return "\n".join(rows)


def test_the_purge_leaves_no_copy_of_the_buyers_details_in_any_table(client, container, running, fakes) -> None:  # type: ignore[no-untyped-def]
    order = {"ship_to": {"country": "DE", "city": "Berlin", **BUYER}, "buyer": {"email": BUYER["email"],
             "locale": "de-DE", "timezone": "Europe/Berlin"}}  # fmt: skip
    case_ids = [approved_case(client, carrier=name, order=order, reason_detail=REASON)
                for name in ("fedex", "ups", "dhl_express", "sf_express")]  # fmt: skip
    for case_id in case_ids:
        wait_case(client, case_id, lambda c: any(s["status"] == "booked" for s in c["shipments"]), timeout=20)
    rejected = post_event(client, unique_event(order=order, **{"return": {"reason_detail": REASON}})).json["case_id"]
    assert wait_for(lambda: client.get(f"/returns/{rejected}").json["state"] == "requested")
    assert client.post(f"/returns/{rejected}/commands/reject", json={"note": NOTE}).status_code == 200
    case_ids.append(rejected)
    assert wait_for(lambda: all(c["published_at"] is not None for c in _outbox(container)), timeout=15)
    seeded = stored_text(container)
    assert all(trace in seeded for trace in TRACES), [t for t in TRACES if t not in seeded]

    old = datetime.now(UTC) - timedelta(days=120)
    with container.engine.begin() as connection:  # every case closed long ago
        connection.execute(text("UPDATE cases SET state = 'closed', updated_at = :old"), {"old": old})
    result = PiiPurge(PurgeStore(container.session_factory), 90, lambda: datetime.now(UTC)).run_once()
    assert result.cases == len(case_ids)
    after = stored_text(container)
    left = [trace for trace in TRACES if trace in after]
    assert left == [], f"still stored after the purge: {left}"
    for case_id in case_ids:  # cases still load and show
        case = client.get(f"/returns/{case_id}").json
        assert case["state"] == "closed" and case["order"]["ship_to"]["country"] == "DE"


def _outbox(container) -> list[dict]:  # type: ignore[no-untyped-def]
    with container.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(text("SELECT published_at FROM outbox"))]
