"""``benchmarks/families.py --full`` (issue 15 part 2): full-size results go to their own
files, one row per recipe with the child's wall time and peak memory, and the quick tables
(families.md/json, README's table) are left alone."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import families_full  # noqa: E402  (a benchmark script, not a package)

from edgekit.recipe import recipe_summaries  # noqa: E402

TINY = """\
name: tiny_full
family: feedforward
description: one epoch and one artifact, enough to exercise the --full results path
model: {builder: perceptron}
data: {dataset: breast_cancer, test_fraction: 0.25, val_fraction: 0.1}
train: {epochs: 1, batch_size: 64, learning_rate: 0.01}
export: [{format: tflite, precision: fp32}]
budgets: {max_metric_drop: 1.0, min_agreement: 0.0}
validation: {warmup: 1, runs: 3}
"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def test_full_run_writes_its_own_rows_and_leaves_the_quick_tables(tmp_path: Path) -> None:
    recipe = tmp_path / "tiny_full.yaml"
    recipe.write_text(TINY)
    out = tmp_path / "results"
    watched = [ROOT / "benchmarks" / "results" / "families.md",
               ROOT / "benchmarks" / "results" / "families.json", ROOT / "README.md"]
    before = [_digest(p) for p in watched]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "families.py"), "--full",
                           "--recipes", str(recipe), "--results-dir", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["families-full.json", "families-full.md"]
    assert [_digest(p) for p in watched] == before
    row = json.loads((out / "families-full.json").read_text())["tiny_full"]
    assert row["error"] is None and row["exit_code"] == 0, done.stdout[-2000:]
    assert row["wall_s"] > 0 and row["peak_rss_mb"] > 50  # a TensorFlow process, not the parent's 0
    assert row["reference"]["metric"] == "accuracy" and len(row["artifacts"]) == 1
    assert len(row["load_before"]) == 3 and len(row["load_after"]) == 3
    assert row["timings_s"]["train"] > 0
    table = (out / "families-full.md").read_text()
    assert "| tiny_full | feedforward | breast_cancer (" in table
    assert "## Not yet run at full size" in table


def _run(**over: object) -> families_full.FullRun:
    base: dict[str, object] = dict(
        recipe="r", family="feedforward", wall_s=60.0, peak_rss_mb=500.0,
        load_before=(1.0, 1.0, 1.0), load_after=(1.0, 1.0, 1.0), exit_code=0, command="c",
        started="t", reference={"metric": "accuracy", "value": 0.90, "higher_is_better": True})
    return families_full.FullRun.model_validate({**base, **over})


def test_flags_follow_the_issues_two_rules() -> None:
    fig = families_full.PublishedFigure(value=0.97, metric="accuracy", source="s")
    assert families_full.flags(_run(), fig) == [f"{0.07:.3f} below published (> 0.05)"]
    assert families_full.flags(_run(reference={"metric": "accuracy", "value": 0.95,
                                               "higher_is_better": True}), fig) == []
    assert families_full.flags(_run(wall_s=31 * 60.0), None) == ["over 30 min (31 min)"]
    lower = families_full.PublishedFigure(value=0.40, metric="mae", source="s", far_below=0.05)
    worse = _run(reference={"metric": "mae", "value": 0.50, "higher_is_better": False})
    assert families_full.flags(worse, lower)[0].startswith("0.100 below published")
    failing = _run(artifacts=[{"passed": False}, {"passed": True}])
    assert families_full.flags(failing, None) == ["1/2 artifacts fail their budgets"]
    unknown = families_full.PublishedFigure(value=None, metric="accuracy", source="none found")
    assert families_full.flags(_run(reference={"metric": "accuracy", "value": 0.1,
                                               "higher_is_better": True}), unknown) == []


def test_a_reference_no_better_than_a_trivial_model_is_flagged() -> None:
    noise = families_full.PublishedFigure(
        value=None, metric="frechet_pca", source="none found",
        trivial=families_full.TrivialFloor(value=52.8, what="the mean image repeated"))
    broken = _run(reference={"metric": "frechet_pca", "value": 73.4, "higher_is_better": False})
    assert families_full.flags(broken, noise) == ["no better than the mean image repeated (52.8)"]
    fine = _run(reference={"metric": "frechet_pca", "value": 12.1, "higher_is_better": False})
    assert families_full.flags(fine, noise) == []
    # accuracy: the held-out share of the most frequent class, from the per-class support
    classes = {"classes": [{"support": 70}, {"support": 30}]}
    guess = _run(reference={"metric": "accuracy", "value": 0.70, "higher_is_better": True,
                            "classes": classes})
    assert families_full.flags(guess, None) == ["no better than always the majority class (0.7)"]
    learned = _run(reference={"metric": "accuracy", "value": 0.71, "higher_is_better": True,
                              "classes": classes})
    assert families_full.flags(learned, None) == []


def test_published_figures_are_data_for_built_in_recipes_with_a_source() -> None:
    figures = families_full.load_published()
    names = {s.name for s in recipe_summaries()}
    assert set(figures) <= names, sorted(set(figures) - names)
    for name, fig in figures.items():
        assert fig.source.strip(), name
        assert (fig.value is None) == (fig.source.strip() == "none found"), name


def test_a_recipe_that_cannot_load_is_a_failed_row_not_a_crash(tmp_path: Path) -> None:
    recipe = tmp_path / "broken_full.yaml"
    recipe.write_text(TINY.replace("name: tiny_full", "name: broken_full")
                      .replace("dataset: breast_cancer", "dataset: no_such_dataset"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "families.py"), "--full",
                           "--recipes", str(recipe), "--results-dir", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads((tmp_path / "out" / "families-full.json").read_text())["broken_full"]
    assert row["exit_code"] == 1 and "no_such_dataset" in row["error"]
    assert "run failed" in (tmp_path / "out" / "families-full.md").read_text()
