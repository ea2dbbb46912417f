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
import os
import tempfile
import time
from collections.abc import Callable, Generator
from contextlib import closing
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.atomic import write_text
from edgekit.devices import DeviceProfile, load_device
from edgekit.data import Split
from edgekit.errors import EdgekitError, RuntimeUnavailable
from edgekit.device.heldout import FOLDER, INPUT_PREFIX, Arrays, find, open_arrays
from edgekit.device.heldout import write as write_arrays
from edgekit.resolution import examples_to_resolve, resolves
from edgekit.device.runtimes import RUNTIMES
from edgekit.paths import inside
from edgekit.targets import RunRequest, RunResult, TextRequest, target_for
from edgekit.targets._proc import TargetTimeout, TargetUnreachable, end_all_sessions
from edgekit.threads import settle_threads, settled_device
from edgekit.validation.intervals import wilson
from edgekit.validation.ondevice_generation import validate_generation
from edgekit.validation.placement import execution_record
from edgekit.bundle_integrity import read_report, refresh_manifest, verify_bundle


def read_bundle(bundle: Path) -> dict[str, Any]:
    """report.json, with every path it names checked to stay inside ``bundle``."""
    return read_report(bundle)


def recipe_threads(report: dict[str, Any]) -> int | None:
    """The threads the bundle's recipe asked for (``validation.threads``; None: the device
    profile's), which validate honours as compress did (:mod:`edgekit.threads`)."""
    return ((report.get("resolved_recipe") or {}).get("validation") or {}).get("threads")


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
    session = rt.load(files[0], settle_threads(None))
    return np.concatenate([session.run({k: np.array(v[i:i + 1]) for k, v in inputs.items()})
                           for i in range(n)], axis=0).astype(np.float32)


def sampled_split(data: dict[str, np.ndarray]) -> Split:
    """The held-out split behind ``data`` (``y`` and the ``x__<input>`` arrays, as
    :func:`take_sample` lays them out), for metrics that need the inputs (an autoencoder's AUROC
    is computed from its reconstruction error)."""
    return Split({k[len(INPUT_PREFIX):]: v for k, v in data.items() if k.startswith(INPUT_PREFIX)},
                 data["y"])


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
    heldout = sampled_split(data).take(len(outputs))
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


DEFAULT_SEED = 0
"""The seed of the sample drawn under emulation (stated in the result, so a run can be repeated)."""


@dataclass(frozen=True)
class Sample:
    """Which of the ``of`` proven held-out examples a validation runs: all of them in order
    (``indices`` None), or a seeded sample of ``size`` of them (sorted indices)."""

    size: int
    of: int
    indices: np.ndarray | None
    seed: int | None
    why: str

    def to_json(self, max_metric_drop: float) -> dict[str, Any]:
        return {"examples": self.size, "of": self.of, "sampled": self.indices is not None,
                "seed": self.seed, "why": self.why,
                "resolves_budget": resolves(self.size, max_metric_drop)}


def plan_sample(device: DeviceProfile, max_metric_drop: float, proven: int,
                examples: int | None, seed: int) -> Sample:
    """How many examples to run, and which. Real devices run every proven example; under
    emulation (slow: a BERT pass takes seconds) a seeded sample just large enough to resolve
    the budget (:func:`edgekit.resolution.examples_to_resolve`); ``examples`` overrides both."""
    if examples is not None:
        if examples < 1:
            raise EdgekitError(f"--examples {examples}: must be at least 1", where="--examples",
                               fix="pass a positive number of held-out examples")
        size, why = min(examples, proven), f"--examples {examples}"
    elif device.emulation is None:
        size, why = proven, "a real device: every proven held-out example"
    else:
        needed = examples_to_resolve(max_metric_drop)
        size = proven if needed is None else min(needed, proven)
        why = (f"emulated: {needed} examples resolve max_metric_drop {max_metric_drop:g} (one "
               "example moves the metric by at most a quarter of it)" if needed is not None else
               "emulated, but max_metric_drop 0 needs every example")
    if size >= proven:
        return Sample(proven, proven, None, None, why)
    rng = np.random.default_rng(seed)
    return Sample(size, proven, np.sort(rng.choice(proven, size=size, replace=False)), seed, why)


def examples_to_show_agreement(min_agreement: float) -> int | None:
    """The fewest examples on which full agreement's 95% interval (the Wilson interval the
    agreement check reports) lies at or above ``min_agreement``: fewer, and even a perfect run
    could not tell the minimum from chance. None when the minimum is 1 (no finite run shows it)."""
    if min_agreement >= 1:
        return None
    n = 1
    while wilson(n, n).low < min_agreement:
        n += 1
    return n


