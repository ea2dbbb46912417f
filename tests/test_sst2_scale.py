"""benchmarks/sst2_scale.py judges issue 15's full-data goals from what the runs measured: the
judging is checked here on made-up runs (the runs themselves take an hour)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import sst2_scale  # noqa: E402  (a benchmark script, not a package)


def _run(rows: int, wall: float, rss: float, teacher: float = 0.9, student: float = 0.88,
         int8: float = 0.875) -> sst2_scale.SizeRun:
    return sst2_scale.SizeRun(
        train_rows=rows, wall_s=wall, peak_rss_mb=rss, load_before=(0, 0, 0),
        load_after=(0, 0, 0), exit_code=0, started="t", command="c",
        teacher_accuracy=teacher, student_accuracy=student,
        artifacts=[{"name": "s-dynamic.tflite", "model": "distilbert", "stored_precision": "dynamic",
                    "accuracy": int8},
                   {"name": "t.onnx", "model": "reference", "stored_precision": "fp32",
                    "accuracy": teacher}])


def test_linear_growth_passes_and_faster_than_linear_growth_fails() -> None:
    linear = [_run(4000, 400, 3000), _run(16000, 1000, 3100), _run(67349, 3570, 3300)]
    judged = sst2_scale.goals(linear, "distilbert")
    assert judged["time grows no worse than linearly"][0] is True
    assert judged["memory grows no worse than linearly"][0] is True
    assert judged["whole compress on full SST-2 under 60 minutes"][0] is True  # 59.5 min
    worse = [_run(4000, 400, 3000), _run(16000, 1000, 3100), _run(67349, 5000, 9000)]
    judged = sst2_scale.goals(worse, "distilbert")
    assert judged["time grows no worse than linearly"][0] is False  # 78 s per 1k rows after 50
    assert judged["memory grows no worse than linearly"][0] is False
    assert judged["whole compress on full SST-2 under 60 minutes"][0] is False
    flat = [_run(4000, 400, 3000), _run(16000, 1000, 2990), _run(67349, 3570, 3050)]
    assert sst2_scale.goals(flat, "distilbert")["memory grows no worse than linearly"][0] is True


def test_accuracy_goals_read_the_largest_run() -> None:
    runs = [_run(4000, 400, 3000, teacher=0.80, student=0.70),
            _run(67349, 3000, 3300, teacher=0.90, student=0.88, int8=0.865)]
    judged = sst2_scale.goals(runs, "distilbert")
    assert judged["teacher >= 0.88 on dev, full SST-2"][0] is True
    assert judged["student >= 97% of the teacher"][0] is True  # 97.8%
    assert judged["int8 artifacts within 1 point of the float student"][0] is False  # -1.5
    assert "time grows no worse than linearly" not in judged  # two sizes cannot judge it
    assert sst2_scale.goals(runs, "tinybert")["student >= 96% of the teacher"][0] is True
    part = sst2_scale.goals(runs[:1], "distilbert")  # 4,000 rows: the full-data goals wait
    assert part["teacher >= 0.88 on dev, full SST-2"][0] is None
    assert part["whole compress on full SST-2 under 60 minutes"][0] is None


def test_step_seconds_sum_exports_and_proofs() -> None:
    steps = sst2_scale.step_seconds({"data": 5, "train": 100, "distilbert": 50,
                                     "export a.tflite": 3, "export b.onnx": 4,
                                     "prove a.tflite": 1, "prove b.onnx": 2}, "distilbert")
    assert steps == {"teacher": 100, "distil": 50, "export": 7, "prove": 3}


def test_a_reused_teacher_is_not_judged_on_wall_time(tmp_path: Path) -> None:
    """--teacher-from: the child starts from another run's fine-tuned teacher, so its wall time
    lacks the teacher's and the hour goal (and the growth curve) is not judged on it; the run
    folder it starts from holds only that teacher's stage."""
    import json

    from edgekit.stage_records import run_folder

    run = _run(67349, 1800, 3000).model_copy(update={"teacher_from": "/x/.bundle.run",
                                                      "teacher_reused_s": 1310.0})
    judged = sst2_scale.goals([run], "tinybert")
    hour = judged["whole compress on full SST-2 under 60 minutes"]
    assert hour[0] is None and "1310 s" in hour[1]
    assert judged["student >= 96% of the teacher"][0] is True
    earlier = tmp_path / "earlier"
    (earlier / "train").mkdir(parents=True)
    (earlier / "train" / "record.json").write_text(json.dumps({"seconds": 1310.2}))
    (earlier / "stage-distilbert").mkdir()
    out = tmp_path / "tinybert-67349" / "bundle"
    (run_folder(out) / "stale").mkdir(parents=True)
    assert sst2_scale.seed_teacher(earlier, out) == 1310.2
    assert sorted(p.name for p in run_folder(out).iterdir()) == ["train"]
