"""API keys and console sessions in the database, so keys are listed, rotated and revoked without a restart.

A key is `rbk_<id>_<secret>`: the id is public and finds the row, the secret is 32 random bytes of which
only a SHA-256 digest is stored (a digest suffices for a random secret: there is nothing to guess).
The raw key exists once, in the answer that creates it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from adapters.storage.models import ApiKeyRow, WebSessionRow

KEY_PREFIX = "rbk_"
KEY_SCOPES = ("read", "act")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_view(row: ApiKeyRow) -> dict[str, Any]:
    """What may be shown of a key: never its secret nor its digest."""
    return {
        "id": row.id,
        "name": row.name,
        "scope": row.scope,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
    }


@dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once
    view: dict[str, Any]


class UnknownKey(LookupError):
    pass


class ApiKeys:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sessions, self.clock = sessions, clock

    def create(self, name: str, scope: str) -> IssuedKey:
        if scope not in KEY_SCOPES:
            raise ValueError(f"scope must be one of {KEY_SCOPES}")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        row = ApiKeyRow(id=key_id, name=name, scope=scope, secret_sha256=_digest(secret), created_at=self.clock())
        with self.sessions.begin() as session:
            session.add(row)
            view = key_view(row)
        return IssuedKey(f"{KEY_PREFIX}{key_id}_{secret}", view)

    def list(self) -> list[dict[str, Any]]:
        with self.sessions() as session:
            return [key_view(r) for r in session.query(ApiKeyRow).order_by(ApiKeyRow.created_at).all()]

    def revoke(self, key_id: str) -> dict[str, Any]:
        with self.sessions.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise UnknownKey(key_id)
            if row.revoked_at is None:
                row.revoked_at = self.clock()
            return key_view(row)

    def rotate(self, key_id: str) -> IssuedKey:
        """A new key with the same name and scope; the old one stops working at once."""
        with self.sessions.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None or row.revoked_at is not None:
                raise UnknownKey(key_id)
            row.revoked_at = self.clock()
            name, scope = row.name, row.scope
        return self.create(name, scope)

    def check(self, key: str) -> tuple[str, str] | None:
        """(id, scope) of a live key matching `key`, compared in constant time; None otherwise."""
        if not key.startswith(KEY_PREFIX):
            return None
        key_id, _, secret = key[len(KEY_PREFIX) :].partition("_")
        if not key_id or not secret or len(key_id) > 40:
            return None
        with self.sessions.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(_digest(secret).encode(), row.secret_sha256.encode()):
                return None
            now = self.clock()
            if row.last_used_at is None or now - row.last_used_at >= timedelta(minutes=1):
                row.last_used_at = now  # at most once a minute: not a write per request
            return row.id, row.scope


class WebSessions:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sessions, self.clock = sessions, clock

    def open(self, principal: str, scopes: frozenset[str], lifetime: timedelta) -> str:
        session_id, now = secrets.token_urlsafe(32), self.clock()
        with self.sessions.begin() as session:
            session.add(WebSessionRow(id=session_id, principal=principal, scopes=" ".join(sorted(scopes)),
                                      created_at=now, expires_at=now + lifetime))  # fmt: skip
        return session_id

    def live(self, session_id: str) -> tuple[str, frozenset[str]] | None:
        """(principal, scopes) of an open, unexpired, unrevoked session."""
        with self.sessions() as session:
            row = session.get(WebSessionRow, session_id)
            if row is None or row.revoked_at is not None or row.expires_at <= self.clock():
                return None
            return row.principal, frozenset(row.scopes.split())

    def revoke(self, session_id: str) -> None:
        with self.sessions.begin() as session:
            row = session.get(WebSessionRow, session_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = self.clock()

    def revoke_all(self, principal: str | None = None) -> int:
        """End every open session (of one principal, e.g. a revoked API key); the number ended."""
        statement = update(WebSessionRow).where(WebSessionRow.revoked_at.is_(None))
        if principal is not None:
            statement = statement.where(WebSessionRow.principal == principal)
        with self.sessions.begin() as session:
            result = session.execute(statement.values(revoked_at=self.clock()))
            return result.rowcount or 0  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult; Session.execute declares Result
