"""Email over SMTP: one multipart message (plain text + HTML) per notice, in the buyer's language.

Settings (README): RB_SMTP_HOST, RB_SMTP_PORT (587), RB_SMTP_USER, RB_SMTP_PASSWORD,
RB_SMTP_FROM, RB_SMTP_STARTTLS (true). Without RB_SMTP_HOST and RB_SMTP_FROM
nothing is sent: the notice is recorded and shown on the case.

The message carries `Content-Language` (RFC 3282) with the negotiated tag, a
`dir`/`lang` on the HTML root for right-to-left scripts, `Auto-Submitted:
auto-generated` (RFC 3834) so vacation responders stay quiet, and a Message-ID
derived from the delivery's idempotency key, so a mail system can see that two
copies are the same message. The SMTP dialogue is driven step by step so that a
connection lost after DATA was sent (the message may exist) is told apart from a
refusal before it (RFC 5321 §4.2: 4yz replies are transient, 5yz permanent).
"""

from __future__ import annotations

import hashlib
import html
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from adapters.notifiers.base import NOTIFIERS, Outgoing, PermanentNotifyError, Sent, TransientNotifyError
from config.settings import AdapterSettings, Settings
from core.events import Buyer

SETTINGS_NAME = "smtp"
DEFAULT_PORT = 587
TRUE = {"1", "true", "yes", "on"}


def smtp_settings(settings: Settings) -> AdapterSettings:
    return settings.for_adapter(SETTINGS_NAME)


def message_id(idempotency_key: str, sender: str) -> str:
    """The same notice always gets the same Message-ID (RFC 5322 §3.6.4), on the sender's domain."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "returnbridge.invalid"
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"


def html_body(outgoing: Outgoing) -> str:
    notice = outgoing.notice
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in notice.paragraphs)
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(notice.locale)}" dir="{notice.direction}">\n'
        f'<head><meta charset="utf-8"><title>{html.escape(notice.subject)}</title></head>\n'
        f'<body style="font-family: sans-serif; line-height: 1.5">\n{paragraphs}\n</body>\n</html>\n'
    )


def envelope_headers(outgoing: Outgoing, sender: str) -> dict[str, str]:
    """Pure: the headers the message is built with, before its parts (`build_email`)."""
    notice = outgoing.notice
    return {
        "From": sender,
        "To": outgoing.recipient,
        "Subject": notice.subject,
        "Date": format_datetime(datetime.fromisoformat(notice.at)),
        "Message-ID": message_id(outgoing.idempotency_key, sender),
        "Auto-Submitted": "auto-generated",
        "X-Returnbridge-Notice": f"{outgoing.case_id} {outgoing.kind}",
    }


def shown_headers(outgoing: Outgoing, sender: str) -> dict[str, str]:
    """Pure: the headers of `build_email`'s message as the case shows them, without building it.

    Building the MIME message costs milliseconds (email.headerregistry parses every header), paid for
    every notice when only the record of one that is not sent needs these lines."""
    return {
        **envelope_headers(outgoing, sender),
        "MIME-Version": "1.0",
        "Content-Type": "multipart/alternative",
        "Content-Language": outgoing.notice.locale,
    }


def build_email(outgoing: Outgoing, sender: str) -> EmailMessage:
    """Pure: the message exactly as it is sent."""
    notice = outgoing.notice
    message = EmailMessage()
    for name, value in envelope_headers(outgoing, sender).items():
        message[name] = value
    # Quoted-printable keeps every line 7-bit, so no server needs 8BITMIME for Chinese or Arabic text.
    message.set_content(notice.body + "\n", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html_body(outgoing), subtype="html", charset="utf-8", cte="quoted-printable")
    # After the parts: set_content and add_alternative move or drop Content-* headers set before them.
    message["Content-Language"] = notice.locale
    return message


def _refused(code: int, text: str) -> Exception:
    if 400 <= code < 500:
        return TransientNotifyError(f"SMTP {code} {text}")
    return PermanentNotifyError(f"SMTP {code} {text}")


class SmtpNotifier:
    name = "email"

    def configured(self, settings: Settings) -> bool:
        return smtp_settings(settings).require("HOST", "FROM") is not None

    def recipient(self, buyer: Buyer | None) -> str | None:
        return buyer.email if buyer and buyer.email else None

    def describe(self, outgoing: Outgoing, settings: Settings) -> dict[str, Any]:
        config = smtp_settings(settings)
        sender = config.get("FROM") or "returns@returnbridge.invalid"
        return {
            "channel": self.name,
            "smtp_host": config.get("HOST"),
            "headers": shown_headers(outgoing, sender),
            "text": outgoing.notice.body,
        }

    def send(self, outgoing: Outgoing, settings: Settings) -> Sent:
        config = smtp_settings(settings)
        host, sender = config.get("HOST"), config.get("FROM")
        if not host or not sender:
            raise PermanentNotifyError("RB_SMTP_HOST and RB_SMTP_FROM are not set")
        port = int(config.get("PORT") or DEFAULT_PORT)
        message = build_email(outgoing, sender)
        envelope_from = parseaddr(sender)[1]
        try:
            with smtplib.SMTP(host, port, timeout=settings.http_timeout_seconds) as smtp:
                smtp.ehlo()
                if (config.get("STARTTLS") or "true").lower() in TRUE:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                user, password = config.get("USER"), config.get("PASSWORD")
                if user and password:
                    smtp.login(user, password)
                self._envelope(smtp, envelope_from, outgoing.recipient)
                code, reply = self._data(smtp, message)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentNotifyError(f"SMTP login refused: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _refused(exc.smtp_code, _text(exc.smtp_error)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientNotifyError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from exc
        return Sent({"smtp_code": code, "smtp_reply": reply, "message_id": message["Message-ID"]})

    def _envelope(self, smtp: smtplib.SMTP, sender: str, recipient: str) -> None:
        code, reply = smtp.mail(sender)
        if code != 250:
            smtp.rset()
            raise _refused(code, _text(reply))
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            smtp.rset()
            raise _refused(code, _text(reply))

    def _data(self, smtp: smtplib.SMTP, message: EmailMessage) -> tuple[int, str]:
        """Once DATA is under way, a lost connection may still have delivered the message."""
        try:
            code, reply = smtp.data(message.as_bytes())
        except smtplib.SMTPDataError as exc:
            raise _refused(exc.smtp_code, _text(exc.smtp_error)) from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise TransientNotifyError(f"SMTP connection lost during DATA: {exc}", maybe_delivered=True) from exc
        if code != 250:  # smtplib's data() returns the final reply rather than raising on it
            smtp.rset()
            raise _refused(code, _text(reply))
        return code, _text(reply)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


NOTIFIERS.register("email", SmtpNotifier())
