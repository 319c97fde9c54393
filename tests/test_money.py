"""Money in zero-, two-, three- and four-decimal currencies, and allocation that never loses a unit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from babel.numbers import get_currency_precision
from hypothesis import given
from hypothesis import strategies as st

from core.money import ISO_4217_CODES, Conversion, Money, MoneyError, allocate, convert, minor_unit


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("JPY", 0), ("KRW", 0), ("EUR", 2), ("USD", 2), ("BHD", 3), ("KWD", 3), ("IQD", 3), ("CLF", 4)],
)
def test_minor_unit_follows_iso_4217(currency: str, digits: int) -> None:
    assert minor_unit(currency) == digits
    assert Money.of("1", currency).amount.as_tuple().exponent == -digits


def test_iqd_uses_iso_three_decimals_not_babels_cldr_zero() -> None:
    assert get_currency_precision("IQD") == 0
    assert Money.of("1.250", "IQD").minor_units == 1250


@pytest.mark.parametrize(
    ("amount", "currency"), [("1.5", "JPY"), ("10.1", "KRW"), ("0.001", "EUR"), ("1.0001", "KWD"), ("1.00001", "CLF")]
)
def test_amount_finer_than_the_minor_unit_is_refused(amount: str, currency: str) -> None:
    with pytest.raises(MoneyError, match="more decimals"):
        Money.of(amount, currency)


@pytest.mark.parametrize(
    ("exact", "currency", "rounded"),
    [
        ("2.5", "JPY", "3"),
        ("1445.5", "KRW", "1446"),
        ("2.345", "EUR", "2.35"),
        ("1.005", "EUR", "1.01"),
        ("0.1235", "BHD", "0.124"),
        ("12.34545", "CLF", "12.3455"),
        ("-2.345", "EUR", "-2.35"),
    ],
)
def test_rounding_goes_half_up_to_the_minor_unit(exact: str, currency: str, rounded: str) -> None:
    assert Money.rounded(Decimal(exact), currency) == Money.of(rounded, currency)


def test_floats_and_mixed_currencies_are_refused() -> None:
    with pytest.raises(MoneyError):
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="cannot combine"):
        Money.of("1", "EUR") + Money.of("1", "USD")


def test_unknown_code_is_refused() -> None:
    with pytest.raises(MoneyError, match="unknown"):
        Money.of("1", "XYZ")


# Entries of ISO 4217 List One (2024-06-25, list-one.xml) whose minor unit is not 2, and a few 2s
# that are easy to get wrong (MGA and MRU have 5:1 minor units but ISO lists 2).
LIST_ONE_EXCERPT = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX"], 0),
    **dict.fromkeys(["UYI", "VND", "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
    **dict.fromkeys(["MGA", "MRU", "ANG", "CUC", "ZWG", "AFN", "RSD"], 2),
}


@pytest.mark.parametrize(("code", "digits"), sorted(LIST_ONE_EXCERPT.items()))
def test_iso_table_agrees_with_list_one(code: str, digits: int) -> None:
    assert code in ISO_4217_CODES
    assert minor_unit(code) == digits


def test_precious_metals_and_testing_codes_are_not_money() -> None:
    for code in ("XAU", "XAG", "XDR", "XTS", "XXX"):
        assert code not in ISO_4217_CODES


def test_allocation_of_a_partial_refund_keeps_the_total() -> None:
    """policy_fx_l10n.md §5.3: 2.10 over lines 1.99/2.17/0.82 is 0.84+0.91+0.35, not 2.11."""
    parts = allocate(Money.of("2.10", "EUR"), [Decimal("1.99"), Decimal("2.17"), Decimal("0.82")])
    assert [p.amount for p in parts] == [Decimal("0.84"), Decimal("0.91"), Decimal("0.35")]


def test_allocation_in_a_zero_decimal_currency_hands_out_whole_yen() -> None:
    parts = allocate(Money.of("100", "JPY"), [1, 1, 1])
    assert [p.amount for p in parts] == [Decimal(34), Decimal(33), Decimal(33)]


class _FixedRate:
    def rate(self, base: str, quote: str, on: date) -> tuple[Decimal, date, str]:
        return Decimal("0.3771"), date(2024, 2, 23), "TEST"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [("100.00", "EUR", "37.710"), ("1", "JPY", "0.377"), ("10000", "KRW", "3771.000")],
)
def test_conversion_into_a_three_decimal_currency_rounds_to_fils(amount: str, currency: str, expected: str) -> None:
    conversion = convert(Money.of(amount, currency), "KWD", _FixedRate(), date(2024, 2, 25))
    assert conversion == Conversion(
        Money.of(amount, currency), Money.of(expected, "KWD"), Decimal("0.3771"), date(2024, 2, 23), "TEST"
    )
    assert conversion.to_json()["amount"] == expected


currencies = st.sampled_from(["JPY", "KRW", "EUR", "BHD", "KWD", "CLF"])


@st.composite
def allocations(draw: st.DrawFn) -> tuple[Money, list[Decimal]]:
    currency = draw(currencies)
    units = draw(st.integers(min_value=-(10**12), max_value=10**12))
    weights = draw(
        st.lists(
            st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False),
            min_size=1,
            max_size=20,
        )
    )
    return Money.from_minor(units, currency), weights


@given(allocations())
def test_allocated_parts_always_sum_to_the_whole(case: tuple[Money, list[Decimal]]) -> None:
    whole, weights = case
    parts = allocate(whole, weights)
    assert len(parts) == len(weights)
    assert sum(p.minor_units for p in parts) == whole.minor_units
    assert all(p.currency == whole.currency for p in parts)


@given(allocations())
def test_each_part_is_within_one_minor_unit_of_its_exact_share(case: tuple[Money, list[Decimal]]) -> None:
    whole, weights = case
    parts = allocate(whole, weights)
    weight_sum = sum(weights)
    shares = weights if weight_sum else [Decimal(1)] * len(weights)
    share_sum = sum(shares)
    for part, share in zip(parts, shares, strict=True):
        exact = Decimal(whole.minor_units) * share / share_sum
        assert abs(part.minor_units - exact) < 1


@given(allocations())
def test_allocation_is_deterministic_and_keeps_line_order(case: tuple[Money, list[Decimal]]) -> None:
    whole, weights = case
    parts = allocate(whole, weights)
    assert allocate(whole, list(weights)) == parts
    # Reordering the lines reorders the parts with them, except where a tie moved a leftover unit.
    reversed_parts = allocate(whole, list(reversed(weights)))
    for a, b in zip(parts, reversed(reversed_parts), strict=True):
        assert abs(a.minor_units - b.minor_units) <= 1


@given(currencies, st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=30))
def test_equal_weights_differ_by_at_most_one_unit_and_larger_parts_come_first(
    currency: str, units: int, lines: int
) -> None:
    parts = [p.minor_units for p in allocate(Money.from_minor(units, currency), [1] * lines)]
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)
