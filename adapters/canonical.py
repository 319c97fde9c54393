"""The canonical event at the edge: marshmallow schemas that validate raw JSON into `core.events`.

One codec for every boundary: the generic webhook, each marketplace adapter's
output, the messages on the broker, and the case snapshot in storage. Errors come
back as a flat map of dotted field paths (`order.currency`, `items[0].sku`), as
the contract's error body shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_dump,
    post_load,
    validate,
    validates_schema,
)

from adapters.messages import SCHEMA_VERSION
from core.events import (
    DISPUTE_TYPES,
    EVENT_TYPES,
    REASONS,
    REJECTION_REASONS,
    RESOLUTIONS,
    Address,
    Buyer,
    Condition,
    Coupon,
    Inspection,
    Item,
    Order,
    ReturnEvent,
    ReturnRequest,
    Tracking,
)
from core.money import ISO_4217_CODES, minor_unit

AMOUNT_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)?$")
AMOUNT = validate.Regexp(AMOUNT_PATTERN, error='must be a decimal string such as "49.90"')
COUNTRY = validate.Regexp(r"^[A-Z]{2}$", error='must be an ISO 3166-1 alpha-2 code such as "DE"')
CURRENCY = validate.OneOf(sorted(ISO_4217_CODES), error='must be an ISO 4217 currency code such as "EUR"')


# Bounds that keep every later computation exact and in range (issue 16: a 29-digit price, year 9999 and an
# unknown zone were accepted, then failed in the worker until they dead-lettered).
MAX_AMOUNT_DIGITS, MAX_AMOUNT_DECIMALS = 15, 6
YEARS = range(1990, 2200)


class Amount(fields.Field):
    """A decimal string in the contract's format; never a float."""

    default_error_messages = {  # noqa: RUF012
        "invalid": 'must be a decimal string such as "49.90"',
        "too_large": f"must have at most {MAX_AMOUNT_DIGITS} digits before the point and "
        f"{MAX_AMOUNT_DECIMALS} after it",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or AMOUNT_PATTERN.match(value) is None:
            raise self.make_error("invalid")
        whole, _, fraction = value.partition(".")
        if len(whole.lstrip("0")) > MAX_AMOUNT_DIGITS or len(fraction) > MAX_AMOUNT_DECIMALS:
            raise self.make_error("too_large")
        return Decimal(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)


class UtcDateTime(fields.AwareDateTime):
    """RFC 3339 with an offset in, aware UTC inside."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.year not in YEARS:
            raise ValidationError(f"must be a time between {YEARS.start} and {YEARS.stop - 1}")
        return moment.astimezone(UTC)


def _iana_zone(value: str) -> None:
    """A zone the tz database knows (`Europe/Berlin`), as the notices will need to show local times."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from None


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE

    @post_dump
    def _drop_empty(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None and v != []}


class AddressSchema(_Base):
    country = fields.String(required=True, validate=COUNTRY)
    name = fields.String(load_default=None)
    line1 = fields.String(load_default=None)
    line2 = fields.String(load_default=None)
    city = fields.String(load_default=None)
    region = fields.String(load_default=None)
    postal_code = fields.String(load_default=None)
    phone = fields.String(load_default=None)
    email = fields.String(load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> Address:
        return Address(**data)


class BuyerSchema(_Base):
    locale = fields.String(load_default=None, validate=validate.Length(max=35))
    timezone = fields.String(load_default=None, validate=[validate.Length(max=64), _iana_zone])
    email = fields.String(load_default=None)
    phone = fields.String(load_default=None)
    display_currency = fields.String(load_default=None, validate=CURRENCY)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> Buyer:
        return Buyer(**data)


class CouponSchema(_Base):
    code = fields.String(required=True, validate=validate.Length(min=1, max=200))
    amount = Amount(load_default=None)
    skus = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=())

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> Coupon:
        data["skus"] = tuple(data.get("skus") or ())
        return Coupon(**data)


class OrderSchema(_Base):
    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    currency = fields.String(load_default=None, validate=CURRENCY)
    placed_at = UtcDateTime(load_default=None)
    delivered_at = UtcDateTime(load_default=None)
    ship_from = fields.Nested(AddressSchema, load_default=None)
    ship_to = fields.Nested(AddressSchema, load_default=None)
    buyer = fields.Nested(BuyerSchema, load_default=None)
    shipping_paid = Amount(load_default=None)
    duties_paid = Amount(load_default=None)
    withdrawal_information_given = fields.Boolean(load_default=True)
    return_policy_displayed = fields.Boolean(load_default=False)
    paid = fields.Boolean(load_default=None)
    payment_due_by = UtcDateTime(load_default=None)
    warehouse_checked_at = UtcDateTime(load_default=None)
    coupons = fields.List(fields.Nested(CouponSchema), load_default=(), validate=validate.Length(max=50))
    points_used = fields.Integer(load_default=None, validate=validate.Range(min=0))

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> Order:
        data["coupons"] = tuple(data.get("coupons") or ())
        return Order(**data)


class InspectionSchema(_Base):
    passed = fields.Boolean(load_default=None)
    note = fields.String(load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> Inspection:
        return Inspection(**data)


class ReturnSchema(_Base):
    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    resolution = fields.String(load_default=None, validate=validate.OneOf(RESOLUTIONS))
    reason = fields.String(load_default=None, validate=validate.OneOf(REASONS))
    raw_reason = fields.String(load_default=None, validate=validate.Length(max=200))
    reason_detail = fields.String(load_default=None, validate=validate.Length(max=2000))
    shipping_insurance = fields.Boolean(load_default=None)
    carrier = fields.String(load_default=None, validate=validate.Length(min=1, max=50))
    pickup = fields.Boolean(load_default=None)
    evidence = fields.List(fields.Url(), load_default=())
    refund_amount = Amount(load_default=None)
    inspection = fields.Nested(InspectionSchema, load_default=None)
    defect_discovered_at = UtcDateTime(load_default=None)
    rejection_reason = fields.String(load_default=None, validate=validate.OneOf(REJECTION_REASONS))
    appeal_due_by = UtcDateTime(load_default=None)
    dispute_type = fields.String(load_default=None, validate=validate.OneOf(DISPUTE_TYPES))
    evidence_due_by = UtcDateTime(load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> ReturnRequest:
        data["evidence"] = tuple(data.get("evidence") or ())
        return ReturnRequest(**data)


class ConditionSchema(_Base):
    opened = fields.Boolean(load_default=None)
    used = fields.Boolean(load_default=None)
    tags_attached = fields.Boolean(load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> Condition:
        return Condition(**data)


class ItemSchema(_Base):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=200))
    title = fields.String(load_default=None)
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))
    unit_price = Amount(required=True)
    category = fields.String(load_default=None)
    hs_code = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9.]{4,14}$"))
    origin_country = fields.String(load_default=None, validate=COUNTRY)
    weight_kg = Amount(load_default=None)
    condition = fields.Nested(ConditionSchema, load_default=None)
    delivered_at = UtcDateTime(load_default=None)
    digital = fields.Boolean(load_default=False)
    supply_started_with_consent = fields.Boolean(load_default=False)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> Item:
        return Item(**data)


