"""Name → plug-in registries, for the host's plug-in packages (models, stages, exporters,
targets ...). The class lives in :mod:`edgekit.device.registry`, because the runtimes register
through it on a device, where only the device package travels; this is its host-side name."""

from __future__ import annotations

from edgekit.device.registry import Registry

__all__ = ["Registry"]
