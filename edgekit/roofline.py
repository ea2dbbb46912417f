"""Latency estimates for targets that cannot be reached: a per-op roofline (what ``edgekit profile``
reports when it cannot measure; the run's disk and memory estimate is :mod:`edgekit.resources`).

Each op takes the longer of its compute time (FLOPs / peak FLOP/s) and its memory time (bytes
moved / peak bandwidth), plus a fixed dispatch cost per heavy op (``peak.op_overhead_us``, calibrated
on the measured CPU: see docs/targets.md and benchmarks/estimate_calibration.py). Peak figures
are the device profile's nominal ones (each estimate says so in ``peak_source``: edgekit does not
measure a device's peaks), so this is an ESTIMATE, labelled as one wherever it appears: a floor on
compute-bound models, and rough (within ~2-5x) on tiny ones where dispatch dominates.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.devices import DeviceProfile
from edgekit.flops import GraphCost

# Per heavy op (conv/matmul) dispatch cost, fitted on the dev CPU with
# benchmarks/estimate_calibration.py (9.75 us on LeNet-5 artifacts); used when a profile has none.
DEFAULT_OP_OVERHEAD_US = 10.0

# edgekit does not derive peak figures from detected hardware (edgekit.device.hardware names the CPU and
# GPU, not their clocks under load), so every estimate's peaks are the device profile's.
NOMINAL = "nominal, from the profile"


@dataclass(frozen=True)
class LatencyEstimate:
    latency_ms: float
    compute_ms: float  # sum over ops of FLOPs / peak, had nothing else limited them
    memory_ms: float  # sum over ops of bytes / bandwidth
    overhead_ms: float
    bound: str  # 'compute', 'memory' or 'overhead': what most of the time goes to
    peak_source: str = NOMINAL  # where the peak FLOP/s and bandwidth came from

    def to_json(self) -> dict[str, object]:
        return {"kind": "estimate (roofline from FLOPs, bytes and peak figures; not measured)",
                "latency_ms": round(self.latency_ms, 4), "compute_ms": round(self.compute_ms, 4),
                "memory_ms": round(self.memory_ms, 4), "overhead_ms": round(self.overhead_ms, 4),
                "bound": self.bound, "peak_source": self.peak_source}


def estimate_latency(cost: GraphCost, device: DeviceProfile, batch: int = 1) -> LatencyEstimate | None:
    """Batch-``batch`` latency of a graph on ``device``; None without a peak FLOP/s figure."""
    peak = device.peak
    if not peak.gflops:
        return None
    flops_per_s = peak.gflops * 1e9
    bytes_per_s = (peak.memory_bandwidth_gbs or float("inf")) * 1e9
    overhead_s = (peak.op_overhead_us if peak.op_overhead_us is not None
                  else DEFAULT_OP_OVERHEAD_US) * 1e-6
    compute = sum(o.flops * batch / flops_per_s for o in cost.ops)
    memory = sum(o.bytes * batch / bytes_per_s for o in cost.ops)
    roof = sum(max(o.flops * batch / flops_per_s, o.bytes * batch / bytes_per_s) for o in cost.ops)
    overhead = overhead_s * max(1, sum(1 for o in cost.ops if o.flops > 0))
    parts = {"compute": compute, "memory": memory, "overhead": overhead}
    return LatencyEstimate(latency_ms=(roof + overhead) * 1e3, compute_ms=compute * 1e3,
                    memory_ms=memory * 1e3, overhead_ms=overhead * 1e3,
                    bound=max(parts, key=parts.__getitem__),
                    peak_source=f"{NOMINAL} '{device.name}'" + (f" ({peak.source})" if peak.source else ""))
