"""A named-plugin registry: the one mechanism behind the unlearning methods' and the attacks' registries.

Plugins register themselves from the modules of one package; the registry imports that package's
modules the first time it is asked (so registering a plugin is writing its module, nothing else) and
lists plugins by (``order``, name).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, Protocol, TypeVar

__all__ = ["PluginRegistry"]


class _Named(Protocol):
    name: str
    order: int


P = TypeVar("P", bound=_Named)


class PluginRegistry(Generic[P]):
    """Plugins of one kind (``noun``: "method", "attack"), discovered in ``package``'s modules."""

    def __init__(self, package: str, noun: str, skip_suffixes: tuple[str, ...] = ()) -> None:
        self.package, self.noun, self.skip_suffixes = package, noun, skip_suffixes
        self._plugins: dict[str, P] = {}
        self._discovered = False

    def register(self, plugin: P) -> P:
        """Add ``plugin`` (a name may be registered once); returns it, so a module can keep it."""
        if plugin.name in self._plugins and self._plugins[plugin.name] is not plugin:
            raise ValueError(f"a {self.noun} named {plugin.name!r} is registered already")
        self._plugins[plugin.name] = plugin
        return plugin

    def unregister(self, name: str) -> None:
        """Remove a plugin (plug-ins and tests that register one for a while)."""
        self._plugins.pop(name, None)

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self.package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{self.package}."):
            if not (self.skip_suffixes and info.name.endswith(self.skip_suffixes)):
                importlib.import_module(info.name)

    def all(self) -> dict[str, P]:
        """Every registered plugin by name, in listing order."""
        self._discover()
        return {p.name: p for p in sorted(self._plugins.values(), key=lambda p: (p.order, p.name))}

    def get(self, name: object) -> P:
        """The plugin called ``name``; ValueError naming the registered ones otherwise."""
        plugins = self.all()
        if not isinstance(name, str) or name not in plugins:
            raise ValueError(f"unknown {self.noun} {name!r}; choose from {', '.join(plugins)}")
        return plugins[name]
