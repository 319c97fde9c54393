"""What the service layer may see of storage: the errors a repository or unit of work raises.

Plain Python, no SQLAlchemy: the SQL unit of work (`adapters.storage.unit_of_work`) turns the
driver's exceptions into these, and the in-memory one the service tests use raises the same, so a
handler's retry loop is written once against them.
"""

from __future__ import annotations


class StorageError(Exception):
    """Something the store refused or could not do; the transaction was rolled back."""


class ConcurrentUpdate(StorageError):
    """Someone saved the case since we loaded it; retry with fresh state."""


class DuplicateKey(StorageError):
    """A row with the same unique key was stored concurrently (a resend, or the same parcel pushed and polled)."""


class ConnectionLost(StorageError):
    """The connection broke mid-transaction (the database restarted or a proxy cut it); a retry may succeed."""
