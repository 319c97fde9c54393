"""Settings from `RB_*` environment variables: the one place configuration is read.

Every variable is documented in the README's settings table. Adapter-specific
settings (`RB_<NAME>_BASE_URL`, credentials, webhook secrets) are looked up by
name through `Settings.for_adapter`, so a new adapter needs no change here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.money import is_currency

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "sqlite:///var/returnbridge.db"


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


def _web_relay(env: Mapping[str, str]) -> bool:
    """Whether each gunicorn worker runs an outbox relay (`make web`): by default only where no NOTIFY
    wakes the worker's relay (SQLite), as on PostgreSQL the web then spends nothing on publishing."""
    raw = (env.get("RB_WEB_RELAY") or "").strip().lower()
    if raw == "":
        return (env.get("RB_DATABASE_URL") or DEFAULT_DATABASE_URL).startswith("sqlite")
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"RB_WEB_RELAY must be on or off, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _currency(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or default).strip().upper()
    if not is_currency(raw):
        raise SettingsError(f"{name} must be an ISO 4217 currency code, got {raw!r}")
    return raw


def _delays(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        delays = tuple(int(part) for part in raw.split(","))
    except ValueError as exc:
        raise SettingsError(f"{name} must be comma-separated whole seconds, got {raw!r}") from exc
    if not delays or any(d <= 0 for d in delays):
        raise SettingsError(f"{name} must list positive delays, got {raw!r}")
    return delays


def _keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated signing keys, newest first: the first signs, every one still verifies (rotation)."""
    keys = tuple(k.strip() for k in (env.get(name) or "").split(",") if k.strip())
    short = [i for i, k in enumerate(keys) if len(k) < 32]
    if short:
        raise SettingsError(f"{name}: every key needs at least 32 characters (key {short[0] + 1} is shorter)")
    return keys


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit as `limits` writes it (`5/minute`, `100 per hour`), checked at start, not at the first request."""
    from limits import parse

    raw = (env.get(name) or default).strip()
    try:
        parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a rate such as 5/minute, got {raw!r}") from exc
    return raw


def _absolute_sqlite(url: str) -> str:
    """Anchor a relative SQLite path at the project root, so `make run` finds `var/` from anywhere."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(PROJECT_ROOT / url[len(prefix) :])
    return url


@dataclass(frozen=True)
class AdapterSettings:
    """The `RB_<NAME>_*` settings of one marketplace, carrier, customs or notifier adapter."""

    name: str
    env: Mapping[str, str] = field(repr=False)

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.env.get(f"RB_{self.name.upper()}_{key.upper()}")
        return value if value not in (None, "") else default

    def require(self, *keys: str) -> dict[str, str] | None:
        """All of `keys` when every one is set, else None: credentials come as a set or not at all."""
        values = {key: value for key in keys if (value := self.get(key))}
        return values if values.keys() == set(keys) else None


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = _absolute_sqlite(DEFAULT_DATABASE_URL)
    broker_url: str = "memory://"
    ops_token: str | None = None
    max_body_bytes: int = 1024 * 1024
    intake_group_max: int = 64
    embedded_quiet_seconds: float = 0.05
    embedded_max_wait_seconds: float = 2.0
    delivery_limit: int = 5
    prefetch: int = 20
    consumer_batch: int = 20
    relay_batch: int = 100
    relay_interval_seconds: float = 0.5
    relay_linger_seconds: float = 0.02
    web_relay: bool = False
    poll_interval_seconds: float = 300.0
    publish_timeout_seconds: float = 5.0
    http_timeout_seconds: float = 10.0
    default_locale: str = "en"
    topology_prefix: str = "returns"
    retry_delays: tuple[int, ...] = (2, 10, 60)
    log_level: str = "INFO"
    pii_retention_days: int = 90
    pii_purge_interval_seconds: float = 3600.0
    timer_interval_seconds: float = 5.0
    timer_batch: int = 100
    merchant_policy: str | None = None
    rate_source: str = "ecb"
    settlement_currency: str = "EUR"
    fx_refresh_seconds: float = 3600.0
    buyer_link_keys: tuple[str, ...] = ()
    buyer_link_days: int = 180
    public_url: str = ""
    # Web security (web/auth.py): console sessions, proxies in front, rate limits.
    secret_key: str | None = None
    session_hours: float = 8.0
    proxy_hops: int = 0
    login_rate: str = "5/minute"
    policy_rate: str = "120/minute"
    db_connect_timeout_seconds: float = 5.0
    db_statement_timeout_seconds: float = 30.0
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = {k: v for k, v in (os.environ if environ is None else environ).items() if k.startswith("RB_")}
        return cls(
            host=env.get("RB_HOST") or "127.0.0.1",
            port=_int(env, "RB_PORT", 8080),
            database_url=_absolute_sqlite(env.get("RB_DATABASE_URL") or DEFAULT_DATABASE_URL),
            broker_url=env.get("RB_BROKER_URL") or "memory://",
            ops_token=env.get("RB_OPS_TOKEN") or None,
            max_body_bytes=_int(env, "RB_MAX_BODY_BYTES", 1024 * 1024),
            intake_group_max=_int(env, "RB_INTAKE_GROUP_MAX", 64),
            embedded_quiet_seconds=_float(env, "RB_EMBEDDED_QUIET_SECONDS", 0.05),
            embedded_max_wait_seconds=_float(env, "RB_EMBEDDED_MAX_WAIT_SECONDS", 2.0),
            delivery_limit=_int(env, "RB_DELIVERY_LIMIT", 5),
            prefetch=_int(env, "RB_PREFETCH", 20),
            consumer_batch=_int(env, "RB_CONSUMER_BATCH", 20),
            relay_batch=_int(env, "RB_RELAY_BATCH", 100),
            relay_interval_seconds=_float(env, "RB_RELAY_INTERVAL_SECONDS", 0.5),
            relay_linger_seconds=_float(env, "RB_RELAY_LINGER_SECONDS", 0.02),
            web_relay=_web_relay(env),
            poll_interval_seconds=_float(env, "RB_POLL_INTERVAL_SECONDS", 300.0),
            publish_timeout_seconds=_float(env, "RB_PUBLISH_TIMEOUT_SECONDS", 5.0),
            http_timeout_seconds=_float(env, "RB_HTTP_TIMEOUT_SECONDS", 10.0),
            default_locale=env.get("RB_DEFAULT_LOCALE") or "en",
            topology_prefix=env.get("RB_TOPOLOGY_PREFIX") or "returns",
            retry_delays=_delays(env, "RB_RETRY_DELAYS", (2, 10, 60)),
            log_level=(env.get("RB_LOG_LEVEL") or "INFO").upper(),
            pii_retention_days=_int(env, "RB_PII_RETENTION_DAYS", 90),
            pii_purge_interval_seconds=_float(env, "RB_PII_PURGE_INTERVAL_SECONDS", 3600.0),
            timer_interval_seconds=_float(env, "RB_TIMER_INTERVAL_SECONDS", 5.0),
            timer_batch=_int(env, "RB_TIMER_BATCH", 100),
            merchant_policy=env.get("RB_MERCHANT_POLICY") or None,
            rate_source=env.get("RB_RATE_SOURCE") or "ecb",
            settlement_currency=_currency(env, "RB_SETTLEMENT_CURRENCY", "EUR"),
            fx_refresh_seconds=_float(env, "RB_FX_REFRESH_SECONDS", 3600.0),
            buyer_link_keys=_keys(env, "RB_BUYER_LINK_KEYS"),
            buyer_link_days=_int(env, "RB_BUYER_LINK_DAYS", 180),
            public_url=(env.get("RB_PUBLIC_URL") or "").rstrip("/"),
            secret_key=env.get("RB_SECRET_KEY") or None,
            session_hours=_float(env, "RB_SESSION_HOURS", 8.0),
            proxy_hops=_int(env, "RB_PROXY_HOPS", 0),
            login_rate=_rate(env, "RB_LOGIN_RATE", "5/minute"),
            policy_rate=_rate(env, "RB_POLICY_RATE", "120/minute"),
            db_connect_timeout_seconds=_float(env, "RB_DB_CONNECT_TIMEOUT_SECONDS", 5.0),
            db_statement_timeout_seconds=_float(env, "RB_DB_STATEMENT_TIMEOUT_SECONDS", 30.0),
            env=env,
        )

    def for_adapter(self, name: str) -> AdapterSettings:
        return AdapterSettings(name=name, env=self.env)

    def returns_address(self) -> dict[str, str] | None:
        """The merchant's returns warehouse (`RB_RETURNS_ADDRESS_*`); None sends returns to the order's ship-from."""
        keys = ("NAME", "LINE1", "LINE2", "CITY", "REGION", "POSTAL_CODE", "COUNTRY", "PHONE", "EMAIL")
        values = {k.lower(): self.env.get(f"RB_RETURNS_ADDRESS_{k}") for k in keys}
        if not values["country"]:
            return None
        return {k: v for k, v in values.items() if v}

    def webhook_secret(self, marketplace: str) -> str | None:
        return self.for_adapter(marketplace).get("WEBHOOK_SECRET")

    @property
    def embedded_broker(self) -> bool:
        """The in-process broker: web, relay and consumers must share one process."""
        return self.broker_url.startswith("memory://")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