def is_reference_export(artifact: dict[str, Any]) -> bool:
    """The reference model's own export (e.g. a distilled bundle's fp32 teacher)."""
    return artifact.get("model") == "reference"


def plan_reference_sample(sample: Sample, device: DeviceProfile, min_agreement: float,
                          examples: int | None, seed: int) -> Sample | None:
    """Under emulation by default, the reference model's own export runs a seeded subset of
    ``sample`` (None: it runs the whole sample). No other artifact is judged against its run:
    the bundle stores the reference's outputs, and those (on the whole sample) are what every
    other artifact's metric drop and agreement are measured against. What its run shows is
    that the float reference computes on the device what it computes on the host: max |Δ| vs
    the host run within the conversion tolerance on every example run (an exact check, not a
    sampled one) and agreement with its stored outputs. So it needs the examples that let
    that agreement clear ``min_agreement`` (:func:`examples_to_show_agreement`), not the ones
    that resolve a metric budget, and under emulation it is the costliest artifact (a
    6-layer, 384-wide teacher is ~8x a TinyBERT student). ``--examples`` and real devices
    keep one sample for all."""
    needed = examples_to_show_agreement(min_agreement)
    if examples is not None or device.emulation is None or needed is None or needed >= sample.size:
        return None
    pool = sample.indices if sample.indices is not None else np.arange(sample.of)
    rng = np.random.default_rng(seed)
    return Sample(needed, sample.of, np.sort(rng.choice(pool, size=needed, replace=False)), seed,
                  f"emulated, the reference model's own export: a seeded {needed} of the "
                  f"{sample.size} sampled examples, the fewest on which full agreement's 95% "
                  f"interval clears min_agreement {min_agreement:g}; no other artifact is "
                  "judged against this run (they are judged against the reference's stored "
                  "outputs on the whole sample), it shows the float reference computes the "
                  "host's outputs on the device (max |Δ| vs the host on every example run)")


@dataclass
class SampledData:
    """The sample's inputs (for the runner), labels and reference outputs (for the judge)."""

    inputs_path: Path  # a held-out folder the runner reads
    limit: int | None
    inputs: dict[str, np.ndarray]  # for the host run (mapped when not sampled)
    data: dict[str, np.ndarray]  # y, reference and x__<input>, for judge()
    texts: list[str] | None


def take_sample(held: Arrays, sample: Sample, folder: Path) -> SampledData:
    """Slice labels, reference outputs, inputs (and texts) to ``sample``; a sampled run gets
    its inputs written to ``folder`` so the runner is handed exactly those examples."""
    pick = sample.indices if sample.indices is not None else slice(0, sample.size)
    inputs = {k: (np.asarray(v[pick]) if sample.indices is not None else v)
              for k, v in held.inputs().items()}
    # single texts only: a sentence-pair task's (n, 2) texts are not what the text runner reads
    texts = ([str(t) for t in held["texts"][pick]]
             if "texts" in held and held["texts"].ndim == 1 else None)
    data = {"y": np.asarray(held["y"][pick]), "reference": np.asarray(held["reference"][pick]),
            **{f"{INPUT_PREFIX}{k}": v for k, v in inputs.items()}}
    if sample.indices is None:
        return SampledData(held.path, sample.size, inputs, data, texts)
    write_arrays(folder, {f"{INPUT_PREFIX}{k}": v for k, v in inputs.items()})
    return SampledData(folder, None, inputs, data, texts)


