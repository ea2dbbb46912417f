"""The one budget judgement (edgekit.validation.verdict): intervals on constructed outcomes,
the sentence a failure prints, per-class metrics against scikit-learn, and the judgement
compress and validate share, on a real bundle and a real tiny compress."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import LENET_MINIMAL, run_cli, write_recipe
from edgekit.data import Split
from edgekit.recipe.schema import Budgets
from edgekit.resolution import examples_to_resolve, resolves
from edgekit.tasks import TASKS
from edgekit.validation.intervals import wilson
from edgekit.validation.verdict import (Evidence, agreement_with, budget_metric, drop_interval,
                                        judge, resolution_warning)

CLASSIFICATION = TASKS.get("classification")


def logits_for(predictions: np.ndarray, classes: int = 2) -> np.ndarray:
    """One-hot logits whose argmax is ``predictions``."""
    return np.eye(classes, dtype=np.float32)[predictions]


def outcome_pair(n: int, baseline_wrong: int, artifact_extra_wrong: int) -> tuple[Split, np.ndarray, np.ndarray]:
    """Labels all 0; the baseline misses the first ``baseline_wrong`` examples, the artifact
    those and the next ``artifact_extra_wrong`` (the discordant pairs all go one way)."""
    labels = np.zeros(n, np.int64)
    base = np.zeros(n, np.int64)
    base[:baseline_wrong] = 1
    art = base.copy()
    art[baseline_wrong:baseline_wrong + artifact_extra_wrong] = 1
    split = Split({"x": np.zeros((n, 1), np.float32)}, labels)
    return split, logits_for(base), logits_for(art)


def verdict_for(split: Split, base: np.ndarray, art: np.ndarray, budgets: Budgets):
    metric = budget_metric(CLASSIFICATION, budgets)
    agreement, agreement_ci = agreement_with(CLASSIFICATION, art, base)
    evidence = Evidence(
        metric=metric.name, share=metric.share, higher_is_better=metric.higher_is_better,
        value=metric.evaluate(art, split), baseline="reference",
        baseline_value=metric.evaluate(base, split),
        drop_interval=drop_interval(CLASSIFICATION, metric, art, split, base,
                                    metric.evaluate(base, split)),
        reference_value=metric.evaluate(base, split), n_examples=len(split),
        agreement=agreement, agreement_interval=agreement_ci)
    return evidence, judge(evidence, budgets)


def test_losing_three_points_on_400_examples_fails_significantly() -> None:
    split, base, art = outcome_pair(400, baseline_wrong=20, artifact_extra_wrong=12)
    evidence, verdict = verdict_for(split, base, art, Budgets(max_metric_drop=0.01, min_agreement=0.9))
    assert evidence.drop == pytest.approx(0.03)
    ci = evidence.drop_interval
    assert ci.low > 0.01 and ci.low < 0.03 < ci.high  # the whole interval beyond the budget
    assert not verdict.passed and verdict.significant
    (failure,) = verdict.failures
    assert failure.name == "metric_drop" and failure.significant is True
    assert failure.sentence.startswith("accuracy drop 3.00 points (95% CI ")
    assert "exceeds the 1-point budget" in failure.sentence and "significant" in failure.sentence
    assert verdict.summary() == "FAIL: " + failure.sentence
    assert "{" not in verdict.summary()  # a sentence, not a dict


def test_a_one_example_difference_fails_the_budget_but_is_not_significant() -> None:
    split, base, art = outcome_pair(400, baseline_wrong=20, artifact_extra_wrong=1)
    evidence, verdict = verdict_for(split, base, art, Budgets(max_metric_drop=0.002, min_agreement=0.9))
    assert evidence.drop == pytest.approx(0.0025)  # one example of 400 > a 0.2-point budget
    assert evidence.drop_interval.low <= 0.002  # the interval reaches back into the budget
    assert not verdict.passed and verdict.significant is False
    assert "within the noise of 400 held-out examples" in verdict.summary()


def test_no_loss_passes_with_a_degenerate_interval_and_same_seed_same_interval() -> None:
    split, base, _ = outcome_pair(200, baseline_wrong=10, artifact_extra_wrong=0)
    evidence, verdict = verdict_for(split, base, base, Budgets())
    assert verdict.passed and verdict.significant is None and verdict.summary() == "pass"
    assert (evidence.drop_interval.low, evidence.drop_interval.high) == (0.0, 0.0)
    split, base, art = outcome_pair(300, 15, 5)
    first, _ = verdict_for(split, base, art, Budgets())
    again, _ = verdict_for(split, base, art, Budgets())
    assert first.drop_interval == again.drop_interval  # seeded: reproducible


def test_agreement_failure_significance_follows_its_wilson_interval() -> None:
    split, base, art = outcome_pair(400, baseline_wrong=0, artifact_extra_wrong=40)  # 90% agree
    _, verdict = verdict_for(split, base, art, Budgets(max_metric_drop=1.0, min_agreement=0.95))
    (failure,) = verdict.failures
    assert failure.name == "agreement" and failure.significant is True
    assert failure.interval.high < 0.95
    _, close = verdict_for(split, base, art, Budgets(max_metric_drop=1.0, min_agreement=0.905))
    assert close.failures[0].significant is False  # 90.0% vs 90.5% on 400 examples


def test_wilson_interval_matches_the_textbook_value() -> None:
    ci = wilson(95, 100)  # Newcombe (1998): 0.8882 to 0.9785
    assert ci.low == pytest.approx(0.8882, abs=1e-4) and ci.high == pytest.approx(0.9785, abs=1e-4)
    assert wilson(100, 100).high == 1.0 and wilson(100, 100).low < 1.0


def test_per_class_metrics_match_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(3)
    labels = rng.choice(3, size=300, p=[0.8, 0.15, 0.05])
    predictions = np.where(rng.random(300) < 0.85, labels, rng.integers(0, 3, 300))
    outputs = logits_for(predictions, 3)
    report = CLASSIFICATION.per_class(outputs, labels)
    p, r, f, support = precision_recall_fscore_support(labels, predictions, zero_division=0)
    assert [c["precision"] for c in report["classes"]] == pytest.approx(list(p))
    assert [c["recall"] for c in report["classes"]] == pytest.approx(list(r))
    assert [c["f1"] for c in report["classes"]] == pytest.approx(list(f))
    assert [c["support"] for c in report["classes"]] == list(support)
    assert report["macro_f1"] == pytest.approx(float(np.mean(f)))
    split = Split({"x": np.zeros((300, 1))}, labels)
    assert CLASSIFICATION.metric_named("macro_f1").evaluate(outputs, split) == pytest.approx(np.mean(f))
    assert CLASSIFICATION.metric_named("recall[2]").evaluate(outputs, split) == pytest.approx(r[2])
    assert CLASSIFICATION.metric_named(None).evaluate(outputs, split) == pytest.approx(
        accuracy_score(labels, predictions))
    assert CLASSIFICATION.metric_named("auc") is None


def test_resolution_warning_names_the_examples_needed() -> None:
    metric = CLASSIFICATION.metric_named(None)
    line = resolution_warning(metric, 360, Budgets(max_metric_drop=0.01))
    assert line is not None and "360 held-out examples" in line
    assert f"{examples_to_resolve(0.01)} examples would be needed" in line and "\n" not in line
    assert resolution_warning(metric, examples_to_resolve(0.01), Budgets(max_metric_drop=0.01)) is None
    # macro-F1 is not a share of examples: the one-example rule does not apply
    assert resolution_warning(CLASSIFICATION.metric_named("macro_f1"), 10, Budgets()) is None


# --- real bundles -----------------------------------------------------------------------------

def test_report_carries_intervals_verdicts_classes_and_hardware(lenet_bundle: tuple[Path, dict]) -> None:
    _, report = lenet_bundle
    hw = report["environment"]["hardware"]
    assert hw["cpu"]["model"] and hw["cpu"]["arch"] and isinstance(hw["gpus"], list)
    assert report["proved_on"].startswith("this machine: ") and hw["cpu"]["model"] in report["proved_on"]
    assert "significant" in report["verdict_rule"]
    n = report["dataset"]["test_examples"]
    if resolves(n, report["budgets"]["max_metric_drop"]):
        assert report["dataset"]["resolution_warning"] is None
    else:
        assert f"{examples_to_resolve(report['budgets']['max_metric_drop'])} examples would be needed" \
            in report["dataset"]["resolution_warning"]
    assert report["reference"]["classes"]["macro_f1"] > 0.5
    assert len(report["reference"]["classes"]["classes"]) == 10
    for art in report["artifacts"]:
        assert art["target"] == report["proved_on"]  # the machine that ran it, not a profile
        ci = art["baseline"]["metric_drop_ci95"]
        assert ci["low"] <= art["baseline"]["metric_drop"] <= ci["high"]
        assert "paired bootstrap" in ci["method"]
        aci = art["agreement_ci95"]
        assert aci["low"] <= art["agreement"] <= aci["high"] and aci["method"] == "Wilson score interval"
        verdict = art["verdict"]
        assert verdict["passed"] == art["passed"] == all(art["checks"].values())
        assert {c["name"] for c in verdict["checks"]} == set(art["checks"])
        assert verdict["n_examples"] == n
        assert art["classes"]["macro_f1"] == pytest.approx(np.mean([c["f1"] for c in art["classes"]["classes"]]))


def test_validate_judges_as_compress_did_and_names_the_hardware(lenet_bundle: tuple[Path, dict],
                                                                tmp_path: Path) -> None:
    """Same machine, same runtime: validate's verdict and intervals are compress's, because
    both call the one judgement."""
    from edgekit.validation.ondevice import validate

    bundle = tmp_path / "bundle"
    shutil.copytree(lenet_bundle[0], bundle)
    report = json.loads((bundle / "report.json").read_text())
    result = validate(bundle, "cpu")
    assert result["hardware"]["cpu"]["model"] == report["environment"]["hardware"]["cpu"]["model"]
    by_file = {a["file"]: a for a in report["artifacts"]}
    for got in result["artifacts"]:
        if "skipped" in got:
            continue
        want = by_file[got["file"]]
        assert got["hardware"]["cpu"]["flags"] == report["environment"]["hardware"]["cpu"]["flags"]
        if got["runtime"] == want["runtime"]:
            assert got["metric"] == want["metric"]
            assert got["metric_drop_ci95"] == want["baseline"]["metric_drop_ci95"]
            assert got["verdict"]["summary"] == want["verdict"]["summary"]


def test_budget_on_macro_f1_through_a_real_compress(tmp_path: Path) -> None:
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    recipe = write_recipe(tmp_path / "tiny.yaml", LENET_MINIMAL + "budgets: {metric: macro_f1}\n")
    report = compress(load_recipe(str(recipe)), tmp_path / "bundle")
    assert report["budgets"]["metric"] == "macro_f1"
    assert report["reference"]["metric"] == "macro_f1"
    assert report["reference"]["value"] == pytest.approx(report["reference"]["classes"]["macro_f1"])
    (art,) = report["artifacts"]
    assert art["metric"]["name"] == "macro_f1"
    assert art["metric"]["value"] == pytest.approx(art["classes"]["macro_f1"])
    assert art["verdict"]["checks"][0]["sentence"].startswith("macro_f1 drop ")
    assert json.loads((tmp_path / "bundle" / "report.json").read_text())["budgets"]["metric"] == "macro_f1"


def test_failed_checks_print_as_sentences_with_intervals(tmp_path: Path) -> None:
    """The real CLI: a size budget the file cannot meet fails with a sentence (exit 3), every
    proof line shows the drop's interval, and the too-small split is warned about at load."""
    recipe = write_recipe(tmp_path / "tiny.yaml", LENET_MINIMAL + "budgets: {max_size_bytes: 1000}\n")
    done = run_cli("compress", str(recipe), "--out", str(tmp_path / "bundle"))
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 3, done.stdout + done.stderr
    (proof,) = [line for line in lines if "FAIL: size " in line]  # one line per artifact
    assert "exceeds the 1,000 B budget" in proof and "(95% CI " in proof and "{'" not in proof
    (warning,) = [line for line in lines if "cannot resolve" in line]
    assert "360 held-out examples cannot resolve a 1-point accuracy budget" in warning
    assert f"{examples_to_resolve(0.01)} examples would be needed" in warning


