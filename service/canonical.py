"""The canonical event codec, under the name the service layer and the web have always imported.

The codec itself lives in `adapters/canonical.py`: storage, the web and the service all read and
write the canonical event, and adapters may not import the service layer (README "Architecture",
the import contract in pyproject.toml).
"""

from adapters.canonical import (
    AMOUNT,
    COUNTRY,
    CURRENCY,
    EVENT_SCHEMA,
    ITEMS_SCHEMA,
    ORDER_SCHEMA,
    RETURN_SCHEMA,
    AddressSchema,
    Amount,
    BuyerSchema,
    ConditionSchema,
    InspectionSchema,
    ItemSchema,
    OrderSchema,
    ReturnEventSchema,
    ReturnSchema,
    TrackingSchema,
    UtcDateTime,
    decode_event,
    dump_event,
    flatten_errors,
    load_event,
)

__all__ = [
    "AMOUNT",
    "COUNTRY",
    "CURRENCY",
    "EVENT_SCHEMA",
    "ITEMS_SCHEMA",
    "ORDER_SCHEMA",
    "RETURN_SCHEMA",
    "AddressSchema",
    "Amount",
    "BuyerSchema",
    "ConditionSchema",
    "InspectionSchema",
    "ItemSchema",
    "OrderSchema",
    "ReturnEventSchema",
    "ReturnSchema",
    "TrackingSchema",
    "UtcDateTime",
    "decode_event",
    "dump_event",
    "flatten_errors",
    "load_event",
]
