"""Broken recipes fail fast with one line naming the file and the field, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import LENET_MINIMAL, run_cli, write_recipe
from edgekit.errors import EdgekitError
from edgekit.recipe import load_recipe
from edgekit.recipe.loader import recipe_to_yaml

BROKEN = [
    # (what to change in the minimal recipe, expected field in the message)
    ("train: {epochs: 1, epoks: 3}", "train.epoks"),
    ("train: {epochs: many}", "train.epochs"),
    ("train: {epochs: 1, strategy: teleport}", "train.strategy"),
    ("compression: [{stage: prune, target_sparsity: 1.0}]", "compression[0].target_sparsity"),
    ("compression: [{stage: prune, target_sparsity: -0.1}]", "compression[0].target_sparsity"),
    ("compression: [{stage: distil_everything}]", "compression[0].stage"),
    ("model: {builder: lenet5, params: {filters: [6]}}", "model.params.filters"),
    ("model: {builder: no_such_net}", "model.builder"),
    ("export: [{format: tflite, precision: int3}]", "export[0].precision"),
    ("export: [{format: pdf}]", "export[0].format"),
    ("export: [{format: tflite, model: qat}]", "export[0].model"),
    # two entries that would write the same file: the second is named, with the fix
    ("export: [{format: onnx, precision: fp32}, {format: onnx, precision: fp32, options: {}}]",
     "export[1]"),
    ("export: [{format: onnx, name: ../escape}]", "export[0].name"),
    ("validation: {device: toaster}", "validation.device"),
]


def _patched(change: str) -> str:
    base = yaml.safe_load(LENET_MINIMAL)
    base.update(yaml.safe_load(change))
    return yaml.safe_dump(base)


@pytest.mark.parametrize("change,field", BROKEN)
def test_library_error_names_field_and_file(tmp_path: Path, change: str, field: str) -> None:
    path = write_recipe(tmp_path / "broken.yaml", _patched(change))
    with pytest.raises(EdgekitError) as info:
        load_recipe(str(path))
    msg = str(info.value)
    assert field in msg and str(path) in msg, msg
    assert "\n" not in msg


def test_cli_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "broken.yaml", _patched("train: {epochs: 0}"))
    res = run_cli("compress", str(path), "--out", str(tmp_path / "out"))
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "train.epochs" in lines[0] and "broken.yaml" in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_invalid_yaml_syntax_names_line(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "bad.yaml", "name: x\nmodel: [unclosed\n")
    with pytest.raises(EdgekitError, match=r"bad.yaml: invalid YAML at line \d"):
        load_recipe(str(path))


def test_unknown_recipe_name_points_to_the_listing() -> None:
    with pytest.raises(EdgekitError, match="edgekit recipes"):
        load_recipe("no-such-recipe")


def test_dry_run_output_reproduces_the_run(tmp_path: Path) -> None:
    """--dry-run prints the resolved recipe; loading that file gives the same recipe."""
    res = run_cli("compress", "lenet5", "--quick", "--set", "train.seed=7", "--dry-run")
    assert res.returncode == 0, res.stderr
    dumped = write_recipe(tmp_path / "resolved.yaml", res.stdout)
    again = load_recipe(str(dumped))
    original = load_recipe("lenet5", quick=True, overrides={"train.seed": 7})
    assert recipe_to_yaml(again) == recipe_to_yaml(original)
    assert again.train.seed == 7 and again.train.epochs == original.train.epochs
    assert again.compression[0].params["target_sparsity"] == 0.5


def test_bad_set_override_is_a_user_error() -> None:
    res = run_cli("compress", "lenet5", "--set", "train.epochs", "--dry-run")
    assert res.returncode == 2 and "--set" in res.stderr


def test_named_export_entries_may_share_format_model_and_precision(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "ok.yaml", _patched(
        "export: [{format: onnx, precision: fp32}, {format: onnx, precision: fp32, name: other}]"))
    recipe = load_recipe(str(path))
    assert [e.stem(recipe.name) for e in recipe.export] == [f"{recipe.name}-final-fp32", "other"]
