import pytest

from config.routes import carrier_routes
from core.routing import CarrierRoute, NoRoute, Route, carrier_route, choose_carrier

ROUTES = carrier_routes()


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


def test_the_route_fact_names_the_table_as_its_source():
    assert carrier_route(ROUTES, "DE", "CN") == CarrierRoute("sf_express", "DE->CN", "routing_table")
    assert carrier_route(ROUTES, "DE", "CN", named="fedex").source == "event"


def test_an_unknown_lane_leaves_the_carrier_to_an_operator():
    fact = carrier_route((Route("EU", "EU", "dhl_express"),), "US", "CN")
    assert fact.carrier is None
    assert fact.reason is not None and "US->CN" in fact.reason


def test_approval_books_with_the_routed_carrier_when_the_event_names_none():
    from dataclasses import replace
    from datetime import UTC, datetime

    from core.cases import open_case
    from service.canonical import load_event
    from tests.conftest import example

    now = datetime(2026, 11, 10, tzinfo=UTC)
    requested = load_event(example())
    requested = replace(requested, return_=replace(requested.return_, carrier=None))
    case = open_case("case_1", "generic", requested, now)
    case.apply(requested, "evt_1", now)
    case.route_return(carrier_route(ROUTES, "DE", "CN"))
    commands = case.apply(load_event(example("return-approved")), "evt_2", now)
    assert [c.routing_key for c in commands if c.kind != "notify"] == ["carrier.sf_express.book_return"]
    assert case.notices[-1].context["carrier"] == "sf_express"  # the approval notice names the routed carrier
