"""Exporters: one module per artifact format.

An exporter turns a tf-keras model into files of one format at one precision. Post-training
quantization lives here because the converters do it (TFLite's converter, ONNX Runtime's
quantizer, OpenVINO's FakeQuantize import), calibrated on training examples, never test ones.
Choices made at export time (which layers int8 keeps in float) are judged on the validation
split, the ``tuning`` argument: held out from training, so it shows how the artifact generalises,
and never the test split that proves the artifact afterwards.

An exporter is generic over its options class (``class ONNXExporter(Exporter[ONNXOptions])``
with ``Options = ONNXOptions``): the recipe loader validates ``export[i].options`` into it once,
and ``export`` receives that object. Formats and precisions are the enumerations of
:mod:`edgekit.device.formats` (``str`` subclasses: they compare and serialise as their names).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from edgekit.data import Split
from edgekit.device.formats import Format, Precision
from edgekit.families import FamilySpec
from edgekit.plugin_config import PluginConfig
from edgekit.registry import Registry


class ExportOptions(PluginConfig):
    """Format-specific export options (a recipe's ``export[i].options``), validated statically."""


O = TypeVar("O", bound=ExportOptions)


@dataclass
class ExportedArtifact:
    format: Format
    precision: Precision  # as stored (what the recipe asked), not what a runtime executes
    files: list[Path]  # every file of the artifact; files[0] is the one a runtime loads
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # callers may name them by their spelling ("int8"): hold the enumerations either way
        self.format, self.precision = Format(self.format), Precision(self.precision)

    @property
    def path(self) -> Path:
        return self.files[0]


class Exporter(ABC, Generic[O]):
    format: ClassVar[Format]
    precisions: ClassVar[frozenset[Precision]]
    runtime: ClassVar[str]  # the runtime that proves this format on the CPU target
    suffix: ClassVar[str]
    Options: type[O]  # what ``export[i].options`` is validated into (ClassVar can't be generic)

    @abstractmethod
    def export(self, model: Any, precision: Precision, dest: Path, calibration: Split,
               options: O | None = None,
               family: FamilySpec | None = None, tuning: Split | None = None) -> ExportedArtifact:
        """Write the artifact to ``dest`` (suffix included) and return what was written.

        ``family`` is the model's :class:`~edgekit.families.FamilySpec` (or None); an exporter
        may use its ``graph_writers`` instead of a generic converter. ``tuning`` is the
        validation split that export-time decisions are judged on (None or empty: they fall
        back to ``calibration`` and say so in the notes); ``options`` None means the
        defaults of ``Options``."""


EXPORTERS: Registry[Exporter[Any]] = Registry("export format", "edgekit.exporters")


def keras_input_specs(model: Any, calibration: Split) -> list[tuple[str, tuple[int, ...], Any]]:
    """(name, shape without batch, dtype) of each model input, in the model's input order."""
    specs = []
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        arr = calibration.x.get(name)
        dtype = arr.dtype if arr is not None else tensor.dtype.as_numpy_dtype
        specs.append((name, tuple(tensor.shape[1:]), dtype))
    return specs
