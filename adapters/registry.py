"""A registry of adapters by name, filled by importing every module of a package.

A new marketplace, carrier or customs authority is one new module that calls
`register`; nothing else changes (STYLE.md: Saleor's plugin registry, karrio's
one package per carrier).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownAdapter(LookupError):
    """No adapter is registered under that name."""


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self._package = package
        self._adapters: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, adapter: T) -> T:
        if name in self._adapters and self._adapters[name] is not adapter:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._adapters[name] = adapter
        return adapter

    def _load(self) -> None:
        if self._loaded:
            return
        package = importlib.import_module(self._package)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_") and module.name != "base":
                importlib.import_module(f"{self._package}.{module.name}")
        self._loaded = True

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._adapters[name]
        except KeyError:
            raise UnknownAdapter(f"no {self.kind} named {name!r}") from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._adapters)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._adapters

    def __iter__(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._adapters.items()))
