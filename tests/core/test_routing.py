import pytest

from core.routing import NoRoute, Route, choose_carrier, default_routes

ROUTES = default_routes()


def test_the_carrier_named_by_the_event_wins():
    assert choose_carrier(ROUTES, "DE", "CN", named="fedex") == "fedex"


@pytest.mark.parametrize(
    ("buyer", "merchant", "carrier"),
    [
        ("DE", "CN", "sf_express"),
        ("CA", "US", "fedex"),
        ("US", "US", "ups"),
        ("FR", "DE", "dhl_express"),
        ("JP", "GB", "dhl_express"),
    ],
)
def test_the_lane_table_picks_a_carrier(buyer, merchant, carrier):
    assert choose_carrier(ROUTES, buyer, merchant) == carrier


def test_a_lane_no_row_covers_needs_an_operator():
    with pytest.raises(NoRoute):
        choose_carrier((Route("EU", "EU", "dhl_express"),), "US", "CN")
