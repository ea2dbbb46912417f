"""Name → plug-in registries.

Adding a model family, a compression stage, an exporter, a runtime or a task means adding one
module to the matching package: the registry imports every module of its package the first time
it is asked for a name (discovery), and each module registers itself. Registries refuse
duplicate names so two plug-ins can never silently shadow each other.

In the device package because the runtimes register through it on a device too; the host's
plug-in packages import it as :class:`edgekit.registry.Registry`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from edgekit.device.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of plug-ins of one kind, discovered from one package."""

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self._package = package
        self._items: dict[str, T] = {}
        self._discovered = package is None

    def register(self, name: str, item: T) -> T:
        if name in self._items and self._items[name] is not item:
            raise RegistryError(f"{self.kind} '{name}' is registered twice",
                                fix="give the new plug-in a unique name")
        self._items[name] = item
        return item

    def add(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`register`."""
        def deco(item: T) -> T:
            return self.register(name, item)
        return deco

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self._package)  # type: ignore[arg-type]
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self._package}.{info.name}")

    def get(self, name: str) -> T:
        self._discover()
        try:
            return self._items[name]
        except KeyError:
            raise RegistryError(f"unknown {self.kind} '{name}'",
                                fix=f"use one of: {', '.join(self.names()) or '(none)'}") from None

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
