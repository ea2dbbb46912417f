"""Model builders: one module per architecture, each registering a :class:`ModelBuilder`.

Builders return tf-keras (Keras 2) models because TFMOT's pruning and QAT only work on those.

A builder is generic over its config class, so its methods take that class and type-check
without casts: the recipe loader validates ``model.params`` against ``Config`` once, and the
pipeline hands the builder that very object::

    class LeNet5Config(BuilderConfig):
        filters: tuple[int, int] = (6, 16)

    class LeNet5(ModelBuilder[LeNet5Config]):
        name = "lenet5"
        family = "cnn"
        Config = LeNet5Config

        def build(self, config: LeNet5Config, data: Dataset) -> Any: ...

    MODELS.register(LeNet5.name, LeNet5())

A builder without parameters declares ``ModelBuilder[BuilderConfig]`` and
``Config = BuilderConfig``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from edgekit.plugin_config import PluginConfig
from edgekit.registry import Registry

if TYPE_CHECKING:
    from pathlib import Path

    from edgekit.data import Dataset
    from edgekit.footprint import Footprint


class BuilderConfig(PluginConfig):
    """A builder's ``model.params``: each builder subclasses it with its own fields."""


C = TypeVar("C", bound=BuilderConfig)


class ModelBuilder(ABC, Generic[C]):
    """Builds one architecture from its config ``C`` (validated from ``model.params``)."""

    name: str  # the registry name; a plain attribute so one class may serve several names
    family: ClassVar[str | None]  # None: any family (e.g. a user's own saved model)
    Config: type[C]  # the class ``model.params`` is validated into (ClassVar cannot be generic)

    @abstractmethod
    def build(self, config: C, data: "Dataset") -> Any:
        """Return an uncompiled tf-keras model whose inputs are named as the dataset's."""

    def bundle_extras(self, bundle: "Path", models: dict[str, Any], data: "Dataset",
                      config: C) -> dict[str, Any]:
        """Write files beyond the artifacts that a device or user needs to use them (e.g. a
        tokenizer); return facts for the report. Default: nothing."""
        return {}

    def footprint(self, config: C, data: "Dataset") -> "Footprint":
        """Size of the untrained model, for the run's up-front disk and memory estimate
        (:mod:`edgekit.resources`). Default: build it, count, and drop it (clearing Keras'
        name counters so the model trained next is named as it would have been). Override
        where building is costly (a checkpoint's weights to read)."""
        from edgekit import _tf
        from edgekit.footprint import built_footprint

        model = self.build(config, data)
        try:
            return built_footprint(model)
        finally:
            del model
            _tf.keras().backend.clear_session()

    def extras_bytes(self, models: dict[str, "Footprint"], data: "Dataset") -> int:
        """Bytes :meth:`bundle_extras` will write, from the run's model footprints by name
        ('reference', each stage, 'final'). Default: nothing."""
        return 0

    def custom_objects(self) -> dict[str, Any]:
        """Registered objects (activations, layers) a saved model of this builder needs to be
        loaded again, e.g. from the run cache. Default: none."""
        return {}


MODELS: Registry[ModelBuilder[Any]] = Registry("model builder", "edgekit.models")
