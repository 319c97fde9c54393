"""Buyer notices: their words (notice_texts.py), rendering in the buyer's language (render.py, with
catalogs.py and local_formats.py) and delivery channels, one module each."""

from adapters.notifiers.base import NOTIFIERS

__all__ = ["NOTIFIERS"]