@pytest.mark.parametrize("device", ["rpi4", "android"])
def test_a_remote_validation_device_is_refused_before_training(tmp_path: Path, device: str) -> None:
    recipe = write_recipe(tmp_path / "tiny.yaml", LENET_MINIMAL + f"validation: {{device: {device}}}\n")
    out = tmp_path / "bundle"
    done = run_cli("compress", str(recipe), "--out", str(out), timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "validation.device" in lines[0]
    assert f"edgekit validate BUNDLE --target {device}" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # nothing written


def test_an_unknown_or_missing_class_metric_fails_in_one_line(tmp_path: Path) -> None:
    unknown = write_recipe(tmp_path / "a.yaml", LENET_MINIMAL + "budgets: {metric: auc}\n")
    done = run_cli("compress", str(unknown), "--out", str(tmp_path / "a"), timeout=120)
    assert done.returncode == 2 and "budgets.metric" in done.stderr and "macro_f1" in done.stderr
    missing = write_recipe(tmp_path / "b.yaml", LENET_MINIMAL + "budgets: {metric: 'f1[12]'}\n")
    done = run_cli("compress", str(missing), "--out", str(tmp_path / "b"), timeout=120)
    assert done.returncode == 2 and "budgets.metric" in done.stderr and "below 10" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]


