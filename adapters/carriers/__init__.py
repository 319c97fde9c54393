"""Carrier adapters, one module each, registered by name (see base.CARRIERS)."""

from adapters.carriers.base import CARRIERS

__all__ = ["CARRIERS"]
