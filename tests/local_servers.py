"""A tiny SMTP server and a tiny HTTP server on 127.0.0.1, for notifier tests (no internet here).

The SMTP server speaks just enough of RFC 5321 for smtplib (EHLO/HELO, MAIL, RCPT, DATA, RSET,
NOOP, QUIT); it can answer the next DATA with a transient 451, or drop the connection after the
message data arrived (the case where a message may exist though no answer came back).
"""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Mailbox:
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse_next_data: int = 0  # answer this many DATA commands with 451
    drop_after_data: int = 0  # close this many connections after the data, without answering
    lock: threading.Lock = field(default_factory=threading.Lock)


class _SmtpSession(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        box: Mailbox = self.server.mailbox  # type: ignore[attr-defined]
        sender, recipients = "", []
        self.reply("220 localhost test SMTP")
        while line := self.rfile.readline():
            command = line.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                self.reply("250-localhost")
                self.reply("250 8BITMIME")
            elif verb == "HELO" or verb == "NOOP":
                self.reply("250 OK")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip().split()[0].strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "RSET":
                sender, recipients = "", []
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = self._read_data()
                with box.lock:
                    if box.drop_after_data:
                        box.drop_after_data -= 1
                        return
                    if box.refuse_next_data:
                        box.refuse_next_data -= 1
                        self.reply("451 4.3.0 try again later")
                        continue
                    box.messages.append((sender, recipients, message_from_bytes(data, policy=policy.default)))
                self.reply("250 2.0.0 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 command not implemented")

    def _read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.mailbox = Mailbox()
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class ProviderServer(ThreadingHTTPServer):
    """Answers POSTs with the statuses queued in `answers` (then 200), keeping every request."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = server.answers.pop(0) if server.answers else 200
                server.requests.append(Received(self.path, dict(self.headers.items()), body, status))
                payload = b'{"accepted": true}' if status == 200 else b'{"error": "busy"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/notify"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def accepted(self) -> list[Received]:
        """The requests answered 200: the messages the provider took."""
        return [r for r in self.requests if r.status == 200]

    def close(self) -> None:
        self.shutdown()
        self.server_close()
