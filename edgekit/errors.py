"""User-facing errors: :class:`EdgekitError` and the kinds of it the host raises.

Every problem a user can fix (a bad recipe field, a missing file, an absent runtime) is raised
as :class:`EdgekitError`, whose ``str()`` is one line naming the file or field and the fix. The
CLI prints that line and exits non-zero; tracebacks are reserved for ``--debug`` and for bugs.
The class itself lives in :mod:`edgekit.device.errors` (the runtimes raise it on a device too),
so host and device raise the same class.
"""

from __future__ import annotations

from edgekit.device.errors import EdgekitError, RegistryError

__all__ = ["EdgekitError", "RegistryError", "RuntimeUnavailable"]


class RuntimeUnavailable(EdgekitError):
    """A runtime or target is absent on this machine; the message names what is missing."""
