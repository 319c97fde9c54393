"""The embedded default keeps nothing in its in-process broker across a restart; the outbox makes up for it."""

from __future__ import annotations

from kombu import Connection

from queues.worker import Worker
from service.bootstrap import Container
from tests.conftest import example, operator_client, post_event, wait_for
from wsgi import create_app


def test_an_event_published_but_lost_with_the_process_is_handled_after_restart(settings):
    first = Container(settings)
    client = operator_client(create_app(settings, first))
    case_id = post_event(client, example()).get_json()["case_id"]
    assert first.relay.run_once() == 1  # published into the in-process broker...
    with Connection("memory://") as connection:  # ...which dies with the process
        connection.default_channel.queue_purge(f"{settings.topology_prefix}.cases")
    first.close()

    restarted = Container(settings)
    with restarted.uow() as uow:
        assert uow.cases.get(case_id).state == "new"
    assert restarted.recover_embedded_messages() == 1
    worker = Worker(restarted.relay, restarted.consumers())
    worker.start()
    try:

        def requested() -> bool:
            with restarted.uow() as uow:
                return uow.cases.get(case_id).state == "requested"

        assert wait_for(requested, timeout=10)

        def notices_handled() -> bool:  # one notify.email and one notify.webhook command per notice
            with restarted.uow() as uow:
                notices = uow.cases.get(case_id).notices
                return len(uow.notice_deliveries.for_case(case_id)) == 2 * len(notices)

        assert wait_for(notices_handled, timeout=10)
        assert restarted.recover_embedded_messages() == 0  # handled messages are not published again
    finally:
        worker.stop()
        restarted.close()


def test_an_event_accepted_while_no_worker_runs_is_handled_when_one_starts(settings, container, client):
    case_id = post_event(client, example()).get_json()["case_id"]
    assert container.outbox_store.pending() == 1
    worker = Worker(container.relay, container.consumers())
    worker.start()
    try:
        assert wait_for(lambda: client.get(f"/returns/{case_id}").get_json()["state"] == "requested")
        assert wait_for(lambda: container.outbox_store.pending() == 0)  # the notify commands the request caused
    finally:
        worker.stop()