class TrackingSchema(_Base):
    carrier = fields.String(load_default=None)
    number = fields.String(load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> Tracking:
        return Tracking(**data)


class ReturnEventSchema(_Base):
    type = fields.String(
        required=True, validate=validate.OneOf(EVENT_TYPES, error="unknown event type; one of {choices}")
    )
    marketplace_event_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    occurred_at = UtcDateTime(required=True)
    as_of = UtcDateTime(load_default=None)
    raw_status = fields.String(load_default=None, validate=validate.Length(max=200))
    order = fields.Nested(OrderSchema, required=True)
    return_ = fields.Nested(ReturnSchema, required=True, data_key="return")
    items = fields.List(fields.Nested(ItemSchema), load_default=(), validate=validate.Length(max=500))
    tracking = fields.Nested(TrackingSchema, load_default=None)

    @validates_schema(skip_on_field_errors=True)
    def _amounts_fit_currency(self, data: dict[str, Any], **kwargs: Any) -> None:
        """An amount with more decimals than its currency has cannot be paid or refunded."""
        order: Order = data["order"]
        if order.currency is None:
            return
        digits = minor_unit(order.currency)
        step = Decimal(1).scaleb(-digits)
        candidates: dict[str, Decimal | None] = {
            "order.shipping_paid": order.shipping_paid,
            "order.duties_paid": order.duties_paid,
            "return.refund_amount": data["return_"].refund_amount,
        }
        for i, item in enumerate(data.get("items") or ()):
            candidates[f"items[{i}].unit_price"] = item.unit_price
        errors = {
            path: [f"is not a whole number of {order.currency} minor units ({digits} decimals)"]
            for path, value in candidates.items()
            if value is not None and value != value.quantize(step, rounding=ROUND_DOWN)
        }
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> ReturnEvent:
        data["items"] = tuple(data.get("items") or ())
        return ReturnEvent(**data)


EVENT_SCHEMA = ReturnEventSchema()
ORDER_SCHEMA = OrderSchema()
RETURN_SCHEMA = ReturnSchema()
ITEMS_SCHEMA = ItemSchema(many=True)


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict as `{"order.currency": [...], "items[0].sku": [...]}`."""
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": list(messages)}
    if isinstance(messages, str):
        return {prefix or "_schema": [messages]}
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix or "_schema"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for p, msgs in flatten_errors(value, path).items():
                flat.setdefault(p, []).extend(msgs)
    return flat


def _nul_paths(value: Any, path: str = "") -> dict[str, list[str]]:
    """Where a string holds a NUL character (PostgreSQL text cannot, and no real field needs one)."""
    found: dict[str, list[str]] = {}
    if isinstance(value, str) and "\x00" in value:
        found[path or "_schema"] = ["must not contain NUL characters"]
    elif isinstance(value, dict):
        for key, item in value.items():
            found.update(_nul_paths(item, f"{path}.{key}" if path else str(key)))
            if "\x00" in str(key):
                found[path or "_schema"] = ["a key contains a NUL character"]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.update(_nul_paths(item, f"{path}[{index}]"))
    return found


def load_event(data: Any) -> ReturnEvent:
    """Validate a canonical event; raises `ValidationError` whose `.fields` are flat paths."""
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    nul = _nul_paths(data)
    if nul:
        raise ValidationError(nul)
    return EVENT_SCHEMA.load(data)


def dump_event(event: ReturnEvent) -> dict[str, Any]:
    """The event as the contract's JSON: what `EVENT_SCHEMA.dump` gives, built by `_schema_encoder`."""
    return _schema_encoder(ReturnEventSchema)(event)


# The domain value each schema's `post_load` builds, for decoding our own dumps without the schema's checks.
_MODELS: dict[type[Schema], type] = {
    AddressSchema: Address, BuyerSchema: Buyer, CouponSchema: Coupon, OrderSchema: Order,
    InspectionSchema: Inspection, ReturnSchema: ReturnRequest, ConditionSchema: Condition, ItemSchema: Item,
    TrackingSchema: Tracking, ReturnEventSchema: ReturnEvent,
}  # fmt: skip

# The `x-rb-schema` versions whose event dumps `decode_event` trusts: ours, as `dump_event` writes them.
TRUSTED_SCHEMA_VERSIONS = frozenset({SCHEMA_VERSION})


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _value_decoder(field: fields.Field) -> Callable[[Any], Any]:
    """How one field's dumped JSON becomes its domain value, with no validation (our dump is already valid)."""
    if isinstance(field, fields.Nested):
        return _schema_decoder(type(field.schema))
    if isinstance(field, fields.List):
        inner = _value_decoder(field.inner)
        return lambda values: tuple(inner(v) for v in values)
    if isinstance(field, UtcDateTime):
        return _utc
    if isinstance(field, Amount):
        return Decimal
    return lambda value: value


@cache
def _schema_decoder(schema_class: type[Schema]) -> Callable[[dict[str, Any]], Any]:
    """A decoder built once per schema from its declared fields, so it follows the schema as it changes.

    A key the dump left out (None and empty lists are dropped) takes the field's `load_default`, as
    the full load does; a required key left out is a KeyError.
    """
    model = _MODELS[schema_class]
    plan = [
        (field.data_key or name, name, _value_decoder(field), field.load_default)
        for name, field in schema_class().fields.items()
    ]

    def decode(data: dict[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for key, name, value_of, default in plan:
            value = data.get(key, missing)
            if value is missing:
                if default is missing:
                    raise KeyError(key)
                value = tuple(default) if isinstance(default, list | tuple) else default
            elif value is not None:
                value = value_of(value)
            values[name] = value
        return model(**values)

    return decode


def decode_event(data: Any, schema_version: Any) -> ReturnEvent:
    """The event of a message: built straight from the dump when we wrote it, validated in full otherwise.

    The intake validated the event once at the edge and wrote its `dump_event` into the message, stamped
    `x-rb-schema`; a second marshmallow load of our own output costs about 1 ms and checks nothing new. A
    message of a version we do not know (or none) gets the full `load_event`. Raises `ValidationError`.
    """
    if schema_version not in TRUSTED_SCHEMA_VERSIONS:
        return load_event(data)
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["the event must be a JSON object"]})
    try:
        return _schema_decoder(ReturnEventSchema)(data)
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        raise ValidationError({"_schema": [f"not an event as we write them: {exc!r}"]}) from exc


def _value_encoder(field: fields.Field) -> Callable[[Any], Any]:
    """How one field's domain value becomes JSON, as the field's own `_serialize` would write it."""
    if isinstance(field, fields.Nested):
        return _schema_encoder(type(field.schema))
    if isinstance(field, fields.List):
        inner = _value_encoder(field.inner)
        return lambda values: [inner(v) for v in values]
    if isinstance(field, fields.DateTime):
        return lambda moment: moment.isoformat()
    if isinstance(field, Amount | fields.String):
        return str
    if isinstance(field, fields.Integer):
        return int
    return lambda value: value


@cache
def _schema_encoder(schema_class: type[Schema]) -> Callable[[Any], dict[str, Any]]:
    """The schema's dump (with `_Base._drop_empty`) without marshmallow's per-field machinery.

    Every webhook dumps its event once for the message, the receipt and the new case; the schema's
    `dump` cost about as much as the intake's statements. Built once from the declared fields, so it
    follows the schema; tests/test_trusted_event_decoder.py holds it equal to `EVENT_SCHEMA.dump`.
    """
    plan = [
        (name, field.data_key or name, _value_encoder(field))
        for name, field in schema_class().fields.items()
        if not field.load_only
    ]

    def encode(value: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, key, encode_value in plan:
            item = getattr(value, name)
            if item is None:
                continue
            item = encode_value(item)
            if item != []:
                data[key] = item
        return data

    return encode
