"""The return analytics at scale: the whole `GET /ops/analytics` report over 1,000,000 cases on PostgreSQL.

Cases and their `return_facts` rows are bulk-inserted (SQLAlchemy Core executemany, as in
bench/scale.py) into a fresh database migrated to head, spread over a year: 9 marketplaces,
the 10 canonical reasons, 12 categories, 20 lanes, 200,000 buyers, 70 % of cases returns
(the rest orders reported delivered), most refunded, some late, a few worn or re-reasoned,
and accepted duty/VAT claims. The report is then built by the service's own code
(`service.analytics.ReturnAnalytics`) for a 30-day period and for the whole year.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import postgres_database

MARKETPLACES = ("generic", "shopify", "ebay", "amazon", "aliexpress", "shopee", "lazada", "tiktok_shop", "tmall")
REASONS = ("changed_mind", "size_or_fit", "not_as_described", "defective", "damaged_in_transit", "wrong_item",
           "missing_parts", "late_delivery", "packaging_damaged", "other")  # fmt: skip
CATEGORIES = ("apparel", "shoes", "electronics", "toys", "home", "beauty", "personal_care", "books", "sports",
              "jewellery", "food", "outerwear")  # fmt: skip
COUNTRIES = ("DE", "FR", "GB", "US", "JP", "KR", "BR", "AU", "ES", "IT")
CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP", "JPY", "CNY")


@dataclass
class AnalyticsFigures:
    cases: int
    month_ms: float
    year_ms: float
    setup_seconds: float


def _bulk(url: str, count: int, now: datetime, chunk: int = 20_000, seed: int = 20) -> None:
    from sqlalchemy import create_engine

    rnd = random.Random(seed)
    cases_sql = (
        'INSERT INTO cases (id, marketplace, order_id, return_id, state, needs_attention, "order", "return", items, '
        "facts, created_at, updated_at, version) VALUES (%s, %s, %s, %s, %s, false, '{}', '{}', '[]', '{}', %s, %s, 1)"
    )
    facts_sql = (
        "INSERT INTO return_facts (case_id, marketplace, order_id, state, seen_at, requested_at, refunded_at, "
        "refund_due_by, refund_minutes, refund_late, reason, reason_at_request, reason_at_inspection, reason_changed, "
        "category, lane, jurisdiction, buyer_key, currency, ordered_minor, returned_minor, refund_minor, "
        "refund_currency, worn, tags_removed, first_of_order) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true)"
    )
    claims_sql = (
        "INSERT INTO customs_claims (id, case_id, authority, basis, amount, currency, due_by, status, adapter, "
        "created_at, updated_at) VALUES (%s, %s, 'EU', 'returned goods relief', %s, %s, %s, 'accepted', 'eu', %s, %s)"
    )
    engine = create_engine(url)
    try:
        for base in range(0, count, chunk):
            cases, facts, claims = [], [], []
            for n in range(base, min(count, base + chunk)):
                case_id, marketplace = f"case_b{n:030d}", MARKETPLACES[n % len(MARKETPLACES)]
                seen = now - timedelta(days=rnd.random() * 365)
                is_return = rnd.random() < 0.7
                requested = seen + timedelta(days=rnd.random() * 10) if is_return else None
                refunded = minutes = due = None
                state = "new"
                if requested is not None:
                    due = requested + timedelta(days=14)
                    state = "requested"
                    if rnd.random() < 0.8:
                        minutes = int(rnd.expovariate(1 / (5 * 24 * 60)))
                        refunded, state = requested + timedelta(minutes=minutes), "refunded"
                currency = CURRENCIES[n % len(CURRENCIES)]
                value = rnd.randint(500, 50_000)
                reason = REASONS[rnd.randrange(len(REASONS))] if is_return else "unknown"
                changed = is_return and rnd.random() < 0.02
                later_reason = (
                    "changed_mind" if changed and reason != "changed_mind" else (reason if is_return else None)
                )
                country = COUNTRIES[n % len(COUNTRIES)]
                cases.append((case_id, marketplace, f"ORD-{n}", f"RMA-{n}", state, seen, refunded or requested or seen))
                facts.append((
                    case_id, marketplace, f"ORD-{n}", state, seen, requested, refunded, due, minutes,
                    bool(refunded and due and refunded > due), reason, reason if is_return else None, later_reason,
                    bool(changed and later_reason != reason), CATEGORIES[rnd.randrange(len(CATEGORIES))],
                    f"{country}→{'CN' if n % 2 else 'DE'}", country, f"b_{rnd.randrange(200_000):020d}", currency,
                    None if is_return else value, value if is_return else None, value if refunded else None,
                    currency if refunded else None, is_return and rnd.random() < 0.03, is_return and rnd.random() < 0.02,
                ))  # fmt: skip
                if refunded and rnd.random() < 0.07:
                    claims.append((f"claim_b{n:030d}", case_id, str(value // 5 / 100), currency, refunded + timedelta(days=90),
                                   refunded, refunded))  # fmt: skip
            with engine.begin() as connection:
                connection.exec_driver_sql(cases_sql, cases)
                connection.exec_driver_sql(facts_sql, facts)
                if claims:
                    connection.exec_driver_sql(claims_sql, claims)
        # As autovacuum leaves a table in service: statistics and the visibility map (for index-only scans).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()


def _best_ms(build: Any, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        build()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def report_at_scale(count: int) -> AnalyticsFigures:
    from adapters.storage.database import make_engine, make_session_factory, migrate
    from adapters.storage.unit_of_work import UnitOfWork
    from core.analytics import Period
    from service.analytics import ReturnAnalytics

    now = datetime.now(UTC)
    with postgres_database("analytics") as url:
        migrate(url)
        started = time.monotonic()
        _bulk(url, count, now)
        setup = time.monotonic() - started
        engine = make_engine(url)
        try:
            factory = make_session_factory(engine)
            analytics = ReturnAnalytics(lambda: UnitOfWork(factory), lambda: now)
            month = Period.last_days(30, now.date())
            year = Period.last_days(365, now.date())
            analytics.report(month)  # warm the caches once
            month_ms = _best_ms(lambda: analytics.report(month))
            year_ms = _best_ms(lambda: analytics.report(year))
        finally:
            engine.dispose()
    return AnalyticsFigures(count, month_ms, year_ms, setup)


if __name__ == "__main__":
    import sys

    print(report_at_scale(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
