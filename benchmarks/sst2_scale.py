"""Full SST-2 on one machine (issue 15 part 1): ``compress`` at 4k, 16k and all 67,349 training
rows, each in its own child process, and the growth of time and memory with the data.

    PYTHONPATH=. python benchmarks/sst2_scale.py --stage distilbert --sizes 67349,4000,16000 \
        --bucketing --work /tmp/scale

For each size the child is ``python -m edgekit compress STAGE --fresh`` with the SST-2 folder as
its data (dev = the held-out split, validation carved from train), exactly what a user types;
the parent reaps it with ``os.wait4`` (``ru_maxrss``: the child's own peak resident memory,
not the largest of all children so far) and reads the bundle's report.json: the teacher's and
the student's dev accuracy, every artifact, and the seconds of each step (``timings_s``).
Load averages before and after are kept: a wall time on a shared machine means little without
them.

Goals (issue 15), each marked met or not with its figure: teacher >= 0.88 on dev; student >=
97% (distilbert) or 96% (tinybert) of the teacher; every int8 artifact within 1 point of the
float student; the whole compress under 60 minutes; time and memory growing no worse than
linearly: the largest size's wall time (and peak memory) at most 10% above the straight line
through the two smaller sizes, continued. The training-throughput peer (PyTorch
``transformers`` on the same sentences) lives in ``bucketing_probe.py``; its figure is quoted,
not re-run, here.

Results: ``benchmarks/results/sst2-scale-<stage>[-bucketing].md`` / ``.json`` and a PNG plot of
wall time and peak memory against training rows beside them. ``--sizes`` adds or replaces
those sizes only, so the sweep can run in parts.

``--teacher-from RUN_FOLDER`` starts each size from the fine-tuned teacher another stage's run
at that size left in its stage cache (``distilbert`` and ``tinybert`` fine-tune the same
teacher on the same data): its ``train`` stage is copied into the new run folder and the child
runs without ``--fresh``, so ``compress`` reuses it only if its key matches (same data, teacher
config and model code), as it would for a user re-running. The results then say so: the
teacher's seconds are the earlier run's, and the wall-time goal is not judged.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from pydantic import Field

from child_run import ChildRun, measure_child

from edgekit.device import hardware
from edgekit.stage_records import RECORD, run_folder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SST2 = ROOT.parent / "shared" / "data" / "sst2"
TEACHER_GOAL = 0.88
SHARE_GOAL = {"distilbert": 0.97, "tinybert": 0.96}
INT8_DROP = 0.01
WALL_GOAL_S = 60 * 60
FULL_ROWS = 67349  # SST-2's train.tsv: the goals on "full SST-2" are judged on this size only
LINEAR_SLACK = 1.1  # the largest size may land 10% above the line (noise) before it counts


class SizeRun(ChildRun):
    """One ``compress`` at one training-set size, as the parent measured it."""
    train_rows: int = Field(description="--set data.params.max_train_examples")
    command: str
    train_examples: int | None = None
    val_examples: int | None = None
    test_examples: int | None = None
    seq_len: int | None = None
    teacher_accuracy: float | None = None
    student_accuracy: float | None = None
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    timings_s: dict[str, float] = Field(default_factory=dict)
    teacher_from: str | None = Field(None, description="run folder whose teacher was reused")
    teacher_reused_s: float | None = Field(None, description="that teacher's own fine-tuning "
                                           "seconds, from its stage record")


def overrides(rows: int, data: Path, bucketing: bool) -> list[str]:
    sets = ["data.dataset=text_file", f"data.params.path={data}",
            f"data.params.max_train_examples={rows}"]
    # explicit either way: the recipes' own default differs (distilbert on, tinybert off)
    return sets + [f"train.bucketing={'true' if bucketing else 'false'}"]


def seed_teacher(teacher_from: Path, out: Path) -> float:
    """A run folder for ``out`` holding only ``teacher_from``'s finished ``train`` stage; the
    seconds that stage took there."""
    src = teacher_from / "train"
    record = json.loads((src / RECORD).read_text())
    folder = run_folder(out)
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(src, folder / "train")
    return float(record["seconds"])


def run_size(stage: str, rows: int, data: Path, bucketing: bool, work: Path,
             teacher_from: Path | None = None) -> SizeRun:
    out = work / f"{stage}-{rows}" / "bundle"
    out.parent.mkdir(parents=True, exist_ok=True)
    sets = overrides(rows, data, bucketing)
    fresh = ["--fresh"] if teacher_from is None else []
    reused_s = seed_teacher(teacher_from, out) if teacher_from is not None else None
    argv = [sys.executable, "-m", "edgekit", "compress", stage, "--out", str(out), *fresh]
    for s in sets:
        argv += ["--set", s]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    measured = measure_child(argv, env=env, cwd=ROOT)
    command = " ".join(["edgekit compress", stage, *fresh, *(f"--set {s}" for s in sets)])
    run = SizeRun(**measured.model_dump(), train_rows=rows, command=command,
                  teacher_from=str(teacher_from) if teacher_from else None,
                  teacher_reused_s=reused_s)
    report_file = out / "report.json"
    if report_file.exists():
        report = json.loads(report_file.read_text())
        run = run.model_copy(update=facts(report, stage) | {"seq_len": seq_len_of(out, report)})
    return run


def facts(report: dict[str, Any], stage: str) -> dict[str, Any]:
    """What the results need from report.json: accuracies, artifacts, seconds per step."""
    student = next(a for a in report["artifacts"] if a["model"] == stage
                   and a["format"] == "tflite" and a["stored_precision"] == "fp32")
    ds = report["dataset"]
    return {"train_examples": ds["train_examples"], "val_examples": ds["val_examples"],
            "test_examples": ds["test_examples"],
            "teacher_accuracy": report["reference"]["value"],
            "student_accuracy": student["metric"]["value"],
            "timings_s": report["timings_s"],
            "artifacts": [{"name": Path(a["file"]).name, "model": a["model"], "format": a["format"],
                           "stored_precision": a["stored_precision"],
                           "precision_ran": a["precision"], "accuracy": a["metric"]["value"],
                           "baseline": a["baseline"]["model"],
                           "agreement": a["baseline"]["agreement"],  # what the verdict reads
                           "agreement_with_reference": a["agreement"],
                           "size_bytes": a["size_bytes"], "passed": a["passed"]}
                          for a in report["artifacts"]]}


def seq_len_of(bundle: Path, report: dict[str, Any]) -> int:
    """The length every artifact takes (``seq_len: auto`` resolves it from the training data)."""
    from edgekit.device.heldout import open_arrays

    return int(open_arrays(bundle / report["dataset"]["heldout_file"])["x__input_ids"].shape[1])


def marginal(runs: list[SizeRun], field: str) -> list[float]:
    """Extra ``field`` per extra training row between consecutive sizes."""
    pts = sorted((r.train_rows, getattr(r, field)) for r in runs)
    return [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(pts, pts[1:])]


def linear_forecast(runs: list[SizeRun], field: str) -> tuple[float, float]:
    """(the straight line through the two smallest sizes, continued to the largest; what the
    largest measured). A slope below zero (noise) counts as flat."""
    pts = sorted((r.train_rows, float(getattr(r, field))) for r in runs)
    (x0, y0), (x1, y1), (x2, y2) = pts[0], pts[1], pts[-1]
    slope = max((y1 - y0) / (x1 - x0), 0.0)
    return y1 + slope * (x2 - x1), y2


def goals(runs: list[SizeRun], stage: str) -> dict[str, tuple[bool | None, str]]:
    """Each goal: (met, the figure it was judged on); None where no run can judge it."""
    ok = [r for r in runs if r.exit_code == 0 and r.teacher_accuracy is not None]
    if not ok:
        return {}
    full = max(ok, key=lambda r: r.train_rows)
    t, s = full.teacher_accuracy or 0.0, full.student_accuracy or 0.0
    int8 = [a for a in full.artifacts if a["model"] != "reference"
            and a["stored_precision"] in ("int8", "dynamic")]
    worst = min(int8, key=lambda a: a["accuracy"]) if int8 else None
    whole = full.train_rows >= FULL_ROWS  # else the full-data goals wait for the full run
    partial = f" ({full.train_rows:,} rows, not the whole training file: not judged)"
    out: dict[str, tuple[bool | None, str]] = {
        f"teacher >= {TEACHER_GOAL} on dev, full SST-2":
            (t >= TEACHER_GOAL if whole else None, f"{t:.4f}" + ("" if whole else partial)),
        f"student >= {SHARE_GOAL[stage]:.0%} of the teacher":
            (s >= SHARE_GOAL[stage] * t, f"{s:.4f} = {s / t:.1%}"),
        "int8 artifacts within 1 point of the float student":
            ((worst["accuracy"] >= s - INT8_DROP) if worst else None,
             f"worst {worst['name']} {worst['accuracy']:.4f} ({(worst['accuracy'] - s) * 100:+.2f} pts)"
             if worst else "no int8 artifact"),
        "whole compress on full SST-2 under 60 minutes":
            (full.wall_s < WALL_GOAL_S if whole and not full.teacher_from else None,
             f"{full.wall_s / 60:.1f} min" + ("" if whole else partial)
             + (f" with the teacher reused (its fine-tuning took {full.teacher_reused_s:.0f} s "
                "in the earlier run): not judged" if full.teacher_from else "")),
    }
    if len(ok) >= 3 and not any(r.teacher_from for r in ok):
        for field, unit, name in (("wall_s", "s", "time"), ("peak_rss_mb", "MB", "memory")):
            line, actual = linear_forecast(ok, field)
            out[f"{name} grows no worse than linearly"] = (
                actual <= LINEAR_SLACK * line,
                f"{actual:,.0f} {unit} at {full.train_rows:,} rows; the line through the two "
                f"smaller sizes gives {line:,.0f} {unit}; per 1k extra rows: "
                + ", ".join(f"{x * 1000:.2f} {unit}" for x in marginal(ok, field)))
    return out


STEPS = ("teacher", "distil", "export", "prove")


def step_seconds(timings: dict[str, float], stage: str) -> dict[str, float]:
    """report.json's seconds per step, summed into the four that grow with the data or not."""
    out = dict.fromkeys(STEPS, 0.0)
    for name, sec in timings.items():
        key = ("teacher" if name == "train" else "distil" if name == stage
               else name.split(" ", 1)[0] if name.startswith(("export ", "prove ")) else None)
        if key:
            out[key] += sec
    return out


