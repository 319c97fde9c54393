"""Buyer notices: rendering in the buyer's language (render.py) and delivery channels, one module each."""

from adapters.notifiers.base import NOTIFIERS

__all__ = ["NOTIFIERS"]
