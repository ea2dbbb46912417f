"""``edgekit validate BUNDLE --target NAME``: re-prove a bundle's artifacts on another device.

Each artifact runs on the target's runtime for its format over the held-out data stored in
the bundle. We report its metric, agreement and max |Δ| against the reference model's outputs
(as the bundle's own proof does), and, the check that catches a broken device build or kernel,
max |Δ| against the same artifact run here on the host: it must stay within the family's
conversion tolerance for the artifact's precision, scaled by the device's ``tolerance_scale``
(TF32 on GPUs). int8 artifacts have no float tolerance; their accuracy budget judges them.
Results go to ``BUNDLE/targets/<device>.json`` and the per-target section of report.html.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.atomic import write_text
from edgekit.devices import DeviceProfile, load_device
from edgekit.data import Split
from edgekit.errors import EdgekitError, RuntimeUnavailable
from edgekit.heldout import FOLDER, Arrays, find, open_arrays
from edgekit.runtimes import RUNTIMES
from edgekit.targets import RunRequest, target_for
from edgekit.validation.placement import execution_record


def read_bundle(bundle: Path) -> dict[str, Any]:
    report_file = bundle / "report.json"
    if not report_file.is_file():
        raise EdgekitError("not an edgekit bundle (no report.json)", where=bundle,
                           fix="pass the folder 'edgekit compress' wrote")
    return json.loads(report_file.read_text())


def heldout(bundle: Path, report: dict[str, Any]) -> Path:
    """The bundle's held-out data: the ``data/heldout/`` folder or, in older bundles, the
    ``data/heldout.npz`` file that report.json names."""
    rel = report["dataset"].get("heldout_file")
    path = find(bundle, rel)
    if path is None:
        raise EdgekitError("the bundle has no held-out data", where=bundle / (rel or FOLDER),
                           fix="re-run 'edgekit compress' with this edgekit version")
    return path


def runtime_for(artifact: dict[str, Any], device: DeviceProfile) -> str | None:
    """The device's first runtime (its ``runtimes`` are in preference order) that reads the
    artifact's format: a Jetson lists onnxruntime-cuda before onnxruntime, so ONNX runs on
    its GPU."""
    return next((r for r in device.runtimes
                 if r in RUNTIMES and artifact["format"] in RUNTIMES.get(r).formats), None)


def host_outputs(files: list[Path], runtime: str, inputs: dict[str, np.ndarray],
                 n: int) -> np.ndarray | None:
    """The artifact's outputs for the first ``n`` examples on this machine with its bundle
    runtime (None if absent here); ``inputs`` may be memory-mapped: one example is read at a
    time."""
    rt = RUNTIMES.get(runtime)
    if rt.missing():
        return None
    session = rt.load(files[0], 1)
    return np.concatenate([session.run({k: np.array(v[i:i + 1]) for k, v in inputs.items()})
                           for i in range(n)], axis=0).astype(np.float32)


def judge(artifact: dict[str, Any], report: dict[str, Any], device: DeviceProfile,
          outputs: np.ndarray, data: dict[str, np.ndarray], host: np.ndarray | None) -> dict[str, Any]:
    """The bundle's budgets, applied to the device's outputs as ``compress`` applied them on the
    host: metric drop against the artifact's baseline (the reference, or e.g. the distilled
    student), top-1 agreement with it, the reference ratio, and closeness to the host run."""
    from edgekit.tasks import TASKS

    task = TASKS.get(report["dataset"]["task"])
    budgets = report["budgets"]
    ref_value = report["reference"]["value"]
    baseline = artifact.get("baseline") or {"model": "reference", "metric": ref_value}
    # evaluate, not score: some tasks' metrics need the inputs (an autoencoder's AUROC is
    # computed from its reconstruction error)
    heldout = Split({k[len("x__"):]: v for k, v in data.items() if k.startswith("x__")}, data["y"])
    metric = task.evaluate(outputs, heldout.take(len(outputs)))
    agreement = task.agreement(outputs, data["reference"])
    host_agreement = task.agreement(outputs, host) if host is not None else None
    checks = {"metric_drop": task.drop(baseline["metric"], metric)
              <= budgets["max_metric_drop"] + 1e-12}
    if baseline["model"] == "reference":
        checks["agreement"] = agreement >= budgets["min_agreement"]
    elif host_agreement is not None and baseline.get("agreement") is not None:
        # The bundle stores the reference's outputs only. The host run agreed with the baseline
        # on a share b of examples; the device differs from the host on 1 - h of them, so it
        # agrees with the baseline on at least b - (1 - h).
        bound = baseline["agreement"] - (1.0 - host_agreement)
        checks["agreement"] = bound >= budgets["min_agreement"]
    if budgets.get("min_reference_ratio") is not None:
        ratio = metric / ref_value if task.higher_is_better else ref_value / metric
        checks["reference_ratio"] = ratio >= budgets["min_reference_ratio"]
    atol = artifact.get("conversion_atol")
    atol = atol * device.tolerance_scale if atol is not None else None
    host_diff = float(np.max(np.abs(outputs - host))) if host is not None else None
    if host_diff is not None and atol is not None:
        checks["matches_host"] = host_diff <= atol
    return {"metric": {"name": task.metric, "value": metric}, "baseline": baseline["model"],
            "agreement": agreement, "max_abs_diff": float(np.max(np.abs(outputs - data["reference"]))),
            "max_abs_diff_vs_host": host_diff, "host_atol": atol, "host_agreement": host_agreement,
            "checks": checks, "passed": all(checks.values())}


def validate_artifact(bundle: Path, artifact: dict[str, Any], report: dict[str, Any],
                      device: DeviceProfile, held: Arrays, n: int) -> dict[str, Any]:
    """Run one artifact over the first ``n`` held-out examples on ``device`` and judge it."""
    entry: dict[str, Any] = {"file": artifact["file"], "format": artifact["format"],
                             "precision": artifact["precision"]}
    runtime = runtime_for(artifact, device)
    if runtime is None:
        return entry | {"skipped": f"{device.name} has no runtime for {artifact['format']}"}
    entry["runtime"] = runtime
    if device.scheme == "local" and RUNTIMES.get(runtime).missing():
        return entry | {"skipped": RUNTIMES.get(runtime).missing()}
    files = tuple(bundle / f for f in artifact.get("files", [artifact["file"]]))
    try:
        result = target_for(device).run(device, RunRequest(
            files=files, runtime=runtime, inputs=held.path, limit=n, threads=device.threads,
            options=device.runtime_options(RUNTIMES.get(runtime).options)))
    except RuntimeUnavailable as exc:
        return entry | {"skipped": str(exc)}
    same_as_host = device.scheme == "local" and runtime == artifact["runtime"]
    # On this machine with the bundle's own runtime the run *is* the host run.
    host = result.outputs if same_as_host else host_outputs(list(files), artifact["runtime"],
                                                            held.inputs(), n)
    data = {"y": np.asarray(held["y"][:n]), "reference": np.asarray(held["reference"][:n]),
            **{f"x__{k}": v for k, v in held.inputs().items()}}  # mapped, for input-based metrics
    entry |= {"runtime_version": result.info.get("runtime_version"),
              "machine": result.info.get("machine"), "emulated": result.emulated,
              "runner_imported_tensorflow": result.info.get("imported_tensorflow"),
              **execution_record(result.info)}
    return entry | judge(artifact, report, device, result.outputs, data, host)


def validate(bundle: Path, target: str) -> dict[str, Any]:
    """Run every artifact of ``bundle`` on ``target``; write and return the per-target result."""
    bundle = bundle.resolve()
    report = read_bundle(bundle)
    device = load_device(target)
    kind = target_for(device)
    if not kind.validates:
        raise EdgekitError(f"target '{device.name}' ({device.scheme}) reports timings only, "
                           "not outputs, so it cannot validate",
                           fix=f"use 'edgekit profile ARTIFACT --target {device.name}'")
    kind.ensure(device)
    held = open_arrays(heldout(bundle, report))  # mapped: read an example at a time
    # Bundles written with validation.max_examples store every held-out input but reference
    # outputs only for the examples proven: judge exactly those.
    n = len(held["reference"])
    results = [validate_artifact(bundle, a, report, device, held, n)
               for a in report["artifacts"]]
    ran = [r for r in results if "skipped" not in r]
    out = {"schema": "edgekit.target-validation/1", "target": device.model_dump(mode="json"),
           "emulated": device.emulation is not None, "artifacts": results,
           "passed": bool(ran) and all(r["passed"] for r in ran)}
    save(bundle, f"{device.name}.json", out)
    return out


def save(bundle: Path, name: str, result: dict[str, Any]) -> Path:
    """Write ``targets/<name>`` (a validation, or ``profiles/...`` for a profile), re-render
    report.html with every target result and profile so far, and refresh the manifest (its
    checksums cover the files we just changed)."""
    from edgekit.verify import write_manifest
    from edgekit.report.html import render

    path = bundle / "targets" / name
    write_text(path, json.dumps(result, indent=2))
    report = read_bundle(bundle)
    report["on_target"] = {p.stem: json.loads(p.read_text())
                           for p in sorted((bundle / "targets").glob("*.json"))}
    report["profiles"] = [json.loads(p.read_text())
                          for p in sorted((bundle / "targets" / "profiles").glob("*.json"))]
    write_text(bundle / "report.html", render(report))
    write_manifest(bundle)
    return path
