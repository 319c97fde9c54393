"""Money: a `Decimal` amount in one ISO 4217 currency, exact to that currency's minor unit.

Minor units come from the ISO 4217 list (List One, published 2024-06-25), not
from Babel/CLDR, whose precision differs for a dozen codes (IQD is 3 in ISO, 0 in
CLDR): see shared/research/policy_fx_l10n.md §5.2. Amounts are never floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol

# ISO 4217 currencies with a minor unit other than 2 (List One, 2024-06-25).
_EXPONENT_NOT_TWO: dict[str, int] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}

# ISO 4217 codes that denote a currency: every code of List One (2024-06-25) whose minor
# unit is a number (precious metals, SDR, bond units and testing codes, "N.A.", excluded),
# plus XCG, added in 2025 for the Caribbean guilder. ANG (which XCG replaces) and CUC stay
# listed so refunds of orders paid in them remain exact. Checked against that list-one.xml:
# same codes, same minor units (policy_fx_l10n.md §5.2).
ISO_4217_CODES: frozenset[str] = frozenset(
    [
        "ANG",
        "CUC",
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BOV",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHE",
        "CHF",
        "CHW",
        "CLF",
        "CLP",
        "CNY",
        "COP",
        "COU",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MXV",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "USN",
        "UYI",
        "UYU",
        "UYW",
        "UZS",
        "VED",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)


class MoneyError(ValueError):
    """An amount or currency that cannot be money: unknown code, too many decimals, mixed currencies."""


def is_currency(code: str) -> bool:
    return code in ISO_4217_CODES


def minor_unit(currency: str) -> int:
    """The number of decimals of `currency` per ISO 4217."""
    if currency not in ISO_4217_CODES:
        raise MoneyError(f"unknown ISO 4217 currency {currency!r}")
    return _EXPONENT_NOT_TWO.get(currency, 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(currency))


@dataclass(frozen=True, order=False)
class Money:
    """An exact amount of one currency; arithmetic refuses to mix currencies."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise MoneyError("money is never a float: pass a Decimal or a string")
        amount = self.amount if isinstance(self.amount, Decimal) else Decimal(str(self.amount))
        if not amount.is_finite():
            raise MoneyError(f"amount {self.amount!r} is not a finite number")
        q = quantum(self.currency)
        if amount != amount.quantize(q, rounding=ROUND_DOWN):
            raise MoneyError(f"{amount} has more decimals than {self.currency} allows ({minor_unit(self.currency)})")
        object.__setattr__(self, "amount", amount.quantize(q))

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        try:
            return cls(Decimal(str(amount)), currency)
        except InvalidOperation as exc:
            raise MoneyError(f"{amount!r} is not a decimal amount") from exc

    @classmethod
    def rounded(cls, amount: Decimal, currency: str) -> Money:
        """The nearest amount in `currency`, halves up (Reg. (EC) 1103/97 art. 5 for converted sums)."""
        return cls(amount.quantize(quantum(currency), rounding=ROUND_HALF_UP), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        return cls(Decimal(units).scaleb(-minor_unit(currency)), currency)

    @property
    def minor_units(self) -> int:
        return int(self.amount.scaleb(minor_unit(self.currency)))

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int) or isinstance(factor, bool):
            raise TypeError("money multiplies by whole quantities only; convert rates explicitly")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def to_json(self) -> dict[str, str]:
        return {"amount": str(self.amount), "currency": self.currency}

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def total(amounts: Iterable[Money], currency: str) -> Money:
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result


def allocate(whole: Money, weights: Sequence[Decimal | int]) -> list[Money]:
    """Split `whole` in proportion to `weights` so that the parts always sum to the whole.

    Largest-remainder method on integer minor units: each part gets the floor of its
    exact share, and the units left over go to the largest fractional remainders
    (ties to the earlier line). See policy_fx_l10n.md §5.3.
    """
    if not weights:
        raise MoneyError("cannot allocate over no lines")
    weights = [Decimal(w) for w in weights]
    if any(w < 0 for w in weights):
        raise MoneyError("allocation weights must not be negative")
    weight_sum = sum(weights)
    units = whole.minor_units
    if weight_sum == 0:
        weights, weight_sum = [Decimal(1)] * len(weights), Decimal(len(weights))
    sign = -1 if units < 0 else 1
    exact = [abs(units) * w / weight_sum for w in weights]
    floors = [int(e) for e in exact]
    leftover = abs(units) - sum(floors)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in by_remainder[:leftover]:
        floors[i] += 1
    return [Money.from_minor(sign * f, whole.currency) for f in floors]


@dataclass(frozen=True)
class Conversion:
    """A converted amount with the rate, rate date and source it came from: recorded on the case."""

    original: Money
    converted: Money
    rate: Decimal
    rate_date: date
    source: str

    def to_json(self) -> dict[str, str]:
        return {
            **self.converted.to_json(),
            "rate": format(self.rate, "f"),
            "rate_date": self.rate_date.isoformat(),
            "source": self.source,
        }


class RateSource(Protocol):
    """Where exchange rates come from (ECB reference rates in adapters/rates/)."""

    def rate(self, base: str, quote: str, on: date) -> tuple[Decimal, date, str]:
        """Units of `quote` per one `base` valid on `on`: (rate, the date it was published for, source name)."""
        ...


def convert(amount: Money, to_currency: str, rates: RateSource, on: date) -> Conversion:
    """`amount` in `to_currency`, rounded half-up to its minor unit, with the rate that was used."""
    if to_currency == amount.currency:
        return Conversion(amount, amount, Decimal(1), on, "identity")
    rate, rate_date, source = rates.rate(amount.currency, to_currency, on)
    converted = Money.rounded(amount.amount * rate, to_currency)
    return Conversion(amount, converted, rate, rate_date, source)
