"""``edgekit optimize`` end to end on a tiny LeNet-5 search: candidates through the pipeline's
steps, scored on validation, the choice proven once on held-out as a normal bundle, and an
interrupted search resumed without recomputing a finished trial."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

pytest.importorskip("optuna", reason="optuna is missing: pip install 'edgekit[optimize]'")

from edgekit.cli import app  # noqa: E402

SPACE = ("optimize.space={export: [{format: tflite, precision: fp32, model: prune}, "
         "{format: tflite, precision: int8, model: prune}, "
         "{format: onnx, precision: fp32, model: prune}], "
         "compression.prune.target_sparsity: [0.5]}")
TINY = {"train.epochs": 5, "compression.0.epochs": 1, "validation.runs": 10,
        "validation.warmup": 2, "budgets.min_agreement": 0.9}


class Recording:
    """A Progress that records what it was told, and stops the run (as Ctrl-C would) once
    ``stop_after`` trials have finished."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.timings: dict[str, float] = {}
        self.stages: list[str] = []
        self.notes: list[str] = []
        self.stop_after = stop_after

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        self.stages.append(name)
        yield

    def note(self, text: str) -> None:
        self.notes.append(text)
        fronts = sum(n.startswith("front:") for n in self.notes)
        if self.stop_after is not None and fronts >= self.stop_after:
            raise KeyboardInterrupt


def _request(trials: int) -> Any:
    import yaml

    from edgekit.optimize.run import OptimizeRequest

    space = yaml.safe_load(SPACE.split("=", 1)[1])
    return OptimizeRequest("lenet5", target="cpu", max_drop=0.03, objective="size",
                           trials=trials, quick=True,
                           overrides={**TINY, "optimize.space": space})  # monotone: the recipe's


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from edgekit.optimize.run import optimize

    out = tmp_path_factory.mktemp("opt") / "lenet5-opt"
    first = Recording(stop_after=2)
    with pytest.raises(KeyboardInterrupt):  # interrupted after 2 finished trials
        optimize(_request(3), out, first)
    second = Recording()
    result = optimize(_request(3), out, second)
    return {"out": out, "result": result, "first": first, "second": second}


