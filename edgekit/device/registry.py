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
import threading
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
        self._discovered = package is None  # discovery started (or nothing to discover)
        self._complete = package is None  # every module of the package imported
        # Threads (validate's parallel runners) may ask first at the same moment: one imports,
        # the others wait for the whole package instead of seeing half of it. Reentrant, as a
        # plug-in module being imported may itself look a name up.
        self._lock = threading.RLock()

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
        if self._complete:
            return
        with self._lock:
            if self._discovered:  # done by another thread, or under way in this one
                return
            self._discovered = True
            pkg = importlib.import_module(self._package)  # type: ignore[arg-type]
            for info in pkgutil.iter_modules(pkg.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self._package}.{info.name}")
            self._complete = True

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
