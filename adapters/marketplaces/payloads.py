"""Reading a marketplace's body: a JSON object, its required fields, and a 400 (not a 500) for any other shape."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from adapters.marketplaces.base import InboundRequest, ParsedDelivery, PayloadError

SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError)
"""What reading a JSON value of an unexpected type raises; the same as a PayloadError for the sender."""
ROW_ERRORS = (PayloadError, *SHAPE_ERRORS)
"""A polled row that cannot be read is set aside (reported), never allowed to stop the poll."""


def body_shape(parse: Callable[..., ParsedDelivery]) -> Callable[..., ParsedDelivery]:
    """A `parse` that meets a body of another shape (a list where an object was documented, a number
    for a text) answers 400 naming that, not 500: the body is not what this marketplace sends."""

    @functools.wraps(parse)
    def guarded(self: Any, request: InboundRequest) -> ParsedDelivery:
        try:
            return parse(self, request)
        except SHAPE_ERRORS as exc:
            raise PayloadError(f"the body does not have the documented shape: {type(exc).__name__}: {exc}") from None

    return guarded


def json_object(request: InboundRequest) -> dict[str, Any]:
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:  # thousands of nested arrays: no platform sends this
        raise PayloadError("body nests JSON deeper than Python's parser allows") from None
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    return payload


def field_of(payload: Mapping[str, Any], path: str) -> Any:
    """A required field by dotted path; its absence is a 400 naming the field."""
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or value.get(part) in (None, ""):
            raise PayloadError(f"{path} is missing", {path: ["is required"]})
        value = value[part]
    return value
