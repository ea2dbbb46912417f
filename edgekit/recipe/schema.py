"""The recipe schema.

Sections are static pydantic classes (type checkers see them). A plug-in's parameters (a model
builder's ``model.params``, a dataset's ``data.params``, a stage's entry, an export's
``options``) are read here as an :class:`UncheckedParams`, since which class checks them
depends on the plug-in named; the loader then validates them against that plug-in's static
``Config`` (or ``Options``) class and puts the validated object in their place, so an error
names e.g. ``compression[0].target_sparsity`` and everything downstream reads typed fields.
Formats and precisions are the enumerations of :mod:`edgekit.device.formats`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PositiveFloat, PositiveInt,
                      SerializeAsAny, ValidationInfo, field_validator, model_validator)
from pydantic_core import PydanticCustomError

from edgekit.device.formats import Format, Precision
from edgekit.plugin_config import PluginConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UncheckedParams(PluginConfig):
    """A plug-in's parameters as written, before the loader knows which plug-in's class
    checks them (:func:`edgekit.recipe.loader.load_recipe` replaces it by that class)."""

    model_config = ConfigDict(extra="allow")


def _as_unchecked(value: Any) -> Any:
    if isinstance(value, PluginConfig):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
    return UncheckedParams.model_validate(value)


#: a plug-in's parameters: serialised as the plug-in's own class (every field, defaults filled)
Params = Annotated[SerializeAsAny[PluginConfig], BeforeValidator(_as_unchecked)]


def _no_params() -> PluginConfig:
    return UncheckedParams()


class ModelSection(_Strict):
    builder: str = Field(description="name of a registered model builder")
    params: Params = Field(default_factory=_no_params, description="the builder's Config")


class DataSection(_Strict):
    dataset: str = Field(description="name of a registered dataset loader")
    params: Params = Field(default_factory=_no_params, description="the loader's Config")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="held-out split, never trained on")
    val_fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = 0
    dedup: bool = Field(True, description="keep exact duplicates (texts after whitespace/case "
                        "normalisation, identical rows or images) in one split, so none is both "
                        "trained on and held out; false splits row by row")


class TrainSection(_Strict):
    strategy: str = Field("default", description="tf.distribute strategy: default | mirrored | "
                          "multi_worker_mirrored | one_device")
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: PositiveFloat = 1e-3
    seed: int = 0
    bucketing: bool = Field(False, description="tokenized text: batches of similar length, each "
                            "padded only to its longest text (exports keep their fixed length); "
                            "no effect on other data")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="the reference's learning rate per epoch: constant, or cosine "
        "(from learning_rate down along half a cosine, to 0 after the last epoch); compression "
        "stages' fine-tunes keep their own constant rate")


class StageEntry(_Strict):
    """One compression stage: ``{stage: prune, target_sparsity: 0.5, ...}`` in YAML."""

    stage: str
    params: Params = Field(default_factory=_no_params, description="the stage's Config")

    @model_validator(mode="before")
    @classmethod
    def _collect_params(cls, data: Any) -> Any:
        if isinstance(data, dict) and "params" not in data:
            params = {k: v for k, v in data.items() if k != "stage"}
            return {"stage": data.get("stage"), "params": params}
        return data


class ExportEntry(_Strict):
    format: Format = Field(description="tflite | onnx | openvino")
    precision: Precision = Field(Precision.FP32, description="fp32 | fp16 | int8 | dynamic "
                                 "(format-dependent)")
    model: str = Field("final", description="which model to export: 'reference', 'final' or the "
                       "name of a compression stage")
    options: Params = Field(default_factory=_no_params, description="format-specific options, "
                            "e.g. onnx {fusion: bert}: the exporter's Options")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100,
                             description="artifact file name without suffix; default "
                             "RECIPE-MODEL-PRECISION. Needed when two entries share format, "
                             "model and precision (e.g. with and without fusion)")

    @field_validator("format", mode="before")
    @classmethod
    def _known_format(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in {f.value for f in Format}:
            raise PydanticCustomError("unknown_name", "unknown name '{name}'",
                                      {"name": value, "fix": "use one of: "
                                       + ", ".join(sorted(f.value for f in Format))})
        return value

    @field_validator("precision", mode="before")
    @classmethod
    def _known_precision(cls, value: Any, info: ValidationInfo) -> Any:
        # which precisions a format offers is its exporter's to say (the loader checks that);
        # a name no format has is refused here, in the same words
        if isinstance(value, str) and value not in {p.value for p in Precision}:
            raise PydanticCustomError("unknown_precision", "{format} has no precision '{name}'",
                                      {"name": value, "format": str(info.data.get("format", "?")),
                                       "fix": "use one of: "
                                       + ", ".join(sorted(p.value for p in Precision))})
        return value

    def stem(self, recipe_name: str) -> str:
        """The artifact's file name without suffix."""
        return self.name or f"{recipe_name}-{self.model}-{self.precision}"


