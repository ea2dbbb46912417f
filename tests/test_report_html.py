"""report.html as a reader sees it: opened in headless Chromium at a phone's width (images
decoded, nothing wider than the screen but the scrolling tables, the summary naming artifacts
that exist), and the parts that make it readable at a glance, checked on a real bundle."""

from __future__ import annotations

import copy
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.report import charts, html as report_html, stages, summary
from headless_chromium import find_chromium, measure, screenshot

PHONE = 390  # an iPhone 12-15's CSS width

# Runs in the page once it has loaded: what a reader would notice, as data.
PAGE_FACTS = """
const W = doc.documentElement.clientWidth;
const over = [];
for (const el of doc.body.querySelectorAll('*')) {
  if (el.parentElement && el.parentElement.closest('.scroll')) continue;  // tables scroll
  const r = el.getBoundingClientRect();
  if (r.width > 0 && (r.right > W + 0.5 || r.left < -0.5))
    over.push(`${el.tagName}.${el.className}: ${(el.textContent || '').trim().slice(0, 60)}`
              + ` (${Math.round(r.left)} to ${Math.round(r.right)} px)`);
}
const imgs = [...doc.images].map(i => ({alt: i.alt, natural: i.naturalWidth,
                                        shown: i.getBoundingClientRect().width}));
const summary = doc.querySelector('.summary');
const picks = [...summary.querySelectorAll('a.pick')].map(a => {
  const row = doc.getElementById(a.getAttribute('href').slice(1));
  const file = row && row.querySelector('a');
  return {text: a.textContent, file: file && file.getAttribute('href'),
          resolved: file && file.href, name: file && file.textContent};
});
return {width: W, scrollWidth: doc.documentElement.scrollWidth, over, imgs, picks,
        summary: summary.innerText};
"""


def _chromium() -> None:
    if find_chromium() is None:
        pytest.skip("chromium is not installed (Debian package 'chromium', installed by "
                    "scripts/setup.sh from .ci/apt-packages.txt)")


def _png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_report_reads_on_a_phone_in_chromium(lenet_bundle: tuple[Path, dict], tmp_path: Path) -> None:
    _chromium()
    bundle, report = lenet_bundle
    page = bundle / "report.html"
    shot = screenshot(page, tmp_path / "report-phone.png", width=PHONE, height=1600)
    assert _png_size(shot) == (PHONE, 1600)

    facts = measure(page, PAGE_FACTS, width=PHONE)
    assert "error" not in facts, facts
    assert facts["width"] == PHONE
    # Every chart decoded and is scaled into the screen, not cropped.
    assert len(facts["imgs"]) >= 2
    for img in facts["imgs"]:
        assert img["natural"] > 0, img["alt"]
        assert 0 < img["shown"] <= PHONE, img
    # Nothing but the tables' own scrolling boxes is wider than the screen.
    assert facts["over"] == [], facts["over"]
    assert facts["scrollWidth"] <= PHONE
    # The summary recommends artifacts that exist in the bundle, linked to their rows.
    assert facts["picks"], facts["summary"]
    files = {a["file"] for a in report["artifacts"]}
    for pick in facts["picks"]:
        assert pick["file"] in files, pick
        assert pick["name"] in pick["text"], pick
        assert pick["resolved"].startswith(bundle.resolve().as_uri())
        assert (bundle / pick["file"]).is_file()
    assert "PASSED" in facts["summary"] or "FAILED" in facts["summary"]


