"""Bad model files and bad data: one line naming the file or field, exit 2, nothing written, and
nothing from the file executed (pickles, Lambda layers)."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgekit.cli import app
from edgekit.data import Dataset, Split
from edgekit.errors import EdgekitError

TINY_BERT = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 32, "vocab_size": 50, "max_position_embeddings": 32,
             "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
             "model_type": "bert", "architectures": ["BertModel"]}


def _text_data(seq_len: int = 8) -> Dataset:
    ids = np.zeros((4, seq_len), dtype=np.int32)
    split = Split({"input_ids": ids, "attention_mask": ids + 1}, np.array([0, 1, 0, 1]))
    return Dataset("toy", "classification", split, split, split, 2, "test",
                   extra={"seq_len": seq_len})


def _bert_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY_BERT))
    return folder


def _build_bert(folder: Path, **params: object) -> object:
    from edgekit.models import MODELS

    builder = MODELS.get("bert_classifier")
    return builder.build(builder.Config(checkpoint=str(folder), **params), _text_data())


@pytest.mark.parametrize("damage", ["truncated", "empty", "png"])
def test_damaged_safetensors_names_the_file(tmp_path: Path, damage: str) -> None:
    from safetensors.numpy import save_file

    folder = _bert_folder(tmp_path)
    st = folder / "model.safetensors"
    save_file({"embeddings.word_embeddings.weight": np.ones((50, 16), np.float32)}, str(st))
    blob = st.read_bytes()
    st.write_bytes({"truncated": blob[: len(blob) - 100], "empty": b"",
                    "png": b"\x89PNG\r\n\x1a\n" + bytes(64)}[damage])
    with pytest.raises(EdgekitError) as info:
        _build_bert(folder)
    msg = str(info.value)
    assert "model.params.checkpoint" in msg and "model.safetensors" in msg
    assert "truncated or not a safetensors file" in msg and "\n" not in msg


class _Boom:
    """A pickle payload that would create a marker file if it were ever unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_bin_is_refused_without_opt_in_and_never_unpickled(tmp_path: Path) -> None:
    folder = _bert_folder(tmp_path)
    marker = tmp_path / "pwned"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Boom(marker)}))
    with pytest.raises(EdgekitError) as info:
        _build_bert(folder)
    assert "pickle" in str(info.value) and "allow_pickle" in str(info.value)
    assert not marker.exists()


def test_keras_lambda_layer_is_refused_and_not_run(tmp_path: Path) -> None:
    from edgekit import _tf
    from edgekit.models import MODELS

    keras = _tf.keras()
    marker = tmp_path / "pwned"
    inp = keras.Input(shape=(4,), name="features")
    out = keras.layers.Dense(2)(keras.layers.Lambda(lambda x: x * 2.0)(inp))
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    builder = MODELS.get("keras_file")
    data = Dataset("toy", "classification", *(Split({"features": np.zeros((2, 4), np.float32)},
                                                    np.array([0, 1])),) * 3, 2, "test")
    with pytest.raises(EdgekitError) as info:
        builder.build(builder.Config(path=str(path)), data)
    assert str(path) in str(info.value) and "Lambda" in str(info.value)
    assert not marker.exists()


def _csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


RECIPE = """\
name: bad-data
family: {family}
model: {{builder: {builder}, params: {model_params}}}
data: {{dataset: csv, params: {{path: {csv}}}}}
train: {{epochs: 1}}
export: [{{format: onnx, precision: fp32}}]
"""


def _compress(tmp_path: Path, csv_path: Path, builder: str = "keras_file", family: str = "cnn",
              model_params: str = "{}"):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(csv=csv_path, builder=builder, family=family,
                                    model_params=model_params))
    out = tmp_path / "bundle"
    res = CliRunner().invoke(app, ["compress", str(recipe), "--out", str(out)])
    return res, out


def _assert_user_error(res, out: Path, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output  # progress lines aside
    for n in needles:
        assert n in errors[0], res.output
    assert not out.exists() and not list(out.parent.glob(".bundle*"))


def _keras_file(tmp_path: Path, outputs: int) -> Path:
    from edgekit import _tf

    keras = _tf.keras()
    inp = keras.Input(shape=(2,), name="features")
    path = tmp_path / f"m{outputs}.keras"
    keras.Model(inp, keras.layers.Dense(outputs, activation="softmax")(inp)).save(path)
    return path


def test_data_with_labels_the_model_lacks(tmp_path: Path) -> None:
    rows = [[i % 7, (i * 3) % 5, i % 4] for i in range(80)]
    data = _csv(tmp_path / "t.csv", ["a", "b", "label"], rows)
    model = _keras_file(tmp_path, outputs=2)
    res, out = _compress(tmp_path, data, builder="keras_file", family="cnn",
                         model_params=f"{{path: {model}}}")
    _assert_user_error(res, out, str(model), "2 outputs", "labels 0..3")


def test_data_file_in_a_wrong_encoding(tmp_path: Path) -> None:
    data = _csv(tmp_path / "t.csv", ["größe", "label"], [[1, 0], [2, 1]] * 10, encoding="utf-16")
    res, out = _compress(tmp_path, data, builder="keras_file",
                         model_params=f"{{path: {tmp_path / 'x.keras'}}}")
    _assert_user_error(res, out, "t.csv", "not UTF-8")


def test_too_few_rows_for_the_splits(tmp_path: Path) -> None:
    data = _csv(tmp_path / "t.csv", ["a", "label"], [[1, 0], [2, 1], [3, 2]])
    res, out = _compress(tmp_path, data, builder="keras_file",
                         model_params=f"{{path: {tmp_path / 'x.keras'}}}")
    _assert_user_error(res, out, "data:", "cannot split 3 examples")


def test_header_only_csv_is_an_empty_split(tmp_path: Path) -> None:
    data = _csv(tmp_path / "t.csv", ["a", "label"], [])
    res, out = _compress(tmp_path, data, builder="keras_file",
                         model_params=f"{{path: {tmp_path / 'x.keras'}}}")
    _assert_user_error(res, out, "t.csv", "no data rows")
