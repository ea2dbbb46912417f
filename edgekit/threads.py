"""How many threads a run uses: the one rule that ``compress``'s proofs, ``profile``,
``validate`` and the host-side runs beside them (the int8 fallback search, validate's host
comparison) all follow.

The rule, first that applies:

1. what the user asked for: the recipe's ``validation.threads`` (for ``validate``, the bundle's
   resolved recipe) or ``profile --threads``;
2. else the device profile's ``threads``: README's recipe table and ``ValidationSection`` say
   ``threads`` defaults to "the device profile's", docs/targets.md says a profile's ``threads``
   "is the default for runs";
3. else, for a run with no device in view (a host-only run whose outputs, not its timings,
   are used), the cores this process may use.

Why this order: a latency figure means something only together with the thread count it ran
at, and the user's explicit ask names the deployment they want measured; the profile is
the device's usual setting, written once by whoever added the device. A run no device speaks
for has no figure to honour, and its outputs do not depend on the thread count, so it takes
what this machine offers. The settled count is recorded with the results (report.json's
``target.threads`` and each ``latency_ms.threads``, ``targets/<device>.json``'s
``target.threads``, the profile's ``threads``).
"""

from __future__ import annotations

import os

from edgekit.devices import DeviceProfile


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports one, as in a
    container limited by cpusets), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def settle_threads(asked: int | None, device: DeviceProfile | None = None) -> int:
    """The thread count for a run: ``asked`` (recipe or CLI) if given, else the ``device``
    profile's, else this machine's cores (see the module docstring for why)."""
    if asked is not None:
        if asked < 1:
            raise ValueError(f"threads must be at least 1, got {asked}")
        return asked
    if device is not None:
        return device.threads
    return machine_cores()


def settled_device(device: DeviceProfile, asked: int | None) -> DeviceProfile:
    """``device`` with its ``threads`` settled by :func:`settle_threads`: the profile the runs
    actually used, so that recording it records the thread count they ran at."""
    threads = settle_threads(asked, device)
    return device if threads == device.threads else device.model_copy(update={"threads": threads})
