"""Held-out data is stored one .npy per array and read a batch at a time: mapped, not loaded,
by the runner and by `edgekit profile`; old bundles' heldout.npz still reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.device import heldout
from edgekit.device.runtimes import RUNTIMES


def _small(folder: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {"x__image": rng.normal(size=(10, 4, 4)).astype(np.float32),
              "y": np.arange(10) % 3, "reference": rng.normal(size=(10, 3)).astype(np.float32),
              "texts": np.asarray(["a review", "another, longer review"] * 5, dtype=str)}
    heldout.write(folder, arrays)
    return arrays


def test_folder_arrays_are_mapped_and_round_trip(tmp_path: Path) -> None:
    arrays = _small(tmp_path / "heldout")
    held = heldout.open_arrays(tmp_path / "heldout")
    assert sorted(held) == sorted(arrays)
    for name, arr in arrays.items():
        assert isinstance(held[name], np.memmap), name  # mapped, not read into memory
        np.testing.assert_array_equal(held[name], arr)
    assert list(held.inputs()) == ["image"]


def test_legacy_npz_still_reads(tmp_path: Path) -> None:
    arrays = _small(tmp_path / "new")
    np.savez_compressed(tmp_path / "old.npz", **arrays)
    held = heldout.open_arrays(tmp_path / "old.npz")
    for name, arr in arrays.items():
        np.testing.assert_array_equal(held[name], arr)
    (tmp_path / "b" / "data").mkdir(parents=True)
    (tmp_path / "old.npz").rename(tmp_path / "b" / heldout.LEGACY_FILE)
    assert heldout.find(tmp_path / "b") == tmp_path / "b" / heldout.LEGACY_FILE


def test_copy_inputs_hands_over_only_the_inputs_asked_for(tmp_path: Path) -> None:
    arrays = _small(tmp_path / "heldout")
    assert heldout.copy_inputs(tmp_path / "heldout", tmp_path / "staged", limit=4) == 4
    staged = heldout.open_arrays(tmp_path / "staged")
    assert list(staged) == ["x__image"]  # no labels, reference outputs or texts
    np.testing.assert_array_equal(staged["x__image"], arrays["x__image"][:4])


def _onnx_mean(path: Path, width: int) -> None:
    """A real one-node ONNX model: per-row mean of a (batch, rows, width) input."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[2], keepdims=0)], "mean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, width, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, width])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def test_profile_streams_a_held_out_set_larger_than_what_it_feeds(tmp_path: Path) -> None:
    """A 512 MiB held-out input (a sparse file: cheap to make): profiling feeds 64 batches,
    and the runner's peak memory shows it never held the set."""
    if RUNTIMES.get("onnxruntime").missing():
        pytest.skip(RUNTIMES.get("onnxruntime").missing())
    from edgekit.validation.profile import profile

    width, n = 256, 2048  # 2048 x 256 x 256 float32 = 512 MiB
    data = tmp_path / "bundle" / heldout.FOLDER
    data.mkdir(parents=True)
    x = np.lib.format.open_memmap(data / "x__x.npy", mode="w+", dtype=np.float32,
                                  shape=(n, width, width))
    x[:64] = 1.0
    x.flush()
    del x
    heldout.write(data, {"y": np.zeros(n, np.int64), "reference": np.zeros((n, width), np.float32)})
    artifact = tmp_path / "bundle" / "artifacts" / "mean.onnx"
    artifact.parent.mkdir()
    _onnx_mean(artifact, width)
    out = profile(artifact, "cpu", runs=3, warmup=1, runtime="onnxruntime")
    assert out["measured"]["latency_ms"]["runs"] == 3
    assert out["measured"]["peak_rss_mb"] < 400, out["measured"]  # the set alone is 512 MiB
