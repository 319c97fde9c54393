"""The notifiers' own costs: the email's shown headers without building it, one kept connection per webhook thread.

The webhook tests post to a local HTTP/1.1 server on 127.0.0.1 that counts the TCP connections it accepts.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.notifiers.base import Outgoing
from adapters.notifiers.local_formats import buyer_zone
from adapters.notifiers.negotiation import negotiate
from adapters.notifiers.render import render
from adapters.notifiers.smtp import SmtpNotifier, build_email
from adapters.notifiers.webhook import WebhookNotifier
from tests.conftest import make_settings
from tests.notice_contexts import FULL_CONTEXTS

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"provider-key-0123456789abcdef012").decode()
PORTS = range(18700, 18800)


def outgoing(kind: str, tag: str, recipient: str) -> Outgoing:
    notice = render(kind, FULL_CONTEXTS[kind], negotiate([tag]), buyer_zone("Asia/Taipei"), NOW)
    return Outgoing("case_9", kind, "email", f"case_9:notice:{kind}:email", recipient, notice)


@pytest.mark.parametrize("tag", ["de-DE", "zh-TW", "ar", "ja-JP", "en-GB"])
@pytest.mark.parametrize("sender", ["Returnbridge <returns@shop.example>", "returns@returnbridge.invalid"])
def test_the_email_shown_on_the_case_has_the_headers_of_the_message_sent(tag, sender):
    settings = make_settings(RB_SMTP_FROM=sender)
    for kind in FULL_CONTEXTS:
        for recipient in ("buyer@example.com", "Jöhn Dœ <buyer@example.de>", ""):
            message = outgoing(kind, tag, recipient)
            described = SmtpNotifier().describe(message, settings)
            assert described["headers"] == {k: str(v) for k, v in build_email(message, sender).items()}
            assert described["text"] == message.notice.body


class CountingServer:
    """An HTTP/1.1 server that keeps connections open, counting the ones it accepts."""

    def __init__(self) -> None:
        self.connections = 0
        self.posts = 0
        self._lock = threading.Lock()
        counting = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as HTTP servers do on kept-alive connections (nginx tcp_nodelay)

            def setup(self) -> None:
                super().setup()
                with counting._lock:
                    counting.connections += 1

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with counting._lock:
                    counting.posts += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return

        self.server = self._bind(Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notices"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _bind(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
        for port in PORTS:
            try:
                return ThreadingHTTPServer(("127.0.0.1", port), handler)
            except OSError:
                continue
        raise RuntimeError("no free port in 18700-18799")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


def test_the_webhook_notifier_keeps_its_connection_between_notices(provider):
    settings = make_settings(RB_NOTIFY_WEBHOOK_URL=provider.url, RB_NOTIFY_WEBHOOK_SECRET=SECRET,
                             RB_HTTP_TIMEOUT_SECONDS="3")  # fmt: skip
    notifier = WebhookNotifier()
    for kind in ("request_received", "return_approved", "refund_paid"):
        notifier.send(outgoing(kind, "de-DE", "+4915112345678"), settings)
    assert (provider.posts, provider.connections) == (3, 1)
    assert notifier._client(settings.http_timeout_seconds).timeout == 3.0  # the timeout setting still holds


def test_each_consumer_thread_has_its_own_webhook_connection(provider):
    settings = make_settings(RB_NOTIFY_WEBHOOK_URL=provider.url, RB_NOTIFY_WEBHOOK_SECRET=SECRET)
    notifier = WebhookNotifier()
    clients = []

    def consumer() -> None:
        for _ in range(2):
            notifier.send(outgoing("request_received", "en-GB", "+4915112345678"), settings)
        clients.append(notifier._client(settings.http_timeout_seconds))

    threads = [threading.Thread(target=consumer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (provider.posts, provider.connections) == (4, 2)
    assert clients[0] is not clients[1]
