"""The one table of artifact formats: what a format is called, which file suffix it loads from,
which companion files travel with it, and which runtime proves it by default.

Why here, in the device package: the runner on a device needs it (to pick a runtime from a file
name) as much as the host does (exporters, profile, FLOP counting), and the device package may
import nothing from the host side. Everything that maps a suffix to a format reads this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Format(str, Enum):
    """An artifact format. A ``str`` subclass so it compares equal to the recipe's spelling
    (``Format.TFLITE == "tflite"``) and serialises to it in JSON."""

    TFLITE = "tflite"
    ONNX = "onnx"
    OPENVINO = "openvino"

    def __str__(self) -> str:
        return self.value


class Precision(str, Enum):
    """How an artifact's weights (and compute) are stored: what a recipe asks for.

    ``dynamic`` is int8 weights with activations quantized at run time (no calibration)."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"
    DYNAMIC = "dynamic"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class FormatFiles:
    """The files of one format on disk."""

    format: Format
    suffix: str  # the file a runtime loads
    companions: tuple[str, ...]  # suffixes of files that must sit next to it (same stem)
    runtime: str  # the runtime that proves it on a CPU by default


FORMATS: dict[Format, FormatFiles] = {
    Format.TFLITE: FormatFiles(Format.TFLITE, ".tflite", (), "litert"),
    Format.ONNX: FormatFiles(Format.ONNX, ".onnx", (), "onnxruntime"),
    Format.OPENVINO: FormatFiles(Format.OPENVINO, ".xml", (".bin",), "openvino"),
}
_BY_SUFFIX = {f.suffix: f for f in FORMATS.values()}


def files_for_suffix(suffix: str) -> FormatFiles | None:
    """The format whose loaded file has this suffix (case-insensitive), or None."""
    return _BY_SUFFIX.get(suffix.lower())


def format_of(path: Path) -> Format | None:
    """The format of an artifact file, from its suffix; None for anything else."""
    found = files_for_suffix(path.suffix)
    return found.format if found else None


def artifact_files(path: Path) -> list[Path]:
    """The file to load first, then its companions (OpenVINO's ``.bin`` next to the ``.xml``)."""
    found = files_for_suffix(path.suffix)
    return [path, *(path.with_suffix(s) for s in (found.companions if found else ()))]
