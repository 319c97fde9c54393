"""Exchange-rate sources, one module each, registered by name (see base.RATE_SOURCES)."""

from adapters.rates.base import RATE_SOURCES

__all__ = ["RATE_SOURCES"]
