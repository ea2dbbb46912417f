"""A file's sha256, read in blocks: what bundle manifests record and what a device checks.

In the device package because ``predict --check`` verifies a deployed folder's hashes on the
device, where only this package is; the host's manifest code imports it from here, so both
sides hash the same way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
