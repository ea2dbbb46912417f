"""KV-cache artifacts for a GPT: the prefill and one-token decode graphs of
:mod:`edgekit.models._gpt_cache`, written as ONNX (tf2onnx) and TFLite, each beside a
``generation.json`` manifest the device loop (:mod:`edgekit.device.generate`) reads.

Not a plug-in exporter: an exporter writes one graph per (format, precision) for the pipeline's
single-graph proofs; here every (format, precision) is a *pair* of graphs that only make sense
together. Precisions: ``fp32``, ``dynamic`` (int8 weights, float activations: the caches
stay float, which the decode step reads and writes every token) and, for TFLite, ``fp16``
(float16 weights). OpenVINO reads the ONNX pair.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit import _tf
from edgekit.atomic import write_bytes
from edgekit.errors import EdgekitError
from edgekit.exporters.onnx import OPSET, quantize_dynamic_int8
from edgekit.quiet import native_stderr

SUFFIX = {"onnx": ".onnx", "tflite": ".tflite"}
PRECISIONS = ("fp32", "fp16", "dynamic")
FORMAT_PRECISIONS = {"onnx": ("fp32", "dynamic"), "tflite": PRECISIONS}
MANIFEST = "generation.json"


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


def write_cached_graphs(model: Any, folder: Path, fmt: str, precision: str) -> dict[str, Any]:
    """Write ``prefill`` and ``decode`` of ``model`` as ``fmt`` at ``precision`` into
    ``folder`` (created), with the manifest; return the manifest."""
    from edgekit.models._gpt_cache import DECODE_INPUTS, OUTPUTS, PREFILL_INPUTS, cached_functions

    if precision not in FORMAT_PRECISIONS.get(fmt, ()):
        raise EdgekitError(f"no KV-cache export for {fmt} {precision}",
                           fix="use " + "; ".join(f"{f} at {', '.join(p)}"
                                                  for f, p in FORMAT_PRECISIONS.items()))
    prefill, decode, shape = cached_functions(model)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for role, fn in (("prefill", prefill), ("decode", decode)):
        dest = folder / f"{role}{SUFFIX[fmt]}"
        try:
            if fmt == "tflite":
                write_bytes(dest, _tflite(fn, model, precision))
            else:
                tmp = dest.with_name(f".{dest.name}.fp32")
                _onnx(fn, tmp, OUTPUTS)
                if precision == "dynamic":
                    quantize_dynamic_int8(tmp, dest)
                    tmp.unlink()
                else:
                    tmp.replace(dest)
        except EdgekitError:
            raise
        except Exception as exc:
            raise EdgekitError(f"KV-cache {role} export to {fmt} failed: "
                               f"{str(exc).splitlines()[0]}", where=dest.name,
                               fix="see the support table in README.md") from exc
        files[role] = dest.name
    manifest = {"format": fmt, "precision": precision, "files": files,
                "inputs": {"prefill": list(PREFILL_INPUTS), "decode": list(DECODE_INPUTS)},
                "outputs": list(OUTPUTS), **shape.to_json()}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
