"""The trial log: one JSON line per finished trial in the bundle's run folder
(``.<out>.run/optimize/trials.jsonl``), appended as each finishes, so an interrupted search
resumes with every finished trial (a torn last line, from a kill mid-write, is dropped)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit.stage_records import run_folder

COMPLETE, PRUNED = "complete", "pruned"


@dataclass
class Trial:
    number: int
    params: dict[str, str]  # knob -> label, as sampled
    applied: dict[str, Any]  # the knobs that applied to this candidate (its identity)
    status: str  # COMPLETE or PRUNED (float model already out of budget on validation)
    keras_drop: float  # the float model's drop on validation, before export
    float_forecast: dict[str, Any] | None = None  # the float model's Forecast.to_json()
    validation: dict[str, Any] | None = None  # ValidationScore.to_json()
    latency_ms: float | None = None
    latency_source: str | None = None  # 'measured' or 'estimated'
    latency_detail: str | None = None
    size_bytes: int | None = None
    artifact: str | None = None
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """Passed every budget on validation, and its held-out proof is forecast to pass
        (:mod:`edgekit.optimize.score`)."""
        return self.status == COMPLETE and bool(self.validation and self.validation["passed"]
                                                and self.validation["forecast"]["passes"])

    @property
    def float_out(self) -> bool:
        """Its float model is already out: over budget on validation (``pruned``) or forecast
        to fail held-out. Then no file of it can be expected to pass, nor of a chain compressed
        at least as strongly (:func:`~edgekit.optimize.search.dominated`)."""
        return self.status == PRUNED or bool(self.float_forecast
                                             and not self.float_forecast["passes"])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def search_folder(out: Path) -> Path:
    return run_folder(out) / "optimize"


class TrialLog:
    def __init__(self, out: Path, settings: dict[str, Any]) -> None:
        """``settings`` (recipe, target, budget...): a log written under other settings is
        set aside, not mixed in."""
        self.folder = search_folder(out)
        self.path = self.folder / "trials.jsonl"
        self.settings = settings

    def read(self) -> list[Trial]:
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        if not lines or _loads(lines[0]) != {"settings": self.settings}:
            self.path.replace(self.path.with_suffix(".old.jsonl"))
            return []
        return [Trial(**d) for d in map(_loads, lines[1:]) if isinstance(d, dict)]

    def append(self, trial: Trial) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        new = not self.path.is_file()
        with open(self.path, "a", encoding="utf-8") as f:
            if new:
                f.write(json.dumps({"settings": self.settings}, sort_keys=True) + "\n")
            f.write(json.dumps(trial.to_json(), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _loads(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None
