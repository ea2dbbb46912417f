"""What the splits hold, said in the console and in report.json's ``dataset.split_report``:
examples and label counts per split, the duplicates the split found (see
:mod:`edgekit.data.duplicates`), and a warning for every class the held-out split has fewer
than :data:`MIN_HELDOUT_PER_CLASS` examples of (per-class figures of the proofs mean little
below that: one example moves a 30-example recall by more than 3 points)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.data import Dataset, Split

MIN_HELDOUT_PER_CLASS = 30


def class_names(data: Dataset) -> list[str] | None:
    names = data.extra.get("label_names") or data.extra.get("class_names")
    return [str(n) for n in names] if isinstance(names, (list, tuple)) else None


def label_counts(split: Split, names: list[str] | None) -> dict[str, int] | None:
    """``{label name: examples}`` (every named class, zeros included), or None for
    non-class targets."""
    y = np.asarray(split.y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return None
    found = dict(zip(*np.unique(y, return_counts=True)))
    ids = range(len(names)) if names else sorted(int(k) for k in found)
    return {(names[i] if names and i < len(names) else str(i)): int(found.get(i, 0)) for i in ids}


def describe(data: Dataset, heldout: Split) -> dict[str, Any]:
    """The split report; ``heldout`` is the held-out split the proofs run on."""
    names = class_names(data) if data.task == "classification" else None
    counts = {"train": label_counts(data.train, names), "val": label_counts(data.val, names),
              "test": label_counts(heldout, names)}
    warnings = []
    if data.task == "classification" and counts["test"]:
        for label, n in counts["test"].items():
            if n < MIN_HELDOUT_PER_CLASS:
                warnings.append(f"the held-out split has {n} example{'s' * (n != 1)} of class "
                                f"'{label}' (fewer than {MIN_HELDOUT_PER_CLASS}): its per-class "
                                "figures mean little; add examples or raise data.test_fraction")
    dup = data.extra.get("split")
    out: dict[str, Any] = {"examples": {"train": len(data.train), "val": len(data.val),
                                        "test": len(heldout)},
                           "label_counts": counts if counts["train"] is not None else None,
                           "duplicates": dup if isinstance(dup, dict) else None,
                           "warnings": warnings}
    return out


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items())


def console_lines(report: dict[str, Any]) -> list[str]:
    """The split report in a few lines for the console."""
    lines = []
    counts = report.get("label_counts")
    if counts:
        lines.append("labels: " + "; ".join(f"{split} {_counts(c)}" for split, c in counts.items()
                                             if c is not None))
    dup = report.get("duplicates")
    if dup:
        conflict = (f", {dup['conflicting_groups']:,} of them with conflicting labels "
                    f"({dup['conflicting_examples']:,} examples)" if dup["conflicting_groups"] else "")
        dropped = dup.get("train_rows_dropped_repeating_heldout")
        if dup["dedup"]:
            what = (f"duplicates: {dup['duplicates']:,} of {dup['examples']:,} examples repeat "
                    f"another{conflict}; each kept within one split (data.dedup: false turns "
                    "this off)")
            if dropped:
                what += f"; {dropped:,} training rows repeating a held-out text dropped"
        else:
            what = (f"duplicates: {dup['duplicates']:,} of {dup['examples']:,} examples repeat "
                    f"another{conflict}; split row by row (data.dedup: false), so "
                    f"{dup['heldout_seen_in_training']:,} held-out examples are also in training")
        lines.append(what)
    lines += [f"warning: {w}" for w in report.get("warnings", [])]
    return lines
