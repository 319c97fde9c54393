"""Signed, expiring links to a buyer's page (`GET /r/<token>`): the token is the buyer's only key.

The token is an HMAC (itsdangerous, SHA-1 HMAC with a derived key per salt) over the case id and
the link's expiry. Keys come from RB_BUYER_LINK_KEYS, newest first: the newest signs, every listed
key still verifies, so a new key can be added in front and the old one dropped once the links it
signed have expired. The expiry is fixed by the case (its opening plus RB_BUYER_LINK_DAYS), so the
same case always has the same link, in every notice and in `buyer_url`.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta

from itsdangerous import BadData, URLSafeSerializer

log = logging.getLogger(__name__)

SALT = "returnbridge.buyer-page"


class BuyerLinks:
    def __init__(self, keys: tuple[str, ...], days: int, public_url: str = "") -> None:
        if not keys:
            # One process only (the embedded default): links die with it. Production sets RB_BUYER_LINK_KEYS.
            log.warning("RB_BUYER_LINK_KEYS is not set: buyer links are signed with a key that lasts this process")
            keys = (secrets.token_urlsafe(32),)
        # itsdangerous signs with the last key and verifies with all of them.
        self._serializer = URLSafeSerializer(list(reversed(keys)), salt=SALT)
        self.lifetime = timedelta(days=days)
        self.public_url = public_url

    def expires_at(self, opened_at: datetime) -> datetime:
        return opened_at.astimezone(UTC).replace(microsecond=0) + self.lifetime

    def token(self, case_id: str, opened_at: datetime) -> str:
        return self._serializer.dumps([case_id, int(self.expires_at(opened_at).timestamp())])

    def path(self, case_id: str, opened_at: datetime) -> str:
        return f"/r/{self.token(case_id, opened_at)}"

    def url(self, case_id: str, opened_at: datetime, base: str | None = None) -> str:
        """Absolute with RB_PUBLIC_URL (or the request's own host, `base`), else the path alone."""
        root = (self.public_url or base or "").rstrip("/")
        return root + self.path(case_id, opened_at)

    def case_id(self, token: str, now: datetime) -> str | None:
        """The case a valid, unexpired token names; None for anything else (never says which)."""
        try:
            value = self._serializer.loads(token)
        except (BadData, ValueError, TypeError):
            return None
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
            return None
        if not isinstance(value[1], int) or isinstance(value[1], bool) or value[1] <= now.timestamp():
            return None
        return value[0]


class FormGuard:
    """CSRF protection for the buyer's forms: a random cookie, and a field signing it with the case id.

    A page on another site can neither read the cookie (HttpOnly, SameSite=Strict) nor sign a field
    for it, so a form it posts is refused; the field is bound to one case, so it cannot be replayed
    on another buyer's page.
    """

    COOKIE = "rb_buyer_form"

    def __init__(self, links: BuyerLinks) -> None:
        self._serializer = URLSafeSerializer(links._serializer.secret_keys, salt=SALT + ".form")

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def field(self, nonce: str, case_id: str) -> str:
        return self._serializer.dumps([nonce, case_id])

    def valid(self, field: str | None, nonce: str | None, case_id: str) -> bool:
        if not field or not nonce:
            return False
        try:
            value = self._serializer.loads(field)
        except (BadData, ValueError, TypeError):
            return False
        return (
            isinstance(value, list)
            and len(value) == 2
            and secrets.compare_digest(str(value[0]), nonce)
            and value[1] == case_id
        )
