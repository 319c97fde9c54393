"""Marketplace adapters, one module each, registered by route name (see base.MARKETPLACES)."""

from adapters.marketplaces.base import MARKETPLACES

__all__ = ["MARKETPLACES"]
