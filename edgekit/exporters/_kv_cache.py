"""KV-cache artifacts for a GPT: the prefill and one-token decode graphs of
:mod:`edgekit.models._gpt_cache`, written as ONNX (tf2onnx), TFLite and OpenVINO IR (converted
from the ONNX pair), each beside a ``generation.json`` manifest the device loop
(:mod:`edgekit.device.generate`) reads.

Not a plug-in exporter: an exporter writes one graph per (format, precision) for the pipeline's
single-graph proofs; here every (format, precision) is a *pair* of graphs that only make sense
together. Precisions, as the whole-sequence exporters give them:

* ``fp32``;
* ``dynamic`` (ONNX, TFLite): int8 weights, float activations; the caches stay float, which
  the decode step reads and writes every token;
* ``fp16``: TFLite float16 weights; ONNX float16 weights and compute with float32 inputs and
  outputs (so the caches a device hands back stay float32; for GPUs, slow on ONNX Runtime's
  CPU EP: :mod:`edgekit.exporters._onnx_fp16`); OpenVINO weights compressed to float16;
* ``int8`` (ONNX, OpenVINO): static QDQ, activation ranges calibrated on what each graph sees
  on a device (:func:`~edgekit.models._gpt_cache.calibration_feeds`: padded prompts, and
  decode steps with real caches). It quantizes the attention softmax, LayerNorms and the
  cache rows too, which a next-token arg-max is sensitive to: written when a recipe asks,
  judged (not gated) by the generation check. OpenVINO imports the QDQ pair as int8, with its
  embedding tables stored as int8 rows as the OpenVINO exporter does.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import _tf
from edgekit.atomic import write_bytes
from edgekit.errors import EdgekitError
from edgekit.exporters._onnx_fp16 import convert_to_fp16
from edgekit.exporters.onnx import (OPSET, prepare_for_static, quantize_dynamic_int8,
                                    quantize_static_qdq)
from edgekit.quiet import native_stderr

SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "openvino": ".xml"}
FORMAT_PRECISIONS = {"onnx": ("fp32", "fp16", "int8", "dynamic"),
                     "tflite": ("fp32", "fp16", "dynamic"),
                     "openvino": ("fp32", "fp16", "int8")}
MANIFEST = "generation.json"
#: Feeds = {"prefill": [feed, ...], "decode": [feed, ...]} for the int8 calibration.
Feeds = dict[str, list[dict[str, np.ndarray]]]


def _onnx(fn: Any, dest: Path, outputs: tuple[str, ...]) -> None:
    """tf2onnx names outputs after graph tensors ('Identity:0'); rename them to the dict keys
    the function returns (flattened in sorted order) so the device can feed them back."""
    import onnx
    import tf2onnx

    with native_stderr():
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature,
                                                 opset=OPSET)
    renames = {out.name: new for out, new in zip(proto.graph.output, outputs)}
    for node in proto.graph.node:
        node.output[:] = [renames.get(n, n) for n in node.output]
    for out in proto.graph.output:
        out.name = renames[out.name]
    for inp in proto.graph.input:  # 'input_ids:0' -> 'input_ids'
        old = inp.name
        inp.name = old.split(":")[0]
        for node in proto.graph.node:
            node.input[:] = [inp.name if n == old else n for n in node.input]
    onnx.save(proto, str(dest))


def _tflite(fn: Any, model: Any, precision: str) -> bytes:
    tf = _tf.tf()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()],
                                                                model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    with native_stderr():
        return converter.convert()


def _tflite_at(fn: Any, model: Any, dest: Path, precision: str,
               feeds: list[dict[str, np.ndarray]]) -> None:
    """One graph as TFLite (its converter quantizes without calibration feeds here)."""
    write_bytes(dest, _tflite(fn, model, precision))


def _onnx_at(fn: Any, model: Any, dest: Path, precision: str,
             feeds: list[dict[str, np.ndarray]]) -> None:
    """One graph as ONNX at ``precision``, written to ``dest`` (the work in a temporary folder
    beside it: the quantizer writes files next to its input)."""
    from edgekit.models._gpt_cache import OUTPUTS

    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".tmp-") as tmpdir:
        graph = Path(tmpdir) / "fp32.onnx"
        _onnx(fn, graph, OUTPUTS)
        out = Path(tmpdir) / "out.onnx"
        if precision == "dynamic":
            quantize_dynamic_int8(graph, out)
        elif precision == "fp16":
            convert_to_fp16(graph, out)
        elif precision == "int8":
            prepared = Path(tmpdir) / "prepared.onnx"
            prepare_for_static(graph, prepared)
            quantize_static_qdq(prepared, out, feeds)
        else:
            out = graph
        out.replace(dest)


def _openvino_at(fn: Any, model: Any, dest: Path, precision: str,
                 feeds: list[dict[str, np.ndarray]]) -> None:
    """One graph as OpenVINO IR (``dest`` .xml + .bin), converted from its ONNX (the QDQ one
    for int8, whose embedding tables then become int8 rows as the OpenVINO exporter stores
    them; fp16: weights compressed to float16 on saving)."""
    import openvino as ov

    from edgekit.exporters._onnx_weights import quantize_lookup_tables

    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".tmp-") as tmpdir:
        onnx_path = Path(tmpdir) / "graph.onnx"
        _onnx_at(fn, model, onnx_path, "int8" if precision == "int8" else "fp32", feeds)
        if precision == "int8":
            quantize_lookup_tables(onnx_path, onnx_path)
        stage = Path(tmpdir) / dest.name
        ov.save_model(ov.convert_model(str(onnx_path)), str(stage),
                      compress_to_fp16=precision == "fp16")
        stage.with_suffix(".bin").replace(dest.with_suffix(".bin"))  # .bin first: the .xml
        stage.replace(dest)                                          # marks the graph present


#: format -> the writer of one graph of the pair: (tf.function, model, dest, precision, feeds)
_WRITERS: dict[str, Callable[[Any, Any, Path, str, list[dict[str, np.ndarray]]], None]] = {
    "tflite": _tflite_at, "onnx": _onnx_at, "openvino": _openvino_at}


def write_cached_graphs(model: Any, folder: Path, fmt: str, precision: str,
                        calibration: np.ndarray | None = None) -> dict[str, Any]:
    """Write ``prefill`` and ``decode`` of ``model`` as ``fmt`` at ``precision`` into
    ``folder`` (created), with the manifest; return the manifest. ``calibration``: token
    windows ``(n, T)`` (training data) for ``int8``'s activation ranges."""
    from edgekit.models._gpt_cache import (DECODE_INPUTS, OUTPUTS, PREFILL_INPUTS,
                                           cached_functions, calibration_feeds)

    if precision not in FORMAT_PRECISIONS.get(fmt, ()):
        raise EdgekitError(f"no KV-cache export for {fmt} {precision}",
                           fix="use " + "; ".join(f"{f} at {', '.join(p)}"
                                                  for f, p in FORMAT_PRECISIONS.items()))
    if precision == "int8" and calibration is None:
        raise EdgekitError(f"the {fmt} int8 KV-cache pair needs calibration windows",
                           where="write_cached_graphs", fix="pass calibration= training windows")
    prefill, decode, shape = cached_functions(model)
    feeds: Feeds = calibration_feeds(model, calibration) if precision == "int8" else \
        {"prefill": [], "decode": []}
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for role, fn in (("prefill", prefill), ("decode", decode)):
        dest = folder / f"{role}{SUFFIX[fmt]}"
        try:
            _WRITERS[fmt](fn, model, dest, precision, feeds[role])
        except EdgekitError:
            raise
        except Exception as exc:
            raise EdgekitError(f"KV-cache {role} export to {fmt} {precision} failed: "
                               f"{str(exc).splitlines()[0]}", where=dest.name,
                               fix="see the support table in README.md") from exc
        files[role] = dest.name
    manifest = {"format": fmt, "precision": precision, "files": files,
                "inputs": {"prefill": list(PREFILL_INPUTS), "decode": list(DECODE_INPUTS)},
                "outputs": list(OUTPUTS), **shape.to_json()}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