def sample_baselines(artifact: dict[str, Any], report: dict[str, Any], data: dict[str, np.ndarray],
                     host: np.ndarray | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``artifact`` and ``report`` with the baseline and reference metrics *of the sample*, so
    that a sampled device metric is compared like for like (a sample's accuracy against the
    full split's would add the sample's luck to the verdict). The reference's metric comes from
    its stored outputs on the sample. A distilled baseline has no stored outputs: its metric on
    the sample is taken as its proven lead over this artifact plus the host run's metric on the
    sample, so the drop judged is the proven drop plus the device-vs-host change on the sample."""
    from edgekit.recipe.schema import Budgets
    from edgekit.tasks import TASKS
    from edgekit.validation.verdict import budget_metric

    # the metric the budget is on, as judge() scores it (bad names: judge() reports them)
    task = TASKS.get(report["dataset"]["task"])
    try:
        metric = budget_metric(task, Budgets.model_validate(report["budgets"]))
    except ValueError:
        return artifact, report, {"metric": None, "how": "not recomputed (unknown budget metric)"}
    split = sampled_split(data)
    ref_metric = metric.evaluate(data["reference"], split)
    report = report | {"reference": report["reference"] | {"value": ref_metric}}
    baseline = artifact.get("baseline") or {"model": "reference"}
    if baseline["model"] == "reference":
        return (artifact | {"baseline": baseline | {"metric": ref_metric}}, report,
                {"metric": ref_metric, "how": "the reference's stored outputs on the sample"})
    if host is None or artifact.get("metric") is None:
        return artifact, report, {"metric": baseline["metric"], "how": "the full split's "
                                  "baseline metric (no host run to pair with)"}
    shifted = baseline["metric"] - artifact["metric"]["value"] + metric.evaluate(host, split)
    return (artifact | {"baseline": baseline | {"metric": shifted}}, report,
            {"metric": shifted, "how": "the proven baseline lead over this artifact plus the "
                                       "host run of this artifact on the sample"})


def validate_artifact(bundle: Path, artifact: dict[str, Any], report: dict[str, Any],
                      device: DeviceProfile, sample: Sample, picked: SampledData) -> dict[str, Any]:
    """Run one artifact over the sample on ``device`` and judge it. A text bundle's artifacts
    run from raw text (:func:`run_text_path`); the others from the stored input arrays."""
    entry: dict[str, Any] = {"file": artifact["file"], "format": artifact["format"],
                             "precision": artifact["precision"]}
    runtime = runtime_for(artifact, device)
    if runtime is None:
        return entry | {"skipped": f"{device.name} has no runtime for {artifact['format']}"}
    entry["runtime"] = runtime
    if device.scheme == "local" and RUNTIMES.get(runtime).missing():
        return entry | {"skipped": RUNTIMES.get(runtime).missing()}
    files = tuple(bundle / f for f in artifact.get("files", [artifact["file"]]))
    result = None
    try:
        if picked.texts is not None and (bundle / "text.json").is_file():
            result, entry["text_path"] = run_text_path(bundle, files, runtime, device, picked)
        if result is None:
            result = target_for(device).run(device, RunRequest(
                files=files, runtime=runtime, inputs=picked.inputs_path, limit=picked.limit,
                threads=device.threads,
                options=device.runtime_options(RUNTIMES.get(runtime).options)))
    except RuntimeUnavailable as exc:
        return entry | {"skipped": str(exc)}
    except TargetTimeout as exc:
        return entry | {"timed_out": str(exc)}
    same_as_host = device.scheme == "local" and runtime == artifact["runtime"] and "text_path" not in entry
    # On this machine with the bundle's own runtime the run *is* the host run.
    host = result.outputs if same_as_host else host_outputs(list(files), artifact["runtime"],
                                                            picked.inputs, sample.size)
    entry |= {"runtime_version": result.info.get("runtime_version"),
              "machine": result.info.get("machine"), "hardware": result.info.get("hardware"),
              "emulated": result.emulated,
              "runner_imported_tensorflow": result.info.get("imported_tensorflow"),
              **execution_record(result.info)}
    judged_artifact, judged_report = artifact, report
    if sample.indices is not None:
        judged_artifact, judged_report, entry["sample_baseline"] = sample_baselines(
            artifact, report, picked.data, host)
    entry |= judge(judged_artifact, judged_report, device, result.outputs, picked.data, host)
    if "text_path" in entry:
        if host is not None and "error" not in entry["text_path"]:
            entry["text_path"]["host_label_agreement"] = float(
                np.mean(result.outputs.argmax(-1) == host.argmax(-1)))
        entry["checks"]["text_path"] = entry["text_path"]["passed"]
        entry["passed"] = all(entry["checks"].values())
    return entry


def run_text_path(bundle: Path, files: tuple[Path, ...], runtime: str, device: DeviceProfile,
                  picked: SampledData) -> tuple[RunResult | None, dict[str, Any]]:
    """The sample's raw held-out texts through the device-side tokenizer and text runner
    (:mod:`edgekit.device.text_classify`), as an app on the device would classify them. Its
    outputs are what the budgets judge; its token ids must equal the bundle's (the host's
    tokenization), so the model saw exactly the inputs the host proved. One pass per artifact
    proves both (under emulation a BERT pass is what costs). When the text runner cannot run
    there (e.g. no ``tokenizers`` on the device) the check fails with the reason and the
    artifact is still judged from the stored ids (result None: the caller runs those)."""
    try:
        ran = target_for(device).run_text(device, TextRequest(
            bundle=bundle, files=files, runtime=runtime, texts=tuple(picked.texts or ()),
            threads=device.threads, options=device.runtime_options(RUNTIMES.get(runtime).options)))
    except (TargetTimeout, TargetUnreachable, RuntimeUnavailable):
        raise
    except EdgekitError as exc:
        return None, {"examples": len(picked.texts or ()), "error": str(exc), "passed": False}
    n = len(ran.logits)
    mismatched = sorted({name for name, arr in picked.inputs.items()
                         if name not in ran.encoded
                         or not np.array_equal(ran.encoded[name], np.asarray(arr[:n]))})
    result = RunResult(device=device.name, info=ran.info, outputs=ran.logits,
                       emulated=device.emulation is not None)
    return result, {"examples": n, "ids_match_host_tokenizer": not mismatched,
                    "mismatched_inputs": mismatched, "passed": not mismatched}


def validate(bundle: Path, target: str, *, examples: int | None = None,
             seed: int = DEFAULT_SEED, timeout_s: float | None = None) -> dict[str, Any]:
    """Run every artifact of ``bundle`` on ``target`` over a sample of its held-out examples
    (:func:`plan_sample`; under emulation the reference model's own export on a seeded subset
    of it, :func:`plan_reference_sample`), one artifact at a time on a real device and one per
    host core under emulation (:func:`parallel_runners`), each under the device's
    ``remote.timeout_s`` (or ``timeout_s``); ``targets/<device>.json`` is rewritten after every artifact, so what
    finished is kept however the run ends. Artifacts that ran out of time are listed under
    ``timed_out`` and make the result fail. A GPT bundle's KV-cache pairs then generate on
    the target (:mod:`edgekit.validation.ondevice_generation`; ``generation`` in the result)."""
    bundle = bundle.resolve()
    verify_bundle(bundle)  # a tampered bundle is refused before anything in it is read or run
    report = read_bundle(bundle)
    device = settled_device(load_device(target), recipe_threads(report))
    if timeout_s is not None:
        if timeout_s <= 0:
            raise EdgekitError(f"--timeout-s {timeout_s:g}: must be positive", where="--timeout-s",
                               fix="pass the seconds one artifact may run")
        remote = device.remote.model_dump() | {"timeout_s": timeout_s}
        device = device.model_copy(update={"remote": type(device.remote).model_validate(remote)})
    kind = target_for(device)
    if not kind.validates:
        raise EdgekitError(f"target '{device.name}' ({device.scheme}) reports timings only, "
                           "not outputs, so it cannot validate",
                           fix=f"use 'edgekit profile ARTIFACT --target {device.name}'")
    kind.ensure(device)
    held = open_arrays(heldout(bundle, report))  # mapped: read an example at a time
    # Bundles written with validation.max_examples store every held-out input but reference
    # outputs only for the examples proven: judge exactly those.
    drop = report["budgets"]["max_metric_drop"]
    sample = plan_sample(device, drop, len(held["reference"]), examples, seed)
    reference_sample = plan_reference_sample(sample, device, report["budgets"]["min_agreement"],
                                             examples, seed)
    runners = parallel_runners(device, len(report["artifacts"]))
    # Runners sharing the host's cores run one thread each; alone, the profile's threads.
    run_device = device if runners == 1 else device.model_copy(update={"threads": 1})
    out: dict[str, Any] = {"schema": "edgekit.target-validation/1",
                           "target": run_device.model_dump(mode="json"),
                           "parallel_runners": runners,
                           "emulated": device.emulation is not None,
                           "sample": sample.to_json(drop),
                           "reference_sample": reference_sample.to_json(drop)
                           if reference_sample is not None else None,
                           "artifacts": [], "finished": False}
    if ((report.get("extras") or {}).get("generation") or {}).get("pairs") is not None:
        out["generation"] = None  # still to run: saved results do not pass before it has
    with tempfile.TemporaryDirectory(prefix="edgekit-sample-") as tmp:
        picked = take_sample(held, sample, Path(tmp) / "heldout")
        picked_reference = (take_sample(held, reference_sample, Path(tmp) / "heldout-reference")
                            if reference_sample is not None else None)

        def one(artifact: dict[str, Any]) -> dict[str, Any]:
            started = time.monotonic()
            if picked_reference is not None and is_reference_export(artifact):
                assert reference_sample is not None
                entry = validate_artifact(bundle, artifact, report, run_device, reference_sample,
                                          picked_reference)
                entry["sample"] = out["reference_sample"]
            else:
                entry = validate_artifact(bundle, artifact, report, run_device, sample, picked)
            return entry | {"seconds": round(time.monotonic() - started, 2)}

        finished: dict[int, dict[str, Any]] = {}
        order = heaviest_first(bundle, report["artifacts"], sample.size,
                               reference_sample.size if reference_sample is not None else None)
        with closing(run_artifacts(one, report["artifacts"], runners, order)) as results:
            for index, entry in results:
                finished[index] = entry  # kept in the bundle's order, saved as each one ends
                out["artifacts"] = [finished[i] for i in sorted(finished)]
                save(bundle, f"{device.name}.json", _verdict(out, len(report["artifacts"])))
    if "generation" in out:  # a GPT's KV-cache pairs: compress's generation check, re-run there
        out["generation"] = validate_generation(bundle, report, device, seed)
    out["finished"] = True
    result = _verdict(out, len(report["artifacts"]))
    save(bundle, f"{device.name}.json", result)
    return result


def parallel_runners(device: DeviceProfile, artifacts: int) -> int:
    """How many artifacts run at once: one on a real device (its timings are part of the
    proof and must not share its cores), and under emulation one per host core, each runner
    single-threaded. An emulated runner's main thread carries most of its CPU time (57-66 %
    measured for TinyBERT under qemu), so one runner with two threads leaves a core idle much
    of the time while two single-threaded runners keep both busy; the outputs are the same
    (benchmarks/results/tinybert-sst2-arm64-validate.md)."""
    if device.emulation is None:
        return 1
    return max(1, min(artifacts, len(os.sched_getaffinity(0))))


def heaviest_first(bundle: Path, artifacts: list[dict[str, Any]], examples: int,
                   reference_examples: int | None) -> list[int]:
    """The artifacts' indices, costliest first, so that parallel runners finish together (the
    longest-processing-time rule: started last, a long artifact would run alone on one core
    at the end). An artifact's cost is taken as its examples x its files' bytes, with fp16
    files counted double (runtimes widen them to fp32 at load, so they cost what fp32 does):
    weight bytes track a model's multiply-adds, which is what an emulated run spends."""
    def cost(index: int) -> float:
        artifact = artifacts[index]
        size = sum((bundle / f).stat().st_size for f in artifact.get("files", [artifact["file"]])
                   if (bundle / f).is_file())
        n = (reference_examples if reference_examples is not None
             and is_reference_export(artifact) else examples)
        return n * size * (2 if artifact["precision"] == "fp16" else 1)

    return sorted(range(len(artifacts)), key=cost, reverse=True)


