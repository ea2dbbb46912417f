"""A bundle's held-out data, stored so that it is read a batch at a time, never whole.

``compress`` writes ``data/heldout/`` with one uncompressed ``.npy`` per array: ``x__<input>``
(inputs), ``y`` (labels), ``reference`` (the reference model's outputs) and, for text, ``texts``.
:func:`open_arrays` maps them with ``np.load(mmap_mode="r")``: slicing an example reads only its
pages, so re-proving (``edgekit validate``), profiling and the on-device runner need memory for
the batches they feed, not for the data set. Bundles written before this layout have one
compressed ``data/heldout.npz``; it is still read (each array loads whole when first used, since
compressed members cannot be mapped).

This module needs only NumPy: it ships to devices with the rest of :mod:`edgekit.device`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

FOLDER = "data/heldout"
LEGACY_FILE = "data/heldout.npz"
INPUT_PREFIX = "x__"
_CHUNK_BYTES = 64 << 20  # what copy_inputs holds at once


def write(folder: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """One uncompressed ``<name>.npy`` per array (no pickles: strings are fixed-width)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", np.asarray(arr), allow_pickle=False)


class Arrays(Mapping[str, np.ndarray]):
    """The arrays of a held-out folder (memory-mapped) or legacy ``.npz`` (loaded on first
    use, one array at a time), by name."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self._names = sorted(p.stem for p in self.path.glob("*.npy"))
            self._npz = None
        else:
            self._npz = np.load(self.path, allow_pickle=False)
            self._names = [n for n in self._npz.files]
        self._loaded: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._loaded:
            self._loaded[name] = (np.load(self.path / f"{name}.npy", mmap_mode="r",
                                          allow_pickle=False)
                                  if self._npz is None else self._npz[name])
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def inputs(self) -> dict[str, np.ndarray]:
        """``{input name: array}`` from the ``x__<input>`` arrays."""
        return {k[len(INPUT_PREFIX):]: self[k] for k in self if k.startswith(INPUT_PREFIX)}


def open_arrays(path: Path) -> Arrays:
    return Arrays(path)


def find(bundle: Path, rel: str | None = None) -> Path | None:
    """The held-out data of ``bundle``: ``rel`` (report.json's ``heldout_file``) when given,
    else the folder layout, else the legacy file; None when there is none."""
    for candidate in ([rel] if rel else [FOLDER, LEGACY_FILE]):
        path = bundle / candidate
        if path.exists():
            return path
    return None


def copy_inputs(src: Path, dest: Path, limit: int | None = None) -> int:
    """Write the first ``limit`` examples (all when None) of the inputs of ``src`` as a
    held-out folder at ``dest``, a chunk at a time: what a runner is handed is only what it
    feeds (labels and reference outputs stay behind). Returns the number of examples."""
    arrays = open_arrays(src)
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for name, arr in ((k, arrays[k]) for k in arrays if k.startswith(INPUT_PREFIX)):
        n = len(arr) if limit is None else min(limit, len(arr))
        out = np.lib.format.open_memmap(dest / f"{name}.npy", mode="w+", dtype=arr.dtype,
                                        shape=(n, *arr.shape[1:]))
        row = max(1, int(np.prod(arr.shape[1:], dtype=np.int64)) * arr.dtype.itemsize)
        step = max(1, _CHUNK_BYTES // row)
        for start in range(0, n, step):
            out[start:start + step] = arr[start:min(n, start + step)]
        out.flush()
        del out
    return n
