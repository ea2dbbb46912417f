"""Runtimes: one module per inference engine, each proving artifacts of its formats.

These modules import only NumPy and their engine (never TensorFlow), so the same adapters run
inside the self-contained runner that edgekit ships to devices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from edgekit.device.formats import Format
from edgekit.device.registry import Registry

Inputs = dict[str, np.ndarray]


class Session(ABC):
    """A loaded artifact, ready for batch-1 (or batch-N) inference."""

    input_names: list[str]

    @abstractmethod
    def run(self, inputs: Inputs) -> np.ndarray:
        """The model's first output for ``inputs`` (arrays keyed by input name)."""

    def run_outputs(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Every output by name, for graphs whose outputs feed the next call (a KV cache:
        :mod:`edgekit.device.generate`). Engines that implement it override this."""
        raise NotImplementedError(f"{type(self).__name__} returns only its first output")

    def executed_precision(self, stored: str) -> str:
        """The precision the engine actually computes in, given the stored one."""
        return stored

    def execution_details(self, inputs: Inputs) -> dict[str, object]:
        """How the engine ran the model, for the run's record (e.g. which execution provider
        ran each node on an accelerator); empty where there is nothing to say."""
        return {}


class Runtime(ABC):
    name: ClassVar[str]
    formats: ClassVar[frozenset[Format]]  # the artifact formats it loads
    # Keyword options ``load`` accepts beyond the thread count (set from device profiles).
    options: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def missing(self) -> str | None:
        """None if usable here, else what is missing (shown to the user in skips and errors)."""

    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def load(self, path: Path, threads: int) -> Session: ...


RUNTIMES: Registry[Runtime] = Registry("runtime", "edgekit.device.runtimes")


def match_inputs(wanted: list[str], given: Inputs,
                 aliases: Mapping[str, Iterable[str]] | None = None) -> dict[str, np.ndarray]:
    """Map the engine's input names to ours: exact, else the engine name that contains ours.

    Converters decorate names ('serving_default_image:0', 'image:0'); they keep ours inside.
    ``aliases``: every name an engine input goes by (OpenVINO gives a tensor all the names the
    graph had for it, and which one it reports first is not ours: a diffusion sampler's input
    was reported as 'diffusion/ddim_sampler/mul_2:0', the name of the first product it feeds).
    """
    mapping: dict[str, np.ndarray] = {}
    for engine_name in wanted:
        names = [engine_name, *((aliases or {}).get(engine_name, ()))]
        exact = [n for n in names if n in given]
        if exact:
            mapping[engine_name] = given[exact[0]]
            continue
        hits = [k for k in given if k in engine_name]
        if len(hits) != 1:
            raise KeyError(f"cannot match engine input '{engine_name}' to one of {sorted(given)}")
        mapping[engine_name] = given[hits[0]]
    return mapping
