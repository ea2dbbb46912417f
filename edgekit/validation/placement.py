"""What a run's record says about how the engine ran the model: the execution-provider
placement (ONNX Runtime on an accelerator) and whether CUDA graphs were on, with the one-line
warning that ``validate``, ``profile`` and report.html print when compute fell back to the CPU.

The runner measures these on the device (:meth:`edgekit.device.runtimes.Session.execution_details`);
this module only picks them out of its JSON and words them.
"""

from __future__ import annotations

from typing import Any

_KEYS = ("placement", "placement_error", "cuda_graphs")


def execution_record(info: dict[str, Any]) -> dict[str, Any]:
    """The runner's execution details to keep in a validation or profile entry, plus
    ``warnings`` (sentences) when compute nodes fell back to the CPU."""
    kept = {k: info[k] for k in _KEYS if k in info}
    warning = (kept.get("placement") or {}).get("warning")
    return kept | ({"warnings": [warning]} if warning else {})


def warnings_of(entry: dict[str, Any]) -> list[str]:
    """Every warning sentence of a validation/profile entry (none: [])."""
    return list(entry.get("warnings") or [])


def device_note(execution_providers: tuple[str, ...] | list[str], cuda_graphs: bool) -> str | None:
    """The sentence ``edgekit targets`` prints under a device with an accelerator EP."""
    accelerators = [p for p in execution_providers if p != "CPUExecutionProvider"]
    if not accelerators:
        return None
    graphs = "; CUDA graphs + I/O binding on (device profile's cuda_graphs)" if cuda_graphs else ""
    return ("validate/profile record which execution provider ran each ONNX node and warn when "
            "compute falls back to the CPU (dynamic-int8 ONNX's integer ops did on an H100 with "
            f"onnxruntime-gpu 1.31: use fp32/fp16 ONNX on GPUs){graphs}")
