"""Encoder + cached decoder-step artifacts for an encoder-decoder G2P model: the two graphs of
:mod:`edgekit.models._g2p_cache`, written as ONNX (tf2onnx) or TFLite beside a
``decoding.json`` manifest that the device loop (:mod:`edgekit.device.g2p`) reads.

Not a plug-in exporter, for the reason GPT's KV-cache pair is not
(:mod:`edgekit.exporters._kv_cache`, whose converters and precisions this reuses): the two
graphs only make sense together. The manifest also carries the letters and phonemes by id, so a
device needs no other file to turn a word into phonemes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.atomic import write_bytes
from edgekit.errors import EdgekitError
from edgekit.exporters._kv_cache import FORMAT_PRECISIONS, SUFFIX, _onnx, _tflite
from edgekit.exporters.onnx import quantize_dynamic_int8

MANIFEST = "decoding.json"


def _write(fn: Any, model: Any, dest: Path, fmt: str, precision: str,
           outputs: tuple[str, ...]) -> None:
    if fmt == "tflite":
        write_bytes(dest, _tflite(fn, model, precision))
        return
    tmp = dest.with_name(f".{dest.name}.fp32")
    _onnx(fn, tmp, outputs)
    if precision == "dynamic":
        quantize_dynamic_int8(tmp, dest)
        tmp.unlink()
    else:
        tmp.replace(dest)


def write_decoding_graphs(model: Any, folder: Path, fmt: str, precision: str,
                          letters: list[str], phonemes: list[str]) -> dict[str, Any]:
    """Write ``encoder`` and ``decode`` of ``model`` as ``fmt`` at ``precision`` into
    ``folder`` (created), with the manifest; return the manifest."""
    from edgekit.models._g2p_cache import (DECODE_INPUTS, DECODE_OUTPUTS, ENCODER_INPUTS,
                                           ENCODER_OUTPUTS, cached_functions, source_length)

    if precision not in FORMAT_PRECISIONS.get(fmt, ()):
        raise EdgekitError(f"no encoder/decoder-step export for {fmt} {precision}",
                           fix="use " + "; ".join(f"{f} at {', '.join(p)}"
                                                  for f, p in FORMAT_PRECISIONS.items()))
    encoder, decode, shape = cached_functions(model)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for role, fn, outputs in (("encoder", encoder, ENCODER_OUTPUTS),
                              ("decode", decode, DECODE_OUTPUTS)):
        dest = folder / f"{role}{SUFFIX[fmt]}"
        try:
            _write(fn, model, dest, fmt, precision, outputs)
        except EdgekitError:
            raise
        except Exception as exc:
            raise EdgekitError(f"{role} export to {fmt} failed: {str(exc).splitlines()[0]}",
                               where=dest.name, fix="see the support table in README.md") from exc
        files[role] = dest.name
    manifest = {"format": fmt, "precision": precision, "files": files,
                "inputs": {"encoder": list(ENCODER_INPUTS), "decode": list(DECODE_INPUTS)},
                "outputs": {"encoder": list(ENCODER_OUTPUTS), "decode": list(DECODE_OUTPUTS)},
                "max_letters": source_length(model), **shape.to_json(),
                "letters": letters, "phonemes": phonemes}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
