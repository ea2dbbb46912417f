"""Which execution provider ran each node: read from ONNX Runtime's own profiling output.

Why: ONNX Runtime assigns every node to the first provider in the session's list that has a
kernel for it, and silently gives the rest to the CPU. A dynamic-int8 BERT on the CUDA EP runs
``DynamicQuantizeLinear``, ``MatMulInteger``, ``QAttention`` and ``QEmbedLayerNormalization`` on
the CPU and copies tensors across PCIe between them: measured on an H100, 67 ms at batch 64
against 0.71 ms for the fp32 file, with every output still correct. Only the placement shows it.

The profile (``SessionOptions.enable_profiling``) is Chrome-trace JSON: one event per kernel
run with ``cat == "Node"`` and ``args.provider`` / ``args.op_name``. ONNX Runtime also keeps
small shape computations (``Shape``->``Gather``->``Unsqueeze`` on int64 scalars) on the CPU on
purpose; those are not a fallback, so nodes whose every output is a small integer tensor are
counted apart. NumPy-free and TensorFlow-free: this module ships to devices with the runner.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CPU = "CPUExecutionProvider"
# Integer outputs at most this many elements: a shape computation, not model compute.
SHAPE_ELEMENTS = 16
_INTEGER_TYPES = frozenset({"int64", "int32", "int16", "int8", "uint64", "uint32", "uint16",
                            "uint8", "bool"})


def _is_shape_computation(args: dict[str, Any]) -> bool:
    outputs = args.get("output_type_shape") or []
    if not outputs:
        return False
    for out in outputs:
        for dtype, shape in out.items():
            if dtype not in _INTEGER_TYPES or math.prod(shape or [1]) > SHAPE_ELEMENTS:
                return False
    return True


@dataclass
class Placement:
    """Kernel runs per provider and op type, from one profile."""

    # provider -> op type -> kernel runs (every run of the profiled session)
    by_provider: dict[str, dict[str, int]] = field(default_factory=dict)
    # op types run on the CPU EP for shape computations only (not a fallback)
    cpu_shape_ops: list[str] = field(default_factory=list)
    # op types that ran model compute on the CPU EP (a fallback when an accelerator was meant)
    cpu_compute_ops: list[str] = field(default_factory=list)

    def fallback(self, accelerator: str) -> list[str]:
        """The CPU compute op types, when the session meant to run on ``accelerator``; none
        when the session is a CPU session in the first place."""
        return [] if accelerator == CPU else list(self.cpu_compute_ops)

    def to_json(self, accelerator: str) -> dict[str, Any]:
        fallback = self.fallback(accelerator)
        out: dict[str, Any] = {"provider": accelerator, "by_provider": self.by_provider,
                               "cpu_shape_ops": self.cpu_shape_ops, "cpu_fallback_ops": fallback}
        if fallback:
            out["warning"] = fallback_sentence(accelerator, fallback)
        return out


def fallback_sentence(accelerator: str, ops: list[str]) -> str:
    """The one sentence a report, ``validate``, ``targets`` and ``profile`` print."""
    short = accelerator.replace("ExecutionProvider", "")
    return (f"{len(ops)} op type{'s' if len(ops) != 1 else ''} fell back from {short} to the CPU "
            f"({', '.join(ops)}): those nodes run on the CPU with copies between host and "
            f"device, so this artifact is correct but slow on this target")


def parse_profile(events: list[dict[str, Any]] | Path | str) -> Placement:
    """Placement from ONNX Runtime's profile JSON (a path, or the parsed event list)."""
    if not isinstance(events, list):
        events = json.loads(Path(events).read_text())
    counts: dict[str, Counter[str]] = {}
    cpu_compute: set[str] = set()
    cpu_shape: set[str] = set()
    for ev in events:
        if ev.get("cat") != "Node" or not str(ev.get("name", "")).endswith("_kernel_time"):
            continue
        args = ev.get("args", {})
        provider, op = args.get("provider"), args.get("op_name")
        if not provider or not op:
            continue
        counts.setdefault(provider, Counter())[op] += 1
        if provider == CPU:
            (cpu_shape if _is_shape_computation(args) else cpu_compute).add(op)
    return Placement(by_provider={p: dict(sorted(c.items())) for p, c in sorted(counts.items())},
                     cpu_shape_ops=sorted(cpu_shape - cpu_compute),
                     cpu_compute_ops=sorted(cpu_compute))


def record_placement(model: Path | str, providers: list[Any], inputs: dict[str, Any],
                     options: Any | None = None, runs: int = 1) -> Placement:
    """Run ``inputs`` through a profiled session of ``model`` and parse where each node ran.

    A session of its own, so the timed session never pays for profiling; the profile file is
    written to a temporary folder and removed."""
    import onnxruntime as ort

    opts = options or ort.SessionOptions()
    with tempfile.TemporaryDirectory(prefix="edgekit-ort-profile-") as tmp:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(str(model), opts, providers=providers)
        for _ in range(runs):
            session.run(None, inputs)
        return parse_profile(Path(session.end_profiling()))
