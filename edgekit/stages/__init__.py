"""Compression stages (prune, QAT, distillation ...): one module per stage.

A stage takes a tf-keras model and returns a new one plus facts worth reporting. Each stage
class declares a static pydantic ``Config`` (as Olive passes do, but visible to type checkers);
the recipe loader validates the recipe's entry against it, so errors name the exact field, and
the pipeline hands the stage that validated object. A stage is generic over its config class
(``class Prune(Stage[PruneConfig])`` with ``Config = PruneConfig``), so ``run`` and
``footprint`` take that class and type-check as written. Post-training quantization is not a
stage: it happens in the exporters, where the converters do it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from edgekit.plugin_config import PluginConfig
from edgekit.registry import Registry
from edgekit.training import TrainContext

if TYPE_CHECKING:
    import numpy as np

    from edgekit.data import Dataset
    from edgekit.footprint import Footprint, StageFootprint


class StageConfig(PluginConfig):
    """A stage's entry in ``compression:`` (less ``stage:``): each stage subclasses it."""


C = TypeVar("C", bound=StageConfig)


@dataclass
class StageResult:
    model: Any
    facts: dict[str, Any] = field(default_factory=dict)


class Stage(ABC, Generic[C]):
    name: ClassVar[str]
    description: ClassVar[str]
    Config: type[C]  # the class the recipe's entry is validated into (ClassVar cannot be generic)

    @abstractmethod
    def run(self, model: Any, config: C, ctx: TrainContext) -> StageResult: ...

    def footprint(self, config: C, model: "Footprint", data: "Dataset",
                  lengths: "np.ndarray | None" = None) -> "StageFootprint":
        """What the stage will hand on and hold meanwhile, before anything is trained (for
        the run's disk and memory estimate, :mod:`edgekit.resources`). ``lengths``: each
        training text's own token count when the run trains on length buckets (a teacher
        cache then stores each text at its length), else None. Default: a model of the
        same size, with a copy of the one it was given alive while it works (wrappers,
        fine-tuning)."""
        from edgekit.footprint import StageFootprint

        return StageFootprint(model=model, held_params=model.params)


STAGES: Registry[Stage[Any]] = Registry("compression stage", "edgekit.stages")