def test_interrupted_search_resumes_without_recomputing(searched: dict[str, Any]) -> None:
    first, second = searched["first"], searched["second"]
    assert sum(s.startswith("trial ") for s in first.stages) == 2
    assert any(n.startswith("resuming: 2 trials") for n in second.notes)
    assert sum(s.startswith("trial ") for s in second.stages) == 1  # only the third
    trials = searched["result"]["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert len({json.dumps(t["applied"], sort_keys=True) for t in trials}) == 3
    from edgekit.optimize.run import make_plan

    assert trials[0]["params"] == make_plan(_request(3)).space.start()  # TPE's draws follow


def test_choice_is_on_front_within_budget_and_proven_once(searched: dict[str, Any]) -> None:
    from edgekit.bundle_integrity import verify_bundle
    from edgekit.stage_records import run_folder

    out, result = searched["out"], searched["result"]
    assert json.loads((out / "optimize.json").read_text()) == result
    chosen = result["chosen"]
    assert chosen["trial"] in result["front"]
    trial = result["trials"][chosen["trial"]]
    assert trial["validation"]["passed"] and trial["validation"]["drop"] <= 0.03
    assert trial["validation"]["forecast"]["passes"]
    assert trial["validation"]["forecast"]["drop_high"] <= 0.03
    assert trial["latency_source"] == "measured"
    for t in result["trials"]:  # the float model's own forecast, the dominance skip's input
        own, filed = t["float_forecast"], t["validation"]["forecast"]
        assert own["n_heldout"] == filed["n_heldout"] and 0 <= own["agreement_low"] <= 1
    assert result["skipped"] == [] and result["not_started"] == []  # no out float model here
    sizes = [t["size_bytes"] for t in result["trials"]
             if t["validation"]["passed"] and t["validation"]["forecast"]["passes"]]
    assert trial["size_bytes"] == min(sizes)  # --objective size
    # proven once on held-out: one artifact in the bundle, one proof record in the run folder
    report = json.loads((out / "report.json").read_text())
    assert [a["file"] for a in report["artifacts"]] == [chosen["file"]]
    proofs = [p for p in run_folder(out).iterdir() if p.name.startswith("prove-")]
    assert len(proofs) == 1
    assert chosen["heldout"]["metric"]["value"] == report["artifacts"][0]["metric"]["value"]
    verify_bundle(out)  # optimize.json and the plot are covered by the manifest
    assert 'id="optimize"' in (out / "report.html").read_text()


def test_bundle_is_accepted_by_validate_and_profile(searched: dict[str, Any]) -> None:
    out = searched["out"]
    file = searched["result"]["chosen"]["file"]
    runner = CliRunner()
    res = runner.invoke(app, ["verify", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["profile", str(out / file), "--runs", "5"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["measured"]["latency_ms"]["p50"] > 0
    res = runner.invoke(app, ["validate", str(out)])
    assert res.exit_code in (0, 3), res.output  # it ran; the verdict is the held-out one


def test_dry_run_prints_space_and_size() -> None:
    res = CliRunner().invoke(app, ["optimize", "lenet5", "--quick", "--objective", "size",
                                   "--dry-run"])
    assert res.exit_code == 0, res.output
    assert ("compression.prune.target_sparsity: 0.5, 0.75 (2)  (mildest to strongest)"
            in res.stdout)
    assert "18 combinations" in res.stdout


@pytest.mark.parametrize("space, monotone, said", [
    ("{export: []}", "[]", "has no values"),
    ("{compression.prunee.keep: [0.5]}", "[]", "no stage named 'prunee'"),
    ("{train.epochz: [1, 2]}", "[]", "epochz"),
    ("{train.epochs: [1, 2]}", "[compression.prune.target_sparsity]",
     "monotone knob 'compression.prune.target_sparsity' is not in the space"),
    ("{train.epochs: [1, 2]}", "[train.epochs]", "changes nothing that is trained"),
])
def test_bad_optimize_section_is_one_line(tmp_path: Path, space: str, monotone: str,
                                          said: str) -> None:
    res = CliRunner().invoke(app, ["optimize", "lenet5", "--dry-run", "--set",
                                   f"optimize.space={space}", "--set",
                                   f"optimize.monotone={monotone}"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and said in lines[0], res.output


def test_unreachable_target_gives_labelled_estimate(searched: dict[str, Any],
                                                    tmp_path: Path) -> None:
    """adb is not installed here (nor a phone attached): the latency is the roofline estimate,
    and the trial says so."""
    from edgekit.devices import load_device
    from edgekit.optimize.score import ESTIMATED, target_latency
    from edgekit.targets import target_for

    android = load_device("android")
    if target_for(android).missing(android) is None:
        pytest.skip("an Android device is reachable here: the latency would be measured")
    from edgekit.data import DATASETS, SplitPlan

    loader = DATASETS.get("sklearn_digits")
    data = loader.load(loader.Config.model_validate({"image_size": 32}), SplitPlan(0.25, 0.1, 0))
    import shutil

    art = tmp_path / Path(searched["result"]["chosen"]["file"]).name  # a loose copy: profile
    shutil.copy(searched["out"] / searched["result"]["chosen"]["file"], art)  # saves into bundles
    lat = target_latency(art, None, android, data.val, tmp_path)  # type: ignore[arg-type]
    assert lat.source == ESTIMATED and lat.ms is not None and lat.ms > 0
    assert "roofline" in lat.detail


def test_knobs_apply_only_where_they_mean_something() -> None:
    """An exporter option applies only to a format that has it, a stage knob adds or drops
    the stage, and stages after what a candidate ships are not trained: two samples that
    differ only in a knob that does not apply are one candidate."""
    from edgekit.optimize.run import (OptimizeRequest, option_fields, distinct_candidates,
                                      make_plan)
    from edgekit.optimize.space import candidate_key, candidate_overrides

    # the built-in space leaves OpenVINO int8 out (dominated on latency on x86): add it back
    ov_entry = {"format": "openvino", "precision": "int8",
                "options": {"static_op_types": ["MatMul", "Gemm"],
                            "fallback_min_agreement": 0.99}}
    space_with_ov = {"export": [{"format": "tflite", "precision": "fp32"}, ov_entry],
                     "compression.ffn_prune": [False, {"keep": 0.5, "epochs": 2}],
                     "export.options.fallback_min_agreement": [0.97, 0.99]}
    plan = make_plan(OptimizeRequest("distilbert", quick=True,
                                     overrides={"optimize.space": space_with_ov,
                                                "optimize.monotone": []}))
    space = plan.space
    labels = {k.path: k.labels for k in space.knobs}
    first = {k.path: k.labels[0] for k in space.knobs}  # tflite fp32, prunes off
    ov_int8 = next(lab for lab in labels["export"] if "openvino" in lab and "int8" in lab)
    fb = labels["export.options.fallback_min_agreement"]

    def derive(**changes: str) -> tuple[dict[str, Any], dict[str, Any]]:
        params = {**first, **{k.replace("__", "."): v for k, v in changes.items()}}
        return candidate_overrides(plan.raw, space, params, option_fields)

    a = derive(export__options__fallback_min_agreement=fb[0])
    b = derive(export__options__fallback_min_agreement=fb[1])
    assert candidate_key(a[1]) == candidate_key(b[1])  # the tflite fp32 entry sets no fallback
    c = derive(export=ov_int8, export__options__fallback_min_agreement="0.97")
    assert c[0]["export"][0]["options"]["fallback_min_agreement"] == 0.97
    on = next(lab for lab in labels["compression.ffn_prune"] if lab != "false")
    d = derive(compression__ffn_prune=on)
    assert [e["stage"] for e in d[0]["compression"]] == ["distilbert", "ffn_prune"]
    assert [e["stage"] for e in a[0]["compression"]] == ["distilbert"]
    assert distinct_candidates(plan) < space.size


def test_the_grid_trains_one_chain_at_a_time() -> None:
    """The grid varies the knobs that change what is trained slowest, so each chain's export
    and thread choices follow it: distilbert's space switches chains 8 times for 9 chains, not
    at every other candidate (export-major order evicted prunes from the stage cache)."""
    from edgekit.optimize.run import OptimizeRequest, make_plan

    space = make_plan(OptimizeRequest("distilbert", quick=True)).space
    grid = space.grid()
    chains = [tuple(p[k] for k in sorted(p) if k.startswith("compression.")) for p in grid]
    switches = sum(a != b for a, b in zip(chains, chains[1:]))
    assert len(grid) == space.size and len(set(map(str, grid))) == space.size
    assert switches == len(set(chains)) - 1 == 8


def test_the_search_starts_from_the_recipe_s_own_chain() -> None:
    """Space.start: every optional stage off (its chain is the baseline, trained anyway) and
    every other knob at its first value."""
    from edgekit.optimize.run import OptimizeRequest, make_plan

    space = make_plan(OptimizeRequest("distilbert", quick=True)).space
    start = space.start()
    assert start["compression.ffn_prune"] == start["compression.head_prune"] == "false"
    assert start["export"] == space.knobs[0].labels[0] and start["validation.threads"] == "1"
    assert set(start) == {k.path for k in space.knobs}


def test_budget_durations() -> None:
    from edgekit.errors import EdgekitError
    from edgekit.optimize.run import parse_budget

    assert parse_budget("45m") == 2700 and parse_budget("90s") == 90
    assert parse_budget("1.5h") == 5400 and parse_budget("30") == 30
    for bad in ("soon", "-5m", "0"):
        with pytest.raises(EdgekitError):
            parse_budget(bad)


def test_candidates_sharing_a_stage_chain_load_and_predict_it_once(
        searched: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two candidates that differ only in the export choice share their models: read from the
    stage cache and run over the validation split once (not once per candidate), and scored
    as the search scored them."""
    import edgekit.optimize.candidate as candidate
    from edgekit.optimize.run import load_candidate, make_plan, option_fields
    from edgekit.optimize.space import candidate_overrides
    from edgekit.progress import SilentProgress

    predicted: list[Any] = []
    real = candidate.predict
    monkeypatch.setattr(candidate, "predict",
                        lambda model, split: predicted.append(model) or real(model, split))
    plan = make_plan(_request(3))
    memo, chains = candidate.DataMemo(), candidate.ChainMemo()
    outcomes, after_each = [], []
    for params in plan.space.grid()[:2]:  # two export choices of one pruned model
        recipe = load_candidate(candidate_overrides(plan.raw, plan.space, params,
                                                    option_fields)[0], tmp_path)
        outcomes.append(candidate.run_candidate(recipe, searched["out"], plan.target, memo,
                                                tmp_path / "scratch", SilentProgress(), chains))
        after_each.append(len(predicted))
    assert chains.loaded == 1
    assert after_each[0] >= 2 and after_each[1] == after_each[0]  # reference + prune, once
    scored = {t["artifact"]: t["validation"]["metric"] for t in searched["result"]["trials"]}
    assert [o.score.metric for o in outcomes if o.score] == [scored[o.artifact] for o in outcomes]


def test_heldout_forecast_is_calibrated_and_rules_out_a_winner_at_the_line() -> None:
    """The forecast bound of a fresh sample's share misses (fresh share below it) about 5% of
    the time, drawn from binomials; SST-2's point-estimate winner (95.6% agreement on 3,368
    validation sentences, 94.0% on the 872 held-out) is no longer eligible."""
    import numpy as np

    from edgekit.validation.intervals import forecast_share_low

    rng = np.random.default_rng(0)
    n, n_next, p = 3368, 872, 0.96
    seen = rng.binomial(n, p, 4000) / n
    fresh = rng.binomial(n_next, p, 4000) / n_next
    bounds = np.array([forecast_share_low(s, n, n_next) for s in seen])
    miss = float(np.mean(fresh < bounds))
    assert 0.03 < miss < 0.07, miss
    assert forecast_share_low(0.9564, n, n_next) < 0.95 <= forecast_share_low(0.9653, n, n_next)


def test_a_trial_forecast_to_fail_heldout_is_not_chosen() -> None:
    from edgekit.optimize.front import choose
    from edgekit.optimize.trials import COMPLETE, Trial

    def trial(number: int, latency: float, passes: bool) -> Trial:
        return Trial(number=number, params={}, applied={}, status=COMPLETE, keras_drop=0.0,
                     validation={"metric": 0.9, "drop": 0.0, "passed": True,
                                 "forecast": {"passes": passes}},
                     latency_ms=latency, size_bytes=100)

    at_the_line, safe = trial(0, 0.7, passes=False), trial(1, 0.9, passes=True)
    assert choose([at_the_line, safe], "latency") is safe
    assert choose([at_the_line], "latency") is None


def _distilbert_space() -> Any:
    from edgekit.optimize.run import OptimizeRequest, make_plan

    return make_plan(OptimizeRequest("distilbert", quick=True)).space


def test_mildest_prunes_are_probed_first_and_rule_out_stronger_ones() -> None:
    """After the start, each monotone knob one step stronger; a candidate compressed at least
    as strongly as one whose float model was out is dominated, whatever file it exports, but
    not one that is milder in any knob, nor one converting another source model."""
    space = _distilbert_space()
    lab = {k.path: k.labels for k in space.knobs}
    start = space.start()
    ffn, head = lab["compression.ffn_prune"], lab["compression.head_prune"]
    assert '"keep":0.75' in ffn[1] and '"heads":8' in head[1]  # listed mildest first
    assert space.probes() == [{**start, "compression.ffn_prune": ffn[1]},
                              {**start, "compression.head_prune": head[1]}]
    mild_ffn = space.probes()[0]
    stronger = {**start, "compression.ffn_prune": ffn[2], "compression.head_prune": head[1],
                "export": lab["export"][1], "validation.threads": lab["validation.threads"][1]}
    assert space.dominates(mild_ffn, stronger)
    assert space.dominates(mild_ffn, {**mild_ffn, "export": lab["export"][1]})  # same model
    assert not space.dominates(mild_ffn, space.probes()[1])  # milder in ffn_prune
    assert not space.dominates(mild_ffn, start)

    from edgekit.optimize.space import Knob, Space

    models = Space((Knob("export", ({"format": "tflite", "model": "prune"},
                                    {"format": "tflite", "model": "qat"})),
                    Knob("compression.prune.target_sparsity", (0.5, 0.75))),
                   frozenset({"compression.prune.target_sparsity"}))
    out = {"export": models.knobs[0].labels[0], "compression.prune.target_sparsity": "0.5"}
    assert models.dominates(out, {**out, "compression.prune.target_sparsity": "0.75"})
    assert not models.dominates(out, {**out, "export": models.knobs[0].labels[1]})


class FakeClock:
    """Seconds that pass only when a synthetic trial says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _synthetic(space: Any, out_if: Any, clock: FakeClock | None = None,
               chain_s: float = 100.0, file_s: float = 1.0) -> tuple[Any, list[Any]]:
    """An evaluate() over a made-up landscape (the search's logic, not a runtime: runtimes
    are what the end-to-end tests above run): a chain is out when ``out_if(params)``;
    latency falls as compression grows; a trial costs ``chain_s`` on the clock when its chain
    is new (the start's chain: ``file_s``, trained before the search), else ``file_s``."""
    from edgekit.optimize.space import label
    from edgekit.optimize.trials import COMPLETE, PRUNED, Trial

    known: list[Trial] = []

    def chain(params: dict[str, str]) -> tuple[str, ...]:
        return tuple(v for k, v in sorted(params.items()) if k.startswith("compression."))

    def evaluate(params: dict[str, str]) -> tuple[Trial, bool]:
        for t in known:
            if label(t.params) == label(params):
                return t, False
        fresh = chain(params) not in {chain(t.params) for t in known}
        cost = chain_s if fresh and chain(params) != chain(space.start()) else file_s
        if clock is not None:
            clock.now += cost
        strength = sum(k.labels.index(params[k.path]) for k in space.knobs
                       if k.path in space.monotone)
        out = out_if(params)
        t = Trial(number=len(known), params=params, applied=dict(params),
                  status=PRUNED if out else COMPLETE, keras_drop=0.05 if out else 0.0,
                  validation=None if out else {
                      "metric": 0.9, "drop": 0.0, "passed": True,
                      "forecast": {"passes": True, "drop_high": 0.0}},
                  latency_ms=None if out else 10.0 - strength, size_bytes=100, wall_s=cost)
        known.append(t)
        return t, True
    return evaluate, known


def test_search_trains_only_chains_that_no_failed_milder_one_rules_out() -> None:
    """On distilbert's space, where every prune is out (SST-2 at 4,000 sentences): the start's
    chain (every file of it), one file of each mildest prune, and nothing else; the other
    candidates are reported skipped, each naming the trial that ruled it out."""
    from edgekit.optimize.search import search
    from edgekit.optimize.space import label

    space = _distilbert_space()
    pruned = lambda p: p["compression.ffn_prune"] != "false" or \
        p["compression.head_prune"] != "false"  # noqa: E731
    evaluate, known = _synthetic(space, pruned)
    skipped = search(space, evaluate, known, strategy="tpe", trials=None, timeout_s=None,
                     objective="latency", higher_is_better=True, key=label).skipped
    chains = {(t.params["compression.ffn_prune"], t.params["compression.head_prune"])
              for t in known}
    assert len(known) == 6 and len(chains) == 3, [t.params for t in known]
    assert sum(not pruned(t.params) for t in known) == 4  # every file of the start's chain
    assert len(known) + len(skipped) == space.size
    outs = {t.number for t in known if t.float_out}
    assert {s.by for s in skipped} <= outs and all(
        space.dominates(known[s.by].params, s.params) for s in skipped)


def test_search_goes_on_past_a_mild_prune_that_holds() -> None:
    """Where only the strongest FFN prune is out, nothing milder is skipped: the search tries
    every candidate the out chain does not dominate."""
    from edgekit.optimize.search import search
    from edgekit.optimize.space import label

    space = _distilbert_space()
    strongest = space.knobs[1].labels[-1]
    assert space.knobs[1].path == "compression.ffn_prune"
    evaluate, known = _synthetic(space, lambda p: p["compression.ffn_prune"] == strongest)
    skipped = search(space, evaluate, known, strategy="tpe", trials=None, timeout_s=None,
                     objective="latency", higher_is_better=True, key=label).skipped
    tried_strongest = [t for t in known if t.params["compression.ffn_prune"] == strongest]
    assert 1 <= len(tried_strongest) <= 3  # at most one file per head_prune size
    assert skipped and all(s.params["compression.ffn_prune"] == strongest for s in skipped)
    assert len(known) + len(skipped) == space.size


def test_budget_starts_no_chain_that_cannot_finish_in_time() -> None:
    """With --budget 150 s and chains of 100 s: the start's files (trained already), one
    probe's chain, then only files of trained chains; the second probe's chain is not started
    at 101 s (it would end near 201 s), and the search says so instead of overrunning."""
    from edgekit.optimize.search import search
    from edgekit.optimize.space import label

    space = _distilbert_space()
    clock = FakeClock()
    evaluate, known = _synthetic(space, lambda p: False, clock)  # every chain within budget
    left = search(space, evaluate, known, strategy="tpe", trials=None, timeout_s=150.0,
                  objective="latency", higher_is_better=True, key=label, clock=clock)
    chains = {(t.params["compression.ffn_prune"], t.params["compression.head_prune"])
              for t in known}
    assert len(chains) == 2 and clock.now <= 150.0, (chains, clock.now)
    assert left.not_started and not left.skipped
    assert all((p["compression.ffn_prune"], p["compression.head_prune"]) not in chains
               for p in left.not_started)
    assert len(known) >= 5  # the trained chains' cheap files were still tried
