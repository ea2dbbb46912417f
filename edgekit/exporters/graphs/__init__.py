"""Family-specific graph writers: build an artifact's graph straight from a model's weights.

A generic converter (tf2onnx) traces whatever TensorFlow graph it is given; for architectures
whose runtime has hand-written fused kernels (ONNX Runtime's BERT Attention, LayerNorm ...),
that trace rarely has the exact node pattern the fusions look for. A graph writer instead
emits the canonical layout the runtime's optimizer was written against.

A :class:`~edgekit.families.FamilySpec` names its writers per format
(``graph_writers={"onnx": "bert_onnx"}``); the exporter for that format looks the name up here
and falls back to its generic converter when there is none, or when the writer declines a model
(QAT-wrapped layers, an unknown head ...). One module per writer, discovered on first lookup.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from edgekit.families import FamilySpec
from edgekit.registry import Registry


class GraphWriter(ABC):
    name: ClassVar[str]
    format: ClassVar[str]  # the artifact format it writes (an EXPORTERS name)
    description: ClassVar[str]

    @abstractmethod
    def unsupported(self, model: Any) -> str | None:
        """Why this writer cannot express ``model`` (None: it can)."""

    @abstractmethod
    def write(self, model: Any, dest: Path) -> None:
        """Write the float graph of ``model`` to ``dest``."""


GRAPH_WRITERS: Registry[GraphWriter] = Registry("graph writer", "edgekit.exporters.graphs")


def writer_for(family: FamilySpec | None, fmt: str, model: Any,
               fallback: str = "generic converter") -> tuple[GraphWriter | None, str]:
    """The family's writer for ``fmt`` if it accepts ``model``, and a note saying which path
    was taken (and why a named writer was skipped)."""
    name = family.graph_writers.get(fmt) if family is not None else None
    if name is None:
        return None, fallback
    writer = GRAPH_WRITERS.get(name)
    reason = writer.unsupported(model)
    if reason is not None:
        return None, f"{fallback} ({name} declined: {reason})"
    return writer, name
