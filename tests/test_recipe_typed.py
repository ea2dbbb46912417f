"""The loaded recipe is typed all the way (issue 16 item 4): each plug-in's section is its own
validated config object, formats and precisions are enumerations that still read and dump as
their names, and plug-in methods take their own config class (no ``type: ignore[override]``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import LENET_MINIMAL, REPO, write_recipe
from edgekit.device.formats import Format, Precision
from edgekit.errors import EdgekitError
from edgekit.recipe import load_recipe
from edgekit.recipe.loader import recipe_to_yaml


def test_each_section_is_its_plugins_own_config() -> None:
    from edgekit.data import DATASETS
    from edgekit.exporters import EXPORTERS
    from edgekit.models import MODELS
    from edgekit.stages import STAGES

    recipe = load_recipe("lenet5", quick=True)
    assert type(recipe.model.params) is MODELS.get(recipe.model.builder).Config
    assert type(recipe.data.params) is DATASETS.get(recipe.data.dataset).Config
    assert recipe.compression
    for entry in recipe.compression:
        assert type(entry.params) is STAGES.get(entry.stage).Config
    for exp in recipe.export:
        assert type(exp.options) is EXPORTERS.get(exp.format).Options
        assert isinstance(exp.format, Format) and isinstance(exp.precision, Precision)
    # read as attributes and, as the mapping it was written as, by name
    prune = recipe.compression[0].params
    assert prune["target_sparsity"] == getattr(prune, "target_sparsity") == 0.5
    with pytest.raises(KeyError):
        prune["no_such_field"]


def test_enumerations_dump_as_their_names(tmp_path: Path) -> None:
    recipe = load_recipe("lenet5", quick=True)
    dumped = yaml.safe_load(recipe_to_yaml(recipe))
    assert {(e["format"], e["precision"]) for e in dumped["export"]} >= {("tflite", "int8")}
    assert all(type(e["format"]) is str and type(e["precision"]) is str for e in dumped["export"])
    assert recipe.export[0].stem(recipe.name) == f"{recipe.name}-prune-fp32"


@pytest.mark.parametrize("change, message, fix", [
    ("export: [{format: pdf}]", "field 'export[0].format': unknown name 'pdf'",
     "use one of: onnx, openvino, tflite"),
    ("export: [{format: tflite, precision: int3}]",
     "field 'export[0].precision': tflite has no precision 'int3'",
     "use one of: dynamic, fp16, fp32, int8"),
    ("export: [{format: openvino, precision: dynamic}]",
     "field 'export[0].precision': openvino has no precision 'dynamic'",
     "use one of: fp16, fp32, int8"),
])
def test_a_bad_format_or_precision_is_one_line_with_the_choices(tmp_path: Path, change: str,
                                                                message: str, fix: str) -> None:
    base = yaml.safe_load(LENET_MINIMAL)
    base.update(yaml.safe_load(change))
    path = write_recipe(tmp_path / "r.yaml", yaml.safe_dump(base))
    with pytest.raises(EdgekitError) as info:
        load_recipe(str(path))
    assert info.value.message == message and info.value.fix == fix


def test_plugins_need_no_override_ignores() -> None:
    """The plug-in bases are generic over their config type: a plug-in's method takes its own
    config class as declared, and type checkers accept it without an ignore."""
    found = [f"{p.relative_to(REPO)}:{i}" for p in sorted((REPO / "edgekit").rglob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"type:\s*ignore\[override\]", line)]
    assert not found, found


def test_recurrent_builders_are_one_class_with_their_cell() -> None:
    from edgekit.data import Dataset, Split
    from edgekit.models import MODELS
    from edgekit.models.recurrent import Recurrent, RecurrentConfig

    split = Split({"series": np.zeros((4, 6, 1), np.float32)}, np.zeros((4, 1), np.float32))
    data = Dataset("toy", "regression", split, split, split, None, "test")
    cells = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU", "bilstm": "Bidirectional"}
    for name, cell in cells.items():
        builder = MODELS.get(name)
        assert type(builder) is Recurrent and builder.family == "recurrent"
        model = builder.build(RecurrentConfig(units=3, layers=2), data)
        assert model.name == name
        assert [type(model.get_layer(f"rnn{i}")).__name__ for i in (1, 2)] == [cell, cell]
