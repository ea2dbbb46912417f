"""TFMOT-style numerical tests, written once and run against every registered exporter and
precision: convert a real small Keras model, run the file on its real runtime, compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit import _tf
from edgekit.data import Split
from edgekit.errors import EdgekitError
from edgekit.exporters import EXPORTERS
from edgekit.device.formats import FORMATS
from edgekit.device.runtimes import RUNTIMES
from edgekit.validation.prove import run_all

# How far from Keras each precision may land on these O(1) logits. A runtime may compute in
# another precision than the file stores (OpenVINO computes bf16 on CPUs with AVX512-BF16 or
# AMX), so a check uses the looser of the stored and the executed precision's tolerance.
# bf16 keeps 8 significant bits (relative step 2**-8 = 4e-3 per rounding).
ATOL = {"fp32": 1e-4, "fp16": 2e-2, "bf16": 2e-2, "dynamic": 0.15, "int8": 0.3}


def atol_for(stored: str, executed: str) -> float:
    """The tolerance for a file stored at ``stored`` that ran at ``executed`` (a runtime reports
    mixed precisions as e.g. 'int8+bf16': int8 layers, the rest in bf16)."""
    return max(ATOL[p] for p in (stored, *executed.split("+")))


@pytest.fixture(scope="module")
def small_cnn() -> tuple[object, Split]:
    keras = _tf.keras()
    _tf.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((64, 12, 12, 1), dtype=np.float32)
    inp = keras.Input((12, 12, 1), name="image")
    h = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(3)(h)
    model = keras.Model(inp, out)
    return model, Split({"image": x}, np.zeros(64, dtype=np.int64))


CASES = [(fmt, prec) for fmt in EXPORTERS.names() for prec in sorted(EXPORTERS.get(fmt).precisions)]


@pytest.mark.parametrize("fmt,precision", CASES)
def test_exported_file_matches_keras_on_its_runtime(small_cnn, tmp_path: Path, fmt: str,
                                                    precision: str) -> None:
    model, split = small_cnn
    exporter = EXPORTERS.get(fmt)
    art = exporter.export(model, precision, tmp_path / f"m{exporter.suffix}", split)
    assert all(f.is_file() and f.stat().st_size > 0 for f in art.files)
    session = RUNTIMES.get(exporter.runtime).load(art.path, threads=1)
    executed = session.executed_precision(precision)
    got = run_all(session, split)
    want = model.predict(split.x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=atol_for(precision, executed),
                               err_msg=f"stored {precision}, executed {executed}")
    assert not list(tmp_path.glob(".*")), "temporary files left next to the artifact"


def _openvino_bf16_missing() -> str | None:
    """None if OpenVINO's CPU plugin can compute bf16 here, else the instruction set it lacks."""
    import openvino as ov

    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return None
    return "this CPU has neither AVX512_BF16 nor AMX-BF16, so OpenVINO has no bf16 path here"


@pytest.mark.parametrize("stored", ["fp32", "int8"])
def test_openvino_computes_fp32_when_asked(small_cnn, tmp_path: Path, stored: str) -> None:
    """fp32 is a request (INFERENCE_PRECISION_HINT), never an assumption: on a BF16-capable CPU
    the plugin's default is bf16, and the fp32 tolerance only holds when fp32 was asked for."""
    pytest.importorskip("openvino")
    model, split = small_cnn
    art = EXPORTERS.get("openvino").export(model, stored, tmp_path / "m.xml", split)
    session = RUNTIMES.get("openvino").load(art.path, threads=1, precision_hint="f32")
    assert session.executed_precision(stored) == stored
    np.testing.assert_allclose(run_all(session, split), model.predict(split.x, verbose=0),
                               atol=ATOL[stored])


@pytest.mark.parametrize("stored", ["fp32", "int8"])
def test_openvino_bf16_path_on_purpose(small_cnn, tmp_path: Path, stored: str) -> None:
    """Force OpenVINO's bf16 path where the CPU has one, so the precision most AVX-512 servers
    compute by default is tested on purpose, with the bf16 tolerance; and check that bf16
    really ran: its outputs must differ from the fp32 ones by bf16-sized rounding."""
    pytest.importorskip("openvino")
    missing = _openvino_bf16_missing()
    if missing:
        pytest.skip(missing)
    model, split = small_cnn
    art = EXPORTERS.get("openvino").export(model, stored, tmp_path / "m.xml", split)
    runtime = RUNTIMES.get("openvino")
    bf16 = runtime.load(art.path, threads=1, precision_hint="bf16")
    executed = bf16.executed_precision(stored)
    assert executed == ("bf16" if stored == "fp32" else f"{stored}+bf16")
    got = run_all(bf16, split)
    np.testing.assert_allclose(got, model.predict(split.x, verbose=0),
                               atol=atol_for(stored, executed))
    fp32 = run_all(runtime.load(art.path, threads=1, precision_hint="f32"), split)
    assert np.abs(got - fp32).max() > 1e-5, "the bf16 hint was ignored: outputs equal fp32's"


