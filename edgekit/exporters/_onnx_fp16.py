"""ONNX ``fp16``: float16 weights and compute, float32 inputs and outputs.

Why: a desktop or Jetson GPU computes float16 on its tensor cores; on an H100 the TinyBERT
student's fp16 conversion ran at 0.18 ms at batch 1 with CUDA graphs against 0.25 ms for fp32,
max |Δ| against the CPU's fp32 logits 1.5e-4 (batch 1) and 3e-3 (batch 64). The callers keep
feeding float32 and reading float32 (``keep_io_types``), so an fp16 file drops in for the fp32
one.

The converter is ONNX Runtime's own (``onnxruntime.transformers.float16``), maintained with
its contrib ops (``Attention``, ``SkipLayerNormalization``, ``BiasGelu`` ...), so fused BERT
graphs convert too. LayerNorm and Softmax stay float16 by default: ONNX Runtime's CUDA kernels
for them (and the fused ``SkipLayerNormalization``/``Attention``) accumulate in float32
internally. ``keep_fp32`` names op types to keep entirely in float32 where a model needs more
(a runtime without float32 accumulation, very long sequences).

On ONNX Runtime's CPU EP the file is valid but not fast: ops with no float16 CPU kernel
(most of them on x86) get Casts back to float32 inserted around them, so it runs slower than
fp32 there; the export notes say so.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

CPU_NOTE = ("for GPUs (tensor cores): ONNX Runtime's CPU EP runs it correctly but not fast "
            "(it casts ops without float16 CPU kernels back to float32)")


def convert_to_fp16(src: Path, dest: Path, keep_fp32: list[str] | None = None) -> dict[str, Any]:
    """Write ``src`` with float16 weights and compute and float32 I/O to ``dest``; return the
    notes for the artifact."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(src))
    with warnings.catch_warnings():  # "values out of float16 range were clamped": counted below
        warnings.simplefilter("ignore")
        converted = convert_float_to_float16(
            model, keep_io_types=True, op_block_list=[*DEFAULT_OP_BLOCK_LIST, *(keep_fp32 or [])])
    onnx.save(converted, str(dest))
    return {"fp16": "float16 weights and compute, float32 inputs/outputs "
                    "(onnxruntime.transformers.float16, keep_io_types)",
            "fp16_kept_fp32_ops": sorted(keep_fp32 or []), "fp16_runtime": CPU_NOTE}
