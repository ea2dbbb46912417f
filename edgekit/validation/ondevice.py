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
from edgekit.paths import inside
from edgekit.validation.placement import execution_record
from edgekit.verify import read_report, refresh_manifest, verify_bundle


def read_bundle(bundle: Path) -> dict[str, Any]:
    """report.json, with every path it names checked to stay inside ``bundle``."""
    return read_report(bundle)


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
    """The bundle's budgets, applied to the device's outputs by the same judgement ``compress``
    applies on the host (:func:`edgekit.validation.verdict.judge`): metric drop against the
    artifact's baseline (the reference, or e.g. the distilled student) with its 95% interval,
    agreement with the baseline, the reference ratio, and closeness to the host run."""
    from edgekit.recipe.schema import Budgets
    from edgekit.tasks import TASKS
    from edgekit.validation.verdict import (Closeness, Evidence, agreement_with, budget_metric,
                                            class_report, drop_interval)
    from edgekit.validation.verdict import judge as judge_evidence

    task = TASKS.get(report["dataset"]["task"])
    budgets = Budgets.model_validate(report["budgets"])
    try:
        metric = budget_metric(task, budgets)
    except ValueError as exc:
        raise EdgekitError(f"report.json budgets.metric: {exc}",
                           fix="re-run 'edgekit compress' with this edgekit version") from None
    ref_value = report["reference"]["value"]
    baseline = artifact.get("baseline") or {"model": "reference", "metric": ref_value}
    # evaluate, not score: some tasks' metrics need the inputs (an autoencoder's AUROC is
    # computed from its reconstruction error)
    heldout = Split({k[len("x__"):]: v for k, v in data.items() if k.startswith("x__")},
                    data["y"]).take(len(outputs))
    value = metric.evaluate(outputs, heldout)
    agreement, agreement_ci = agreement_with(task, outputs, data["reference"])
    host_agreement = task.agreement(outputs, host) if host is not None else None
    on_reference = baseline["model"] == "reference"
    with_baseline: float | None = agreement if on_reference else None
    note = ""
    if not on_reference and host_agreement is not None and baseline.get("agreement") is not None:
        # The bundle stores the reference's outputs only. The host run agreed with the baseline
        # on a share b of examples; the device differs from the host on 1 - h of them, so it
        # agrees with the baseline on at least b - (1 - h).
        with_baseline = baseline["agreement"] - (1.0 - host_agreement)
        note = "lower bound: the host's agreement less the device's disagreement with the host"
    atol = artifact.get("conversion_atol")
    atol = atol * device.tolerance_scale if atol is not None else None
    host_diff = float(np.max(np.abs(outputs - host))) if host is not None else None
    evidence = Evidence(
        metric=metric.name, share=metric.share, higher_is_better=metric.higher_is_better,
        value=value, baseline=baseline["model"], baseline_value=baseline["metric"],
        drop_interval=drop_interval(task, metric, outputs, heldout,
                                    data["reference"] if on_reference else None, baseline["metric"]),
        reference_value=ref_value, n_examples=len(outputs), agreement=with_baseline,
        agreement_interval=agreement_ci if on_reference else None, agreement_note=note,
        closeness=Closeness("matches_host", host_diff, atol, "the same artifact run on the host")
        if host_diff is not None and atol is not None else None)
    verdict = judge_evidence(evidence, budgets)
    return {"metric": {"name": metric.name, "value": value}, "baseline": baseline["model"],
            "metric_drop": evidence.drop, "metric_drop_ci95": evidence.drop_interval.to_json()
            if evidence.drop_interval else None,
            "agreement": agreement, "agreement_ci95": agreement_ci.to_json(),
            "classes": class_report(task, outputs, heldout.y),
            "max_abs_diff": float(np.max(np.abs(outputs - data["reference"]))),
            "max_abs_diff_vs_host": host_diff, "host_atol": atol, "host_agreement": host_agreement,
            "checks": verdict.flags(), "passed": verdict.passed, "verdict": verdict.to_json()}


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
              "machine": result.info.get("machine"), "hardware": result.info.get("hardware"),
              "emulated": result.emulated,
              "runner_imported_tensorflow": result.info.get("imported_tensorflow"),
              **execution_record(result.info)}
    return entry | judge(artifact, report, device, result.outputs, data, host)


def validate(bundle: Path, target: str) -> dict[str, Any]:
    """Run every artifact of ``bundle`` on ``target``; write and return the per-target result."""
    bundle = bundle.resolve()
    verify_bundle(bundle)  # a tampered bundle is refused before anything in it is read or run
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
           "hardware": next((r["hardware"] for r in ran if r.get("hardware")), None),
           "passed": bool(ran) and all(r["passed"] for r in ran)}
    save(bundle, f"{device.name}.json", out)
    return out


def save(bundle: Path, name: str, result: dict[str, Any]) -> Path:
    """Write ``targets/<name>`` (a validation, or ``profiles/...`` for a profile), re-render
    report.html with every target result and profile so far, and refresh the manifest (its
    checksums cover the files we just changed, and only those: callers verify first)."""
    from edgekit.report.html import render

    path = inside(bundle, f"targets/{name}", what="result file",  # a device YAML's name
                  fix="give the device profile a plain name")
    write_text(path, json.dumps(result, indent=2))
    report = read_bundle(bundle)
    report["on_target"] = {p.stem: json.loads(p.read_text())
                           for p in sorted((bundle / "targets").glob("*.json"))}
    report["profiles"] = [json.loads(p.read_text())
                          for p in sorted((bundle / "targets" / "profiles").glob("*.json"))]
    write_text(bundle / "report.html", render(report))
    refresh_manifest(bundle, [path, bundle / "report.html"])
    return path