@pytest.mark.parametrize("runtime_name", ["litert", "onnxruntime", "openvino"])
def test_corrupt_artifact_is_our_error(tmp_path: Path, runtime_name: str) -> None:
    from edgekit.recipe.schema import Budgets
    from edgekit.tasks import TASKS
    from edgekit.validation.prove import ProofSettings, prove

    runtime = RUNTIMES.get(runtime_name)
    suffix = next(f.suffix for f in FORMATS.values() if f.runtime == runtime_name)
    bad = tmp_path / f"model{suffix}"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    split = Split({"image": np.zeros((2, 4), np.float32)}, np.zeros(2, np.int64))
    with pytest.raises(EdgekitError) as info:
        prove(bad, "fp32", runtime, split, task=TASKS.get("classification"), reference_metric=1.0,
              reference_out=np.zeros((2, 2)), source_out=np.zeros((2, 2)), budgets=Budgets(),
              conversion_atol=None, size_bytes=72, settings=ProofSettings(1, 0, 1, "cpu"))
    assert "could not load" in str(info.value) and str(bad) in str(info.value)


def test_onnx_dynamic_per_channel_keeps_small_output_columns(tmp_path: Path) -> None:
    """One output column 1000x larger than the others: a per-tensor int8 scale rounds the small
    columns' weights to zero; per-channel scales keep them. Mean error, since on
    AVX2 without VNNI ONNX Runtime's u8s8 kernel saturates a few int16 pair sums either way."""
    from edgekit.exporters.onnx import ONNXOptions

    keras = _tf.keras()
    rng = np.random.default_rng(1)
    inp = keras.Input((32,), name="features")
    dense = keras.layers.Dense(4)
    model = keras.Model(inp, dense(inp))
    kernel = rng.standard_normal((32, 4)).astype(np.float32)
    kernel[:, 0] *= 1000.0
    dense.set_weights([kernel, np.zeros(4, np.float32)])
    split = Split({"features": rng.standard_normal((64, 32)).astype(np.float32)},
                  np.zeros(64, dtype=np.int64))
    want = model.predict(split.x, verbose=0)[:, 1:]
    exporter = EXPORTERS.get("onnx")
    errors = {}
    for per_channel in (True, False):
        art = exporter.export(model, "dynamic", tmp_path / f"pc{per_channel}.onnx", split,
                              ONNXOptions(per_channel=per_channel, reduce_range=True))
        assert ("per-channel" if per_channel else "per-tensor") in art.notes["quantization"]
        got = run_all(RUNTIMES.get("onnxruntime").load(art.path, threads=1), split)[:, 1:]
        errors[per_channel] = float(np.abs(got - want).mean() / np.abs(want).mean())
    assert errors[True] < 0.1 and errors[False] > 0.5, errors


def _x86_without_vnni() -> bool:
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return "avx2" in flags and "vnni" not in flags


def test_onnx_dynamic_7bit_weights_do_not_saturate(tmp_path: Path) -> None:
    """Inputs near the top of u8 times weights near the top of s8: on x86 without VNNI ONNX
    Runtime adds pairs of such products in saturating int16 (255*127*2 > 32767), which 7-bit
    weights (``reduce_range``) cannot reach (255*63*2 < 32767)."""
    from edgekit.exporters.onnx import ONNXOptions

    keras = _tf.keras()
    rng = np.random.default_rng(2)
    inp = keras.Input((64,), name="features")
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, dense(inp))
    dense.set_weights([rng.uniform(0.9, 1.0, (64, 2)).astype(np.float32), np.zeros(2, np.float32)])
    x = rng.uniform(0.9, 1.0, (32, 64)).astype(np.float32)
    x[:, 0] = 0.0  # the range starts at 0, so the rest quantize near 255
    split = Split({"features": x}, np.zeros(32, dtype=np.int64))
    want = model.predict(x, verbose=0)
    errors = {}
    for reduce_range in (True, False):
        art = EXPORTERS.get("onnx").export(model, "dynamic", tmp_path / f"rr{reduce_range}.onnx",
                                           split, ONNXOptions(reduce_range=reduce_range))
        got = run_all(RUNTIMES.get("onnxruntime").load(art.path, threads=1), split)
        errors[reduce_range] = float(np.abs(got - want).max() / np.abs(want).max())
    assert errors[True] < 0.02, errors
    if _x86_without_vnni():  # the case the option exists for: 8 bits must show the saturation
        assert errors[False] > 0.1, errors