def test_resampled_metrics_equal_their_definitions() -> None:
    """The cheap per-example forms the bootstrap resamples (rank AUROC, Fréchet on fixed PCA
    features) give the metric itself, checked against scikit-learn and scipy's sqrtm."""
    from scipy import linalg
    from sklearn.metrics import roc_auc_score

    from edgekit.tasks.anomaly import auroc
    from edgekit.tasks.generation import COMPONENTS, pca_features

    rng = np.random.default_rng(5)
    scores, labels = np.round(rng.random(300), 2), rng.integers(0, 2, 300)  # with ties
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    with pytest.raises(ValueError):
        auroc(scores, np.zeros(300))

    real, fake = rng.random((200, 8, 8)), rng.random((200, 8, 8)) * 0.8
    features = pca_features(fake, real)
    a, b = features[:, :COMPONENTS], features[:, COMPONENTS:]
    eps = 1e-6 * np.eye(COMPONENTS)
    cov_a, cov_b = np.cov(a, rowvar=False) + eps, np.cov(b, rowvar=False) + eps
    textbook = float(np.sum((a.mean(0) - b.mean(0)) ** 2)
                     + np.trace(cov_a + cov_b - 2 * linalg.sqrtm(cov_a @ cov_b).real))
    generation = TASKS.get("generation").default_metric
    split = Split({"z": np.zeros((200, 4))}, real)
    assert generation.evaluate(fake, split) == pytest.approx(textbook, rel=1e-9)
    assert generation.resampler(fake, split)(np.arange(200)) == pytest.approx(textbook, rel=1e-9)

    anomaly = TASKS.get("anomaly").default_metric
    images = rng.random((120, 4, 4, 1)).astype(np.float32)
    outputs = images + rng.normal(0, 0.1, images.shape).astype(np.float32)
    split = Split({"image": images}, rng.integers(0, 2, 120))
    assert anomaly.resampler(outputs, split)(np.arange(120)) == anomaly.evaluate(outputs, split)


def test_half_float_tolerance_follows_the_outputs_scale() -> None:
    """bf16 and fp16 are judged against 8 units of their rounding at the outputs' largest
    magnitude (or the family's absolute figure, whichever is looser); fp32 keeps its absolute
    figure; int8 has none. A file off by a good share of its outputs still fails."""
    from edgekit.families import FAMILIES
    from edgekit.validation.prove import family_atol

    cnn = FAMILIES.get("cnn").conversion_atol
    assert family_atol(cnn, "fp32", "bf16", peak=1.0) == cnn["bf16"]  # small outputs: absolute
    loose = family_atol(cnn, "fp32", "bf16", peak=12.0)
    assert loose == pytest.approx(12.0 * 8 / 256) and loose > 0.212  # full inception's 0.212
    assert loose < 0.1 * 12.0  # a conversion 10% off at that scale fails
    assert family_atol(cnn, "fp32", "fp32", peak=1e4) == cnn["fp32"]
    assert family_atol(cnn, "fp16", "fp32", peak=100.0) == pytest.approx(100.0 * 8 / 2048)
    assert family_atol(cnn, "int8", "int8", peak=10.0) is None
