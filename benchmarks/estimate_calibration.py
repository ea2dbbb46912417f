"""Calibrate the roofline latency estimate against measured CPU latency, and print its error.

    PYTHONPATH=. python benchmarks/estimate_calibration.py BUNDLE [--target cpu] [--runs 200]

For every .tflite/.onnx artifact of BUNDLE: measured p50 on the target (edgekit's runner), the
pure roofline (FLOPs / peak, bytes / bandwidth, per op), and the per-op dispatch overhead that
closes the gap. Prints the median overhead to put in the device profile's
``peak.op_overhead_us`` and the estimate's error with that value (docs/targets.md records it).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from edgekit.devices import load_device
from edgekit.roofline import estimate_latency
from edgekit.flops import graph_cost
from edgekit.validation.profile import profile


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("bundle", type=Path)
    p.add_argument("--target", default="cpu")
    p.add_argument("--runs", type=int, default=200)
    args = p.parse_args()
    device = load_device(args.target)
    no_overhead = device.model_copy(update={"peak": device.peak.model_copy(update={"op_overhead_us": 0.0})})
    rows = []
    for f in sorted((args.bundle / "artifacts").iterdir()):
        cost = graph_cost(f)
        if cost is None:
            continue
        measured = profile(f, args.target, runs=args.runs, warmup=20)["measured"]["latency_ms"]["p50"]
        roof = estimate_latency(cost, no_overhead).latency_ms
        rows.append((f.name, measured, roof, (measured - roof) * 1e3 / max(1, sum(1 for o in cost.ops if o.flops > 0)), cost))
    overhead = statistics.median(r[3] for r in rows)
    fitted = device.model_copy(update={"peak": device.peak.model_copy(update={"op_overhead_us": overhead})})
    print(f"{'artifact':<34} {'measured ms':>11} {'roofline ms':>11} {'estimate ms':>11} {'error':>7}")
    errors = []
    for name, measured, roof, _, cost in rows:
        est = estimate_latency(cost, fitted).latency_ms
        errors.append(est / measured - 1)
        print(f"{name:<34} {measured:>11.4f} {roof:>11.4f} {est:>11.4f} {errors[-1]:>+7.0%}")
    print(f"fitted op_overhead_us = {overhead:.2f}; median |error| = "
          f"{statistics.median(abs(e) for e in errors):.0%}, max |error| = {max(abs(e) for e in errors):.0%}")


if __name__ == "__main__":
    main()