def run_artifacts(one: Callable[[dict[str, Any]], dict[str, Any]],
                  artifacts: list[dict[str, Any]], runners: int, order: list[int] | None = None
                  ) -> Generator[tuple[int, dict[str, Any]], None, None]:
    """``(index, one(artifact))`` for each artifact as it finishes, ``runners`` at a time,
    started in ``order`` (indices; default the list's; a single runner keeps the list's). An
    interrupt (Ctrl-C reaches the main thread only) ends every runner's process session
    before it propagates, so no emulator is left running; so does closing the generator (the
    caller's loop ending by an exception of its own)."""
    if runners == 1:
        for index, artifact in enumerate(artifacts):
            yield index, one(artifact)
        return
    pool = ThreadPoolExecutor(max_workers=runners, thread_name_prefix="edgekit-validate")
    try:  # submitted in ``order``: the pool starts them in that order
        futures = {pool.submit(one, artifacts[index]): index
                   for index in (order if order is not None else range(len(artifacts)))}
        for future in as_completed(futures):
            yield futures[future], future.result()
    except BaseException:
        end_all_sessions()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _verdict(out: dict[str, Any], total: int) -> dict[str, Any]:
    """The result so far: passed only when something ran, all of it passed, nothing timed out
    and (while running) every artifact has been reached, and a GPT's pairs have generated."""
    ran = [r for r in out["artifacts"] if "skipped" not in r and "timed_out" not in r]
    generation = out.get("generation") or {}
    generation_pending = "generation" in out and out["generation"] is None
    timed_out = [r["file"] for r in out["artifacts"] if "timed_out" in r] + \
        generation.get("timed_out", [])
    return out | {"hardware": next((r["hardware"] for r in ran if r.get("hardware")), None),
                  "timed_out": timed_out, "pending": total - len(out["artifacts"]),
                  "passed": (bool(ran) and all(r["passed"] for r in ran) and not timed_out
                             and generation.get("passed") is not False and not generation_pending
                             and len(out["artifacts"]) == total)}


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
