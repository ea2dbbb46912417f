"""What the proofs of exported graph *pairs* share (GPT's KV-cache prefill/decode pair, an
encoder-decoder's encoder/decoder-step pair): which pair format and runtime an export entry
proves on, which precisions are gated, and latency percentiles.

A module of its own so that :mod:`edgekit.validation.generation` (whose ``FAMILY_PROOFS``
table names every family's check) and the checks it names can both import it without a cycle.
"""

from __future__ import annotations

import numpy as np

#: export format -> the format of the pair it proves (OpenVINO reads the ONNX pair)
PAIR_FORMAT = {"onnx": "onnx", "tflite": "tflite", "openvino": "onnx"}
#: export format -> the runtime its pair is proven on
RUNTIME = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}
#: precisions whose greedy output must equal the float model's (where computed as stored)
GATED = {"fp32"}


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p90/p99 of ``seconds``, in milliseconds."""
    arr = np.asarray(seconds) * 1e3
    return {f"p{q}": round(float(np.percentile(arr, q)), 4) for q in (50, 90, 99)}