def test_summary_recommends_the_smallest_and_fastest_passing_artifact(
        lenet_bundle: tuple[Path, dict]) -> None:
    _, report = lenet_bundle
    arts = report["artifacts"]
    for pick in summary.picks(report):
        passing = [a for a in arts if a["runtime"] == pick.runtime and a["passed"]]
        if "smallest" in pick.roles:
            assert pick.artifact["size_bytes"] == min(a["size_bytes"] for a in passing)
        if "fastest" in pick.roles:
            assert pick.artifact["latency_ms"]["p50"] == min(a["latency_ms"]["p50"] for a in passing)
        assert arts[pick.index - 1] is pick.artifact
    # A failed artifact is never recommended, however small: fail the smallest one.
    failed = copy.deepcopy(report)
    smallest = min(failed["artifacts"], key=lambda a: a["size_bytes"])
    smallest["passed"] = False
    assert all(p.artifact["file"] != smallest["file"] for p in summary.picks(failed))
    assert smallest["file"].rsplit("/", 1)[-1] not in summary.summary_html(failed)


def test_headline_says_what_ran_not_what_the_recipe_says(lenet_bundle: tuple[Path, dict]) -> None:
    _, report = lenet_bundle
    edited = copy.deepcopy(report)
    edited["resolved_recipe"]["description"] = "A recipe written for another data set"
    page = report_html.render(edited)
    assert "another data set" not in page
    data = report["dataset"]
    line = summary.headline(report)
    for fact in (data["name"], f"{data['train_examples']:,} training",
                 f"{data['test_examples']:,} held-out", f"{report['reference']['parameters']:,}",
                 "32×32 images", "50% of kernel weights zero"):
        assert fact in line, (fact, line)


def test_rows_link_to_their_files_and_on_target_results(lenet_bundle: tuple[Path, dict]) -> None:
    """Each artifact row links to its file and to its row in every validated target's table."""
    import re

    bundle, report = lenet_bundle
    with_target = copy.deepcopy(report)
    # what `edgekit validate BUNDLE --target cpu` adds, here with the proofs' own figures
    results = [{"file": a["file"], "runtime": a["runtime"], "machine": "x86_64",
                "metric": a["metric"], "agreement": a["agreement"],
                "max_abs_diff": a["max_abs_diff"], "max_abs_diff_vs_host": 0.0,
                "passed": a["passed"], "verdict": a["verdict"]} for a in report["artifacts"]]
    with_target["on_target"] = {"cpu": {"target": report["target"], "emulated": False,
                                        "artifacts": results, "passed": True}}
    page = report_html.render(with_target)
    ids = set(re.findall(r"id='([^']+)'", page))
    table = page[page.index("<table class='arts'>"):page.index("</table>")]
    targets = re.findall(r"href='#(target-[^']+)'", table)
    assert len(targets) == len(report["artifacts"]) and set(targets) <= ids
    files = re.findall(r"<a href='(artifacts/[^']+)'>", table)
    assert files == [a["file"] for a in report["artifacts"]]
    assert all((bundle / f).is_file() for f in files)
    assert "href='#on-target'" in page and "id='on-target'" in page


def test_stage_facts_are_tables_with_units_and_loss_curves(lenet_bundle: tuple[Path, dict]) -> None:
    _, report = lenet_bundle
    page = (lenet_bundle[0] / "report.html").read_text()
    assert "{'" not in page and "': {" not in page  # no Python dict reprs
    prune = report["stages"][0]
    assert len(prune["facts"]["loss_history"]["fine-tuning"]["loss"]) == prune["config"]["epochs"]
    assert "<th>achieved kernel sparsity</th><td>50.0%</td>" in page
    assert "prune losses per epoch" in page  # the quick run fine-tunes 2 epochs: a curve
    # QAT ran one epoch: its losses are a table row, not a one-point plot.
    assert "qat losses per epoch" not in page and "losses per epoch · fine-tuning" in page


