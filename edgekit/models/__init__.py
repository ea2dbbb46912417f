"""Model builders: one module per architecture, each registering a :class:`ModelBuilder`.

Builders return tf-keras (Keras 2) models because TFMOT's pruning and QAT only work on those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from edgekit.registry import Registry

if TYPE_CHECKING:
    from pathlib import Path

    from edgekit.data import Dataset


class BuilderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelBuilder(ABC):
    name: ClassVar[str]
    family: ClassVar[str | None]  # None: any family (e.g. a user's own saved model)
    Config: ClassVar[type[BuilderConfig]] = BuilderConfig

    @abstractmethod
    def build(self, config: BuilderConfig, data: "Dataset") -> Any:
        """Return an uncompiled tf-keras model whose inputs are named as the dataset's."""

    def bundle_extras(self, bundle: "Path", models: dict[str, Any], data: "Dataset",
                      config: BuilderConfig) -> dict[str, Any]:
        """Write files beyond the artifacts that a device or user needs to use them (e.g. a
        tokenizer); return facts for the report. Default: nothing."""
        return {}


MODELS: Registry[ModelBuilder] = Registry("model builder", "edgekit.models")