def plot(runs: list[SizeRun], title: str, path: Path) -> None:
    from edgekit.report.charts import pyplot

    plt = pyplot()
    ok = sorted((r for r in runs if r.exit_code == 0), key=lambda r: r.train_rows)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, field, label in ((axes[0], "wall_s", "compress wall time (min)"),
                             (axes[1], "peak_rss_mb", "peak resident memory (GB)")):
        scale = 60 if field == "wall_s" else 1024
        xs = [r.train_rows for r in ok]
        ys = [getattr(r, field) / scale for r in ok]
        ax.plot(xs, ys, "o-", label="measured")
        if len(ok) >= 2:  # the line through the two smallest sizes, continued: linear growth
            slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
            ax.plot([xs[0], xs[-1]], [ys[0], ys[0] + slope * (xs[-1] - xs[0])], "--",
                    color="grey", label="linear from the two smallest")
        ax.xaxis.set_major_formatter(lambda x, _pos: f"{x / 1000:.0f}k")
        ax.set_ylim(bottom=0)  # from zero: a flat line should look flat
        ax.set_xlabel("SST-2 training rows")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def markdown(stage: str, runs: list[SizeRun], judged: dict[str, tuple[bool | None, str]],
             plot_name: str, bucketing: bool, machine: str) -> str:
    sizes = ", ".join(f"{r.train_rows:,}" for r in sorted(runs, key=lambda r: r.train_rows))
    lines = [f"# {stage} on SST-2 at {sizes} training rows", "",
             f"Command: `PYTHONPATH=. python benchmarks/sst2_scale.py --stage {stage} "
             f"--sizes {','.join(str(r.train_rows) for r in runs)}"
             f"{' --bucketing' if bucketing else ''}"
             + "".join(sorted({f" --teacher-from {r.teacher_from}" for r in runs if r.teacher_from}))
             + f"`; each size is the `edgekit compress` "
             f"command in its row, in its own process, on {machine}. "
             f"Length buckets {'on' if bucketing else 'off'} (`train.bucketing`). Dev (872 "
             "sentences) is the held-out split; validation is carved from train.", "",
             "| goal | met | figure |", "|---|---|---|"]
    lines += [f"| {g} | {'n/a' if ok is None else 'yes' if ok else '**no**'} | {fig} |"
              for g, (ok, fig) in judged.items()]
    lines += ["", "Training throughput against PyTorch `transformers` on the same sentences: "
              "`benchmarks/results/bucketing-probe.md` (same teacher, same token ids, same cores).",
              "", f"![time and memory against training rows]({plot_name})", "",
              "Seconds per step come from the bundle's report.json (`timings_s`): *teacher* is "
              "fine-tuning the reference, *distil* the stage (teacher cache included), *export* "
              "and *prove* the sums over every artifact.", "",
              "| train rows | wall min | peak RSS MB | load before → after | teacher | student | "
              "share | seq len | teacher s | distil s | export s | prove s |",
              "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(runs, key=lambda r: r.train_rows):
        if r.exit_code != 0 or r.teacher_accuracy is None:
            lines.append(f"| {r.train_rows:,} | {r.wall_s / 60:.1f} | {r.peak_rss_mb:.0f} | | "
                         f"exit {r.exit_code} | | | | | | | |")
            continue
        steps = step_seconds(r.timings_s, stage)
        if r.teacher_reused_s is not None:  # the earlier run's fine-tuning, marked
            steps["teacher"] = r.teacher_reused_s
        lines.append(f"| {r.train_rows:,} | {r.wall_s / 60:.1f} | {r.peak_rss_mb:.0f} | "
                     f"{r.load_before[0]:.2f} → {r.load_after[0]:.2f} | {r.teacher_accuracy:.4f} | "
                     f"{r.student_accuracy:.4f} | {(r.student_accuracy or 0) / r.teacher_accuracy:.1%} | "
                     f"{r.seq_len} | " + " | ".join(
                         f"{steps[k]:.0f}" + (" (reused)" if k == "teacher" and r.teacher_from
                                              else "") for k in STEPS) + " |")
    reused = sorted({r.teacher_from for r in runs if r.teacher_from})
    if reused:
        lines += ["", "*(reused)*: the teacher came from another stage's run on the same data "
                  f"({', '.join(f'`{x}`' for x in reused)}; `--teacher-from`), reused by "
                  "`compress`'s stage cache; its seconds are that run's fine-tuning, not in this "
                  "wall time."]
    for r in sorted(runs, key=lambda r: r.train_rows):
        if not r.artifacts:
            continue
        lines += ["", f"## {r.train_rows:,} rows: artifacts", "", f"`{r.command}` started {r.started}", "",
                  "| artifact | ran as | dev accuracy | judged against | agreement with it | "
                  "size B | passed |", "|---|---|---:|---|---:|---:|---|"]
        for a in r.artifacts:
            agree = f"{a['agreement']:.4f}" if isinstance(a.get("agreement"), float) else "—"
            lines.append(f"| {a['name']} | {a['precision_ran']} | {a['accuracy']:.4f} | "
                         f"{a.get('baseline', '?')} | {agree} | "
                         f"{a['size_bytes']:,} | {'yes' if a['passed'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=tuple(SHARE_GOAL), default="distilbert")
    parser.add_argument("--sizes", default="4000,16000,67349",
                        help="training rows, comma-separated (67,349 is the whole train.tsv)")
    parser.add_argument("--data", type=Path, default=SST2)
    parser.add_argument("--bucketing", action="store_true",
                        help="train.bucketing=true; without it false (fixed-length batches), "
                             "whatever the recipe ships")
    parser.add_argument("--work", type=Path, help="bundles go here (kept)")
    parser.add_argument("--teacher-from", type=Path, metavar="RUN_FOLDER",
                        help="reuse the fine-tuned teacher in this run folder (e.g. "
                             "WORK/distilbert-67349/.bundle.run, one size only)")
    parser.add_argument("--tables-only", action="store_true",
                        help="rewrite the .md and the plot from the committed .json, run "
                             "nothing (with --work: re-read each size's report.json there)")
    args = parser.parse_args(argv)
    if not args.tables_only and args.work is None:
        print("error: --work is required (a folder for the bundles) unless --tables-only",
              file=sys.stderr)
        return 2
    if not (args.data / "train.tsv").is_file():
        print(f"error: {args.data}/train.tsv not found; pass --data with the GLUE SST-2 folder",
              file=sys.stderr)
        return 2
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        print(f"error: --sizes {args.sizes!r}: give whole numbers separated by commas", file=sys.stderr)
        return 2
    stem = stem_of(args.stage, args.bucketing)
    store = stem.with_suffix(".json")
    if args.tables_only and not store.exists():
        print(f"error: {store} not found; run the sweep first", file=sys.stderr)
        return 2
    kept = load_runs(store)
    cpu = hardware.cpu()
    machine = f"{cpu['model']}, {cpu['logical_cpus']} cores, {' '.join(cpu['flags'])}"
    if args.tables_only:  # with --work: the facts read again from the bundles kept there
        # the machine the runs were measured on, not the one re-rendering them
        machine = json.loads(store.read_text()).get("machine", machine)
        for rows, run in list(kept.items()):
            bundle = (args.work / f"{args.stage}-{rows}" / "bundle") if args.work else None
            if bundle is not None and (bundle / "report.json").exists():
                report = json.loads((bundle / "report.json").read_text())
                kept[rows] = run.model_copy(update=facts(report, args.stage)
                                            | {"seq_len": seq_len_of(bundle, report)})
        write(stem, args.stage, list(kept.values()), args.bucketing, machine)
        return 0
    if args.teacher_from is not None and (len(sizes) != 1 or not (
            args.teacher_from / "train" / RECORD).is_file()):
        print(f"error: --teacher-from {args.teacher_from}: give one size and a run folder "
              "with a finished 'train' stage (WORK/STAGE-ROWS/.bundle.run)", file=sys.stderr)
        return 2
    for rows in sizes:
        run = run_size(args.stage, rows, args.data.resolve(), args.bucketing, args.work,
                       args.teacher_from)
        kept[rows] = run
        write(stem, args.stage, list(kept.values()), args.bucketing, machine)
        print(f"[sst2_scale] {args.stage} {rows:,} rows: {run.wall_s / 60:.1f} min, "
              f"{run.peak_rss_mb:.0f} MB, exit {run.exit_code}", flush=True)
    return 0


def load_runs(store: Path) -> dict[int, SizeRun]:
    if not store.exists():
        return {}
    return {r["train_rows"]: SizeRun.model_validate(r) for r in json.loads(store.read_text())["runs"]}


def stem_of(stage: str, bucketing: bool) -> Path:
    return RESULTS / f"sst2-scale-{stage}{'-bucketing' if bucketing else ''}"


def arms_side_by_side(stage: str) -> list[str]:
    """Fixed-length batches against length buckets at the sizes both arms ran: whether the
    buckets keep the accuracy (the reason the recipes' default waits for this table)."""
    fixed, bucketed = (load_runs(stem_of(stage, b).with_suffix(".json")) for b in (False, True))
    both = sorted(n for n in set(fixed) & set(bucketed)
                  if fixed[n].teacher_accuracy is not None and bucketed[n].teacher_accuracy is not None)
    if not both:
        return []
    lines = ["", "## Fixed-length batches against length buckets", "",
             "Same command but `train.bucketing`, same seed and rows (dev: 872 sentences, so one "
             "sentence is 0.11 points and a 95% interval on an accuracy near 0.85 is about ±2.4 "
             "points).", "",
             "| train rows | wall min fixed → buckets | teacher fixed → buckets | student fixed → "
             "buckets | teacher s fixed → buckets | distil s fixed → buckets |",
             "|---:|---:|---:|---:|---:|---:|"]
    for n in both:
        f, b = fixed[n], bucketed[n]
        fs, bs = step_seconds(f.timings_s, stage), step_seconds(b.timings_s, stage)
        lines.append(f"| {n:,} | {f.wall_s / 60:.1f} → {b.wall_s / 60:.1f} | "
                     f"{f.teacher_accuracy:.4f} → {b.teacher_accuracy:.4f} | "
                     f"{f.student_accuracy:.4f} → {b.student_accuracy:.4f} | "
                     f"{fs['teacher']:.0f} → {bs['teacher']:.0f} | {fs['distil']:.0f} → {bs['distil']:.0f} |")
    return lines


def write(stem: Path, stage: str, runs: list[SizeRun], bucketing: bool, machine: str) -> None:
    """The .json store, the plot and the .md from every size run so far."""
    judged = goals(runs, stage)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(
        {"stage": stage, "bucketing": bucketing, "machine": machine,
         "runs": [r.model_dump() for r in runs],
         "goals": {g: {"met": ok, "figure": fig} for g, (ok, fig) in judged.items()}}, indent=1))
    plot(runs, f"{stage} compress on SST-2, {os.cpu_count()} cores", stem.with_suffix(".png"))
    stem.with_suffix(".md").write_text(
        markdown(stage, runs, judged, stem.with_suffix(".png").name, bucketing, machine)
        + "\n".join(arms_side_by_side(stage)) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
