"""The Pareto front of the finished trials (validation metric up, latency down, size down)
and the choice: the feasible trial best on the objective."""

from __future__ import annotations

from collections.abc import Sequence

from edgekit.optimize.trials import Trial

OBJECTIVES = ("latency", "size")


def objective_value(trial: Trial, objective: str) -> float | None:
    return trial.latency_ms if objective == "latency" else (
        float(trial.size_bytes) if trial.size_bytes is not None else None)


def _point(t: Trial, higher_is_better: bool) -> tuple[float, float, float]:
    """Every coordinate lower-is-better; a missing latency (no estimate possible) is worst."""
    assert t.validation is not None
    m = t.validation["metric"]
    return (-m if higher_is_better else m,
            t.latency_ms if t.latency_ms is not None else float("inf"),
            float(t.size_bytes or 0))


def pareto_front(trials: Sequence[Trial], higher_is_better: bool = True) -> list[Trial]:
    """The completed trials no other completed trial beats on all three (one artifact per
    candidate: two with identical points both stay)."""
    done = [t for t in trials if t.validation is not None]
    pts = {t.number: _point(t, higher_is_better) for t in done}

    def dominated(a: Trial) -> bool:
        pa = pts[a.number]
        return any(all(x <= y for x, y in zip(pts[b.number], pa)) and pts[b.number] != pa
                   for b in done)

    return [t for t in done if not dominated(t)]


def ranked(trials: Sequence[Trial], objective: str, higher_is_better: bool = True) -> list[Trial]:
    """The eligible trials, best on ``objective`` first; ties go to the better metric, then the
    lower other figure, so the first is always on the front."""
    feasible = [t for t in trials if t.feasible and objective_value(t, objective) is not None]
    return sorted(feasible, key=lambda t: (objective_value(t, objective),
                                           _point(t, higher_is_better)[0],
                                           _point(t, higher_is_better)[1 if objective == "size" else 2]))


def choose(trials: Sequence[Trial], objective: str, higher_is_better: bool = True) -> Trial | None:
    """The eligible trial lowest on ``objective`` (:func:`ranked`'s first), or None."""
    order = ranked(trials, objective, higher_is_better)
    return order[0] if order else None


def front_line(front: Sequence[Trial], metric: str) -> str:
    """The console's one-line view of the front."""
    parts = sorted(f"#{t.number} {metric} {t.validation['metric']:.4f} "  # type: ignore[index]
                   f"{t.latency_ms if t.latency_ms is not None else float('nan'):.3f} ms "
                   f"{(t.size_bytes or 0) / 1024:.1f} KiB" for t in front)
    return "front: " + ("; ".join(parts) if parts else "(none yet: no trial scored)")
