"""Missing files give one line naming the file, exit 2, and no output folder."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli, write_recipe

RECIPE = """\
name: broken-input
family: cnn
model: {{builder: {builder}, params: {model_params}}}
data: {{dataset: {dataset}, params: {data_params}}}
train: {{epochs: 1}}
export: [{{format: tflite, precision: fp32}}]
"""


def _run(tmp_path: Path, **fields: str):
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE.format(**fields))
    out = tmp_path / "bundle"
    res = run_cli("compress", str(recipe), "--out", str(out))
    return res, out


def test_missing_data_file(tmp_path: Path) -> None:
    res, out = _run(tmp_path, builder="lenet5", model_params="{}", dataset="csv",
                    data_params="{path: /nonexistent/table.csv}")
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "/nonexistent/table.csv" in res.stderr
    assert "data file not found" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".bundle*"))


def test_missing_model_file(tmp_path: Path) -> None:
    res, out = _run(tmp_path, builder="keras_file", model_params="{path: missing.keras}",
                    dataset="sklearn_digits", data_params="{}")
    assert res.returncode == 2, res.stderr
    assert "missing.keras" in res.stderr and "model file not found" in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".bundle*"))


def test_csv_with_wrong_columns(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("a,b,target\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n" * 5)
    res, out = _run(tmp_path, builder="lenet5", model_params="{}", dataset="csv",
                    data_params=f"{{path: {table}}}")
    assert res.returncode == 2 and "no column 'label'" in res.stderr and str(table) in res.stderr
    assert not out.exists()


def test_refuses_to_overwrite_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    precious = tmp_path / "bundle"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    res, _ = _run(tmp_path, builder="lenet5", model_params="{}", dataset="sklearn_digits",
                  data_params="{image_size: 32}")
    assert res.returncode == 2 and "not an edgekit bundle" in res.stderr
    assert (precious / "thesis.tex").read_text() == "do not delete"
