"""Is an int8 artifact really small? Its weights file against its fp32 sibling's.

Why: int8 weights are a quarter of float32 ones, so an int8 file should be about a quarter of
its fp32 sibling (some float parts stay: biases, norms, scales). OpenVINO's int8 IR of the
SST-2 TinyBERT student was 26 MB against 29 MB for fp32, because the quantizer left its
embedding tables float, and its proof said "pass" without a word. A size is not an accuracy
budget, so this is a warning on the artifact, not a failed check.

The weights file is compared (an artifact's largest file: OpenVINO's ``.bin``; the only file
for TFLite and ONNX), not the total: an IR's ``.xml`` holds the graph's topology, which int8
makes longer (FakeQuantize nodes) whatever the weights weigh. On LeNet-5 (62k parameters) the
int8 ``.xml`` is 53 KB beside a 64 KB ``.bin`` (26% of fp32's), so the total would read 45%
though every weight is int8; on the TinyBERT student the ``.xml`` is under 1% of the total.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_INT8_RATIO = 0.35  # int8 weights are 25%; float biases/norms/scales leave some room
_INT8 = ("int8", "dynamic")


def weights_bytes(bundle: Path, artifact: dict[str, Any]) -> int:
    """The size of the artifact's largest file (its weights)."""
    return max((bundle / f).stat().st_size for f in artifact.get("files", [artifact["file"]]))


def flag_int8_sizes(artifacts: list[dict[str, Any]], bundle: Path) -> list[str]:
    """Give every int8 artifact with an fp32 sibling (same format, same model) its
    ``weights_vs_fp32`` ratio, and a warning sentence when it is over :data:`MAX_INT8_RATIO`;
    return the sentences, each naming its file."""
    said: list[str] = []
    fp32 = {(a["format"], a["model"]): a for a in artifacts
            if a.get("stored_precision", a["precision"]) == "fp32"}
    for a in artifacts:
        sibling = fp32.get((a["format"], a["model"]))
        if a.get("stored_precision", a["precision"]) not in _INT8 or not sibling:
            continue
        ratio = weights_bytes(bundle, a) / weights_bytes(bundle, sibling)
        a["weights_vs_fp32"] = round(ratio, 4)
        if ratio > MAX_INT8_RATIO:
            sentence = (f"int8 weights are {ratio:.0%} of those of its fp32 sibling "
                        f"{sibling['file']} (expected at most {MAX_INT8_RATIO:.0%}): some "
                        "weights are stored as floats")
            a.setdefault("warnings", []).append(sentence)
            said.append(f"{a['file']}: {sentence}")
    return said
