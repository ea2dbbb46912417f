"""User-facing errors, raised alike on the host and on a device.

Every problem a user can fix (a bad recipe field, a missing file, an absent runtime) is raised
as :class:`EdgekitError`, whose ``str()`` is one line naming the file or field and the fix. The
CLI prints that line and exits non-zero; tracebacks are reserved for ``--debug`` and for bugs.

Why in the device package: the runtimes and runners raise it on a device, where only this
package travels; :mod:`edgekit.errors` imports it from here, so host and device raise one
class and an ``except EdgekitError`` on the host catches the runtimes' errors too.
"""

from __future__ import annotations

from pathlib import Path


class EdgekitError(Exception):
    """An error the user can act on, rendered as a single line."""

    def __init__(self, message: str, *, where: str | Path | None = None, fix: str | None = None):
        self.message = message.rstrip(".")
        self.where = str(where) if where is not None else None
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text += f" (fix: {self.fix})"
        return " ".join(text.split())  # one line, always


class RegistryError(EdgekitError):
    """Unknown or duplicate name in a registry."""