def test_stage_fact_rows_read_with_units() -> None:
    """The facts TinyBERT and head pruning record (as a real run wrote them) as table rows."""
    tinybert = {"teacher_layers": 6, "student_layers": 3, "mimicked_teacher_blocks": [1, 3, 5],
                "teacher_cache_mb": 455.3, "parameters": 7331330, "teacher_parameters": 22713986,
                "final_losses": {"intermediate": {"loss": 2.973, "hidden_mse": 0.9944,
                                                  "attention_mse": 1.979},
                                 "prediction": {"loss": 0.6806, "soft": 0.6806, "hard": 0.6442}},
                "loss_history": {"prediction": {"loss": [0.69, 0.6806]}}}
    rows = dict(stages.rows(tinybert))
    assert rows["teacher cache"] == "455.3 MB"
    assert rows["parameters"] == "7.33 M parameters"
    assert rows["teacher parameters"] == "22.7 M parameters"
    assert rows["mimicked teacher blocks"] == "1, 3, 5"
    assert rows["final losses · intermediate"] == "loss 2.973, hidden mse 0.9944, attention mse 1.979"
    assert rows["losses per epoch · prediction"] == "loss 0.69 → 0.6806"
    heads = dict(stages.rows({"heads": {"before": 12, "after": 6, "head_size": 32},
                              "kept_heads": [[0, 3], [1, 2]],
                              "parameters": {"before": 22713986, "after": 19000000}}))
    assert heads == {"heads": "before 12, after 6, head size 32", "kept heads": "[0, 3]; [1, 2]",
                     "parameters": "22.7 M parameters → 19 M parameters"}
    for text in (*rows.values(), *heads.values()):
        assert "{" not in text and "'" not in text, text


@pytest.mark.parametrize("count", [3, 15])
def test_chart_labels_do_not_overlap(lenet_bundle: tuple[Path, dict], count: int) -> None:
    """Three or fifteen artifacts, several equally fast: every number is legible."""
    from matplotlib.text import Text

    _, report = lenet_bundle
    many = copy.deepcopy(report)
    arts = [copy.deepcopy(report["artifacts"][i % len(report["artifacts"])]) for i in range(count)]
    for i, a in enumerate(arts):  # a slow teacher-like artifact and clusters of equal latency
        a["latency_ms"] = {**a["latency_ms"], "p50": 20.0 if i == 0 else 0.03 * (1 + i // 4)}
    many["artifacts"] = arts
    fig = charts.tradeoff_figure(many)
    try:
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()
        numbers = [t for t in ax.texts if t.get_text().isdigit()]
        assert sorted(int(t.get_text()) for t in numbers) == list(range(1, count + 1))
        # the label's own box, not its leader line (Annotation's extent includes the arrow)
        for t in numbers:
            t.update_positions(renderer)
        boxes = [Text.get_window_extent(t, renderer) for t in numbers]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), (a, b)
        frame = ax.get_window_extent(renderer)
        assert all(frame.x0 - 1 <= b.x0 and b.x1 <= frame.x1 + 1 for b in boxes)
        assert ax.get_xscale() == "log"
    finally:
        charts.pyplot().close(fig)


def test_chart_draws_each_artifacts_own_budget(lenet_bundle: tuple[Path, dict]) -> None:
    """A student judged against itself: its budget floor sits under the student, not the
    reference, and its 95% interval is an error bar."""
    _, report = lenet_bundle
    judged = copy.deepcopy(report)
    student = 0.90
    for a in judged["artifacts"]:
        a["baseline"] = {**a["baseline"], "model": "student", "metric": student}
    from matplotlib.collections import LineCollection

    fig = charts.tradeoff_figure(judged)
    try:
        ax = fig.axes[0]
        floors = [seg[0][1] for c in ax.collections if isinstance(c, LineCollection)
                  for seg in c.get_segments() if len(seg) == 2 and seg[0][1] == seg[1][1]]
        budget = judged["budgets"]["max_metric_drop"]
        assert any(abs(y - (student - budget)) < 1e-9 for y in floors), floors
        assert not any(abs(y - (report["reference"]["value"] - budget)) < 1e-9 for y in floors)
        assert any(t.get_text().startswith("student ") for t in ax.texts)
    finally:
        charts.pyplot().close(fig)


def test_report_modules_import_without_a_cycle() -> None:
    code = ("import sys, edgekit.report.targets; assert 'edgekit.report.html' not in sys.modules; "
            "import edgekit.report.charts")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
