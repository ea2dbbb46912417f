"""``edgekit profile ARTIFACT --target NAME``: latency, throughput, memory and load time of one
artifact where it will run, plus achieved GFLOP/s against the device's peak.

Inputs are real examples: the held-out data of the bundle the artifact sits in, or ``--inputs``
(an ``.npz`` with ``x__<input name>`` arrays). Only the batches the timed runs feed are copied
for the runner, read a chunk at a time from the (memory-mapped) held-out data. Emulated targets return their timings under
``emulated`` only, never as device latency; every roofline figure is labelled an estimate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.device import formats, heldout
from edgekit.devices import DeviceProfile, load_device
from edgekit.errors import EdgekitError
from edgekit.roofline import estimate_latency
from edgekit.flops import graph_cost
from edgekit.device.runner import LATENCY_BATCHES
from edgekit.device.runtimes import RUNTIMES
from edgekit.targets import RunRequest, RunResult, target_for
from edgekit.targets._proc import TargetUnreachable
from edgekit.threads import settle_threads
from edgekit.validation.placement import execution_record
from edgekit.bundle_integrity import enclosing_bundle, verify_bundle


def artifact_files(path: Path) -> tuple[Path, ...]:
    """The file to load first, then its companions (OpenVINO's .bin next to the .xml)."""
    if not path.is_file():
        raise EdgekitError("artifact not found", where=path, fix="check the path")
    return tuple(f for f in formats.artifact_files(path) if f.is_file())


def find_inputs(path: Path, inputs: Path | None) -> Path:
    if inputs is not None:
        if not inputs.is_file():
            raise EdgekitError("inputs file not found", where=inputs, fix="check the path")
        fix = "pass an .npz written by numpy.savez with x__<input name> arrays"
        try:
            found = heldout.open_arrays(inputs).inputs()
        except Exception as exc:  # np.load's complaint about foreign bytes (not a zip, a pickle)
            raise EdgekitError(f"not an .npz of arrays ({type(exc).__name__})", where=inputs,
                               fix=fix) from None
        if not found:
            raise EdgekitError("holds no x__<input name> arrays", where=inputs, fix=fix)
        return inputs
    for folder in (path.parent, *path.parents):  # BUNDLE/artifacts/x.tflite -> BUNDLE/data/
        candidate = heldout.find(folder)
        if candidate is not None:
            return candidate
    raise EdgekitError("no inputs: the artifact is not inside an edgekit bundle", where=path,
                       fix="pass --inputs FILE.npz with x__<input name> arrays")


def pick_runtime(path: Path, device: DeviceProfile, runtime: str | None) -> str:
    fmt = formats.format_of(path)
    choices = [runtime] if runtime else [r for r in device.runtimes if r in RUNTIMES
                                         and fmt in RUNTIMES.get(r).formats]
    if not choices or fmt not in RUNTIMES.get(choices[0]).formats:
        raise EdgekitError(f"device '{device.name}' has no runtime for {path.suffix} files",
                           where=path, fix=f"its runtimes are: {', '.join(device.runtimes)}")
    return choices[0]


def summarize(result: RunResult, device: DeviceProfile, flops: float | None) -> dict[str, Any]:
    """Measured figures; under emulation they move to an 'emulated' block, labelled so."""
    info = result.info
    lat = info.get("latency_ms", {})
    measured: dict[str, Any] = {"latency_ms": lat, "load_ms": info.get("load_ms"),
                                "peak_rss_mb": info.get("peak_rss_mb")}
    if lat.get("mean"):
        measured["throughput_per_s"] = round(1e3 * lat.get("batch", 1) / lat["mean"], 2)
    if flops and lat.get("p50"):
        achieved = flops * lat.get("batch", 1) / (lat["p50"] * 1e-3) / 1e9
        measured["achieved_gflops"] = round(achieved, 3)
        if device.peak.gflops:
            measured["fraction_of_peak"] = round(achieved / device.peak.gflops, 5)
    if result.emulated:
        return {"measured": None, "emulated": measured | {
            "note": f"{device.emulation}: emulation timings, NOT device timings"}}
    return {"measured": measured}


def profile(artifact: Path, target: str, *, runs: int = 50, warmup: int = 5,
            threads: int | None = None, batch: int = 1, inputs: Path | None = None,
            runtime: str | None = None) -> dict[str, Any]:
    bundle = enclosing_bundle(artifact)
    if bundle is not None:  # a tampered bundle is refused before its files are read or run
        verify_bundle(bundle)
    device = load_device(target)
    threads = settle_threads(threads, device)
    files = artifact_files(artifact)
    rt = pick_runtime(artifact, device, runtime)
    cost = graph_cost(artifact)
    flops = cost.flops if cost else None
    out: dict[str, Any] = {"schema": "edgekit.profile/1", "artifact": str(artifact),
                           "target": device.name, "runtime": rt,
                           "threads": threads, "batch": batch,
                           "graph": cost.to_json() if cost else None,
                           "peak": device.peak.model_dump(mode="json")}
    est = estimate_latency(cost, device, batch) if cost else None
    out["estimate"] = est.to_json() if est else None
    kind = target_for(device)
    reason = kind.missing(device)
    if reason:  # unreachable: the estimate is all we can give, and we say so
        return record(artifact, device, out | {"measured": None, "unavailable": reason})
    # Only the batches the timed runs cycle over are handed to the runner.
    request = RunRequest(files=files, runtime=rt, inputs=find_inputs(artifact, inputs),
                         limit=LATENCY_BATCHES * batch, want_outputs=False, runs=runs,
                         warmup=warmup, threads=threads, batch=batch,
                         options=device.runtime_options(RUNTIMES.get(rt).options))
    try:
        result = kind.run(device, request)
    except TargetUnreachable as exc:  # an SSH device that is off or unknown: as for adb above
        return record(artifact, device, out | {"measured": None, "unavailable": str(exc)})
    out |= {"runtime_version": result.info.get("runtime_version"),
            "machine": result.info.get("machine"), "hardware": result.info.get("hardware"),
            **execution_record(result.info),
            **summarize(result, device, flops)}
    if est and out.get("measured") and out["measured"]["latency_ms"].get("p50"):
        out["estimate"]["error_vs_measured"] = round(
            est.latency_ms / out["measured"]["latency_ms"]["p50"] - 1, 3)
    return record(artifact, device, out)


def record(artifact: Path, device: DeviceProfile, out: dict[str, Any]) -> dict[str, Any]:
    """An artifact inside a bundle gets its profile saved there (``targets/profiles/``) and a
    line in report.html; a loose file just gets the JSON."""
    from edgekit.validation.ondevice import save

    bundle = enclosing_bundle(artifact)
    if bundle is None:
        return out
    rel = artifact.resolve().relative_to(bundle).as_posix()
    out = out | {"bundle_file": rel}
    saved = save(bundle, f"profiles/{device.name}--{artifact.name}.json", out)
    return out | {"saved": str(saved)}