class Budgets(_Strict):
    baseline: str = Field("reference", description="the model artifacts are judged against: "
                          "'reference' (uncompressed) or a stage name, e.g. a distilled student")
    metric: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*(\[[0-9]+\])?$",
                               description="the metric the budget is on; default the task's "
                               "(accuracy for classification). Classification also has "
                               "macro_f1, macro_precision, macro_recall and per class f1[K], "
                               "precision[K], recall[K] (K: class index)")
    max_metric_drop: float = Field(0.01, ge=0, description="allowed loss of the metric vs the "
                                   "baseline, in metric units (0.01 = 1 point)")
    min_agreement: float = Field(0.95, ge=0, le=1, description="share of held-out examples "
                                 "whose top-1 matches the baseline")
    min_reference_ratio: float | None = Field(None, gt=0, le=1, description="artifact metric / "
                                              "reference metric must reach this (e.g. 0.97)")
    max_size_bytes: PositiveInt | None = None


class ValidationSection(_Strict):
    device: str = "cpu"
    threads: PositiveInt | None = Field(None, description="default: the device profile's")
    warmup: int = Field(10, ge=0)
    runs: PositiveInt = 100
    max_examples: PositiveInt | None = Field(None, description="cap on held-out examples run "
                                             "through each artifact")


class OptimizeSection(_Strict):
    """``edgekit optimize``'s search space: each knob is a dotted path into the recipe with
    the values it may take. ``export`` takes export entries (one artifact per candidate);
    ``export.options.X`` overrides option X in the export choices that set it;
    ``compression.STAGE`` takes ``off`` or a stage's parameters (the stage is dropped or added);
    ``compression.STAGE.PARAM`` sets a parameter of a stage the candidate has; any other path
    is set as ``--set`` would (e.g. ``validation.threads``)."""

    space: dict[str, list[Any]] = Field(min_length=1, description="dotted recipe path -> the "
                                        "values it may take, e.g. {export.options."
                                        "fallback_min_agreement: [0.97, 0.99]}")
    monotone: list[str] = Field(default_factory=list, description="compression knobs of the "
                                "space whose values are listed from mildest to strongest "
                                "('off' first): a candidate compressed at least as strongly "
                                "in each as one whose float model is already out of budget "
                                "is skipped untried")

    @model_validator(mode="after")
    def _choices(self) -> "OptimizeSection":
        import json

        for path, choices in self.space.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*", path):
                raise ValueError(f"knob '{path}' is not a dotted path (e.g. train.epochs)")
            if not choices:
                raise ValueError(f"knob '{path}' has no values")
            labels = [json.dumps(c, sort_keys=True, default=str) for c in choices]
            if len(set(labels)) != len(labels):
                raise ValueError(f"knob '{path}' lists a value twice")
        for path in self.monotone:  # after the space: a broken space is named first
            if path not in self.space:
                raise ValueError(f"monotone knob '{path}' is not in the space (a space given "
                                 "with --set needs its own optimize.monotone=[...])")
            if not path.startswith("compression."):
                raise ValueError(f"monotone knob '{path}' changes nothing that is trained "
                                 "(only compression.* knobs make a model weaker)")
        return self


class Recipe(_Strict):
    name: str
    family: str
    description: str = ""
    model: ModelSection
    data: DataSection
    train: TrainSection = Field(default_factory=TrainSection)
    compression: list[StageEntry] = Field(default_factory=list)
    export: list[ExportEntry] = Field(min_length=1, description="at least one artifact: a "
                                      "run that exports and proves nothing proves nothing")
    budgets: Budgets = Field(default_factory=Budgets)
    validation: ValidationSection = Field(default_factory=ValidationSection)
    quick: dict[str, Any] = Field(default_factory=dict, description="dotted overrides applied "
                                  "by --quick, e.g. {'train.epochs': 2}")
    optimize: OptimizeSection | None = Field(None, description="the search space of "
                                             "'edgekit optimize'")

    @model_validator(mode="after")
    def _unique_stage_names(self) -> "Recipe":
        seen: set[str] = set()
        for entry in self.compression:
            if entry.stage in seen:
                raise ValueError(f"stage '{entry.stage}' appears twice; each stage runs once")
            seen.add(entry.stage)
        return self
