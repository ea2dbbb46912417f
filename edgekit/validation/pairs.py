"""What the proofs of exported graph *pairs* share (GPT's KV-cache prefill/decode pair, an
encoder-decoder's encoder/decoder-step pair): which pair format and runtime an export entry
proves on, which precisions are gated, and latency percentiles.

A module of its own so that :mod:`edgekit.validation.generation` (whose ``FAMILY_PROOFS``
table names every family's check) and the checks it names can both import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: export format -> the runtime its pair is proven on
RUNTIME = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}
#: precisions whose greedy output must equal the float model's (where computed as stored)
GATED = {"fp32"}


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p90/p99 of ``seconds``, in milliseconds."""
    arr = np.asarray(seconds) * 1e3
    return {f"p{q}": round(float(np.percentile(arr, q)), 4) for q in (50, 90, 99)}


@dataclass(frozen=True)
class PairEntry:
    """One export entry whose pair is written (once per model, format and precision) and
    proven: the folder it lives in and the runtime that proves it."""

    facts: dict[str, Any]  # format, precision and model, as the report lists the entry
    model: str
    precision: str
    folder: Path
    runtime: str


def pair_entries(exports: Iterable[Any], root: Path, pair_format: dict[str, str], kind: str,
                 write: Callable[[str, Path, str, str], None], progress: Any
                 ) -> Iterator[PairEntry | dict[str, Any]]:
    """Walk the recipe's export entries: a :class:`PairEntry` for each whose pair exists (the
    pair written by ``write(model, folder, pair format, precision)`` the first time it is
    needed), else the entry's record as the report keeps it: skipped (no pair of that
    format and precision) or failed (the pair could not be written, e.g. a QAT-wrapped
    model's layers)."""
    from edgekit.errors import EdgekitError
    from edgekit.exporters._kv_cache import FORMAT_PRECISIONS

    written: set[tuple[str, str, str]] = set()
    for exp in exports:
        fmt = pair_format.get(exp.format)
        facts = {"format": exp.format, "precision": exp.precision, "model": exp.model}
        if fmt is None or exp.precision not in FORMAT_PRECISIONS[fmt]:
            yield {**facts, "skipped": f"no {kind} pair for {exp.format} {exp.precision}"}
            continue
        folder = root / f"{exp.model}-{fmt}-{exp.precision}"
        if (exp.model, fmt, exp.precision) not in written:
            try:
                with progress.stage("export", f"{kind} pair {folder.name}"):
                    write(exp.model, folder, fmt, exp.precision)
            except (EdgekitError, ValueError) as exc:
                yield {**facts, "error": str(exc), "passed": False}
                continue
            written.add((exp.model, fmt, exp.precision))
        yield PairEntry(facts, exp.model, exp.precision, folder, RUNTIME[exp.format])


def gate(facts: dict[str, Any], precision: str) -> dict[str, Any]:
    """``facts`` with ``gated`` (stored and computed in fp32: a converted or quantized pair
    drifts and may flip near-ties, so only those must match the float model exactly) and
    ``passed`` (None where not gated)."""
    gated = precision in GATED and facts["executed_precision"] in GATED
    return facts | {"gated": gated, "passed": facts["greedy_match"] == 1.0 if gated else None}
