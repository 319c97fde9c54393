"""A registry of adapters by name, filled by importing every module of a package.

A new marketplace, carrier or customs authority is one new module that calls
`register`; nothing else changes (STYLE.md: Saleor's plugin registry, karrio's
one package per carrier). What the rest of the system shows about an adapter
comes from the module's own declarations: its display name, the content types
it is pushed, the request headers its pushes are signed or identified with, its
`RB_<NAME>_*` settings (the README's Settings rows are these, checked by
tests/test_adapter_modules.py) and its optional capabilities, each a
`typing.Protocol` checked when the module registers.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
P = TypeVar("P")


@dataclass(frozen=True)
class Setting:
    """One row of the README's Settings table: `RB_<NAME>_<KEY>` for each key, its default and its meaning.

    `default` and `meaning` are written as the table shows them (Markdown): the value used when the variable is
    unset, or what the adapter then does ("none: requests built and stored, not sent").
    """

    keys: tuple[str, ...]
    default: str
    meaning: str

    def variables(self, adapter: str) -> list[str]:
        return [f"RB_{adapter.upper()}_{key}" for key in self.keys]

    def row(self, adapter: str) -> str:
        names = ", ".join(f"`{name}`" for name in self.variables(adapter))
        return f"| {names} | {self.default} | {self.meaning} |"


@dataclass(frozen=True)
class SignatureHeader:
    """A request header an adapter's pushes are signed or identified with, as the OpenAPI document shows it."""

    name: str
    description: str


class AdapterDeclarationError(TypeError):
    """A module registered an adapter whose declarations are missing or untrue (a declared capability unmet)."""


def declared_capability(adapter: Any, protocol: type[P]) -> P | None:
    """`adapter` as `protocol` when its module declared that capability, else None (no probing for methods)."""
    return cast(P, adapter) if protocol in adapter.capabilities else None


def accepts_media_type(content_types: tuple[str, ...], mimetype: str) -> bool:
    """Whether a push posted as `mimetype` is one the adapter declared; declaring JSON takes `+json` types too."""
    return mimetype in content_types or ("application/json" in content_types and mimetype.endswith("+json"))


def check_declarations(kind: str, name: str, adapter: Any, known: Iterable[type]) -> None:
    """Refuse an adapter at registration unless it declares what the system shows about it, and has what it claims.

    Capabilities are `runtime_checkable` protocols; an adapter may only declare the known ones, and each it
    declares must be implemented (an adapter claiming to take decisions without a `respond` fails here, at import,
    not on the first decision).
    """
    problems = []
    if getattr(adapter, "name", None) != name:
        problems.append(f"its name is {getattr(adapter, 'name', None)!r}")
    if not isinstance(getattr(adapter, "display_name", None), str) or not adapter.display_name.strip():
        problems.append("it declares no display_name")
    types = getattr(adapter, "content_types", None)
    if not isinstance(types, tuple) or not types or not all(isinstance(t, str) and "/" in t for t in types):
        problems.append("content_types must be a non-empty tuple of media types")
    headers = getattr(adapter, "signature_headers", None)
    if not isinstance(headers, tuple) or not all(isinstance(item, SignatureHeader) for item in headers):
        problems.append("signature_headers must be a tuple of SignatureHeader (empty when nothing is pushed)")
    settings = getattr(adapter, "declared_settings", None)
    if not isinstance(settings, tuple) or not all(isinstance(item, Setting) for item in settings):
        problems.append("declared_settings must be a tuple of Setting")
    capabilities = getattr(adapter, "capabilities", None)
    known = tuple(known)
    if not isinstance(capabilities, frozenset):
        problems.append("capabilities must be a frozenset of protocols")
    else:
        for capability in capabilities:
            if capability not in known:
                problems.append(f"{capability!r} is not a {kind} capability (known: {[k.__name__ for k in known]})")
            elif not isinstance(adapter, capability):
                problems.append(f"it declares {capability.__name__} but does not implement it")
    if problems:
        raise AdapterDeclarationError(f"{kind} {name!r}: " + "; ".join(problems))


class UnknownAdapter(LookupError):
    """No adapter is registered under that name."""


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str, check: Callable[[str, T], None] | None = None) -> None:
        self.kind = kind
        self._package = package
        self._check = check
        self._adapters: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, adapter: T) -> T:
        if name in self._adapters and self._adapters[name] is not adapter:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        if self._check is not None:
            self._check(name, adapter)
        self._adapters[name] = adapter
        return adapter

    def unregister(self, name: str) -> None:
        """Remove an adapter (a plugin unloaded, or a test's throwaway module)."""
        self._adapters.pop(name, None)

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


def settings_rows(*registries: Registry[Any]) -> list[str]:
    """The README's Settings rows of every registered adapter, in registry order (tests/test_adapter_modules.py)."""
    return [
        setting.row(name)
        for registry in registries
        for name, adapter in registry
        for setting in adapter.declared_settings
    ]
