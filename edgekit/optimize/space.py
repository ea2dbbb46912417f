"""The search space: the recipe's ``optimize:`` knobs, their values, and a candidate's
overrides of the recipe's raw YAML (the same mapping ``--set`` edits).

A knob is a dotted path with a list of values. Four kinds, by path:

* ``export``: export entries; a candidate exports exactly the one chosen (one artifact per
  candidate, so every trial's size and latency are one file's);
* ``export.options.NAME``: overrides the option NAME in the export choices that set it
  themselves (a fallback threshold means something to the int8 entry that names it, nothing
  to an fp32 file of the same format), else the knob does not apply;
* ``compression.STAGE``: ``off`` (the stage is left out) or the stage's parameters (it is
  added, after the recipe's own stages, in the order the knobs are listed);
  ``compression.STAGE.PARAM``: a parameter of a stage the candidate has, else it does not apply;
* anything else: set as ``--set PATH=VALUE`` would (e.g. ``validation.threads``).

Two samples whose applied knobs agree are the same candidate (its :func:`candidate_key`), so a
knob that does not apply costs no extra trial.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.recipe.schema import OptimizeSection

OFF = ("off", None, False)


def label(value: Any) -> str:
    """A knob value as the short text optuna and the console show."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Knob:
    path: str
    values: tuple[Any, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label(v) for v in self.values)


@dataclass(frozen=True)
class Space:
    knobs: tuple[Knob, ...]
    monotone: frozenset[str] = frozenset()  # knobs listed mildest to strongest (the recipe's)

    @property
    def size(self) -> int:
        n = 1
        for k in self.knobs:
            n *= len(k.values)
        return n

    def grid(self) -> list[dict[str, str]]:
        """Every combination, as {path: label}, one trained chain at a time: the knobs that
        change what is trained (``compression.*``) vary slowest, so a chain's export and
        thread choices follow it while it is loaded and its stages are the newest in the
        stage cache (export-major order made a 9-chain space evict each prune before its turn
        came round again)."""
        knobs = sorted(self.knobs, key=lambda k: not k.path.startswith("compression."))
        return [dict(zip((k.path for k in knobs), combo))
                for combo in itertools.product(*(k.labels for k in knobs))]

    def start(self) -> dict[str, str]:
        """The candidate a search tries first, as {path: label}: every optional stage
        (``compression.STAGE``) off, every other knob at its first listed value. It trains
        nothing beyond the models the budget's baseline needs anyway, so it costs an export and
        a validation run, and the search never ends without having tried what the recipe
        itself would ship."""
        def first(k: Knob) -> str:
            stage_knob = k.path.startswith("compression.") and k.path.count(".") == 1
            off = [lab for v, lab in zip(k.values, k.labels) if stage_knob and v in OFF]  # as candidate_overrides reads it
            return off[0] if off else k.labels[0]
        return {k.path: first(k) for k in self.knobs}

    def probes(self) -> list[dict[str, str]]:
        """What a search tries right after :meth:`start`: each monotone knob one step stronger
        than the start, the rest as in the start. These are the cheapest questions with the
        widest answers: when the mildest prune is already out, every stronger one and every
        combination with it is skipped (:meth:`dominates`)."""
        start, out = self.start(), []
        for k in self.knobs:
            if k.path in self.monotone:
                i = k.labels.index(start[k.path])
                if i + 1 < len(k.labels):
                    out.append({**start, k.path: k.labels[i + 1]})
        return out

    def dominates(self, out: dict[str, str], params: dict[str, str]) -> bool:
        """Whether ``params`` is compressed at least as strongly as ``out`` (a candidate whose
        float model was already out) with everything else that shapes the float model the
        same: then its float model is expected out too. What only the file or its run changes
        (``export`` choices but their source model, ``validation.*``) does not matter; a monotone
        knob must be at least as strong; any other knob (``train.*``, a stage's non-monotone
        parameter) must be equal, since nothing says which way it moves the metric."""
        for k in self.knobs:
            a, b = out[k.path], params[k.path]
            if k.path == "export":
                if _source(self.value(k.path, a)) != _source(self.value(k.path, b)):
                    return False
            elif k.path.startswith(("export.", "validation.")):
                continue
            elif k.path in self.monotone:
                if k.labels.index(b) < k.labels.index(a):
                    return False
            elif a != b:
                return False
        return True

    def describe(self) -> list[str]:
        lines = [f"  {k.path}: {', '.join(k.labels)} ({len(k.values)})"
                 + ("  (mildest to strongest)" if k.path in self.monotone else "")
                 for k in self.knobs]
        return [*lines, f"  {self.size} combinations"]

    def value(self, path: str, lab: str) -> Any:
        knob = next(k for k in self.knobs if k.path == path)
        return knob.values[knob.labels.index(lab)]


def space_of(section: OptimizeSection | None, where: str) -> Space:
    if section is None:
        raise EdgekitError("the recipe has no 'optimize:' section", where=where,
                           fix="add optimize: {space: {export: [...], ...}} (see recipes/lenet5.yaml)")
    return Space(tuple(Knob(p, tuple(v)) for p, v in section.space.items()),
                 frozenset(section.monotone))


def _source(export_entry: Any) -> Any:
    """The model an export entry converts (its float model), 'final' unless it names one."""
    return export_entry.get("model", "final") if isinstance(export_entry, dict) else None


def _stage_index(raw: dict[str, Any], stage: str) -> int | None:
    for i, entry in enumerate(raw.get("compression") or []):
        if isinstance(entry, dict) and entry.get("stage") == stage:
            return i
    return None


def candidate_overrides(raw: dict[str, Any], space: Space, params: dict[str, str],
                        option_fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the candidate's raw recipe, the knobs that applied {path: value}).

    ``raw`` is the recipe's YAML after ``--quick`` and ``--set``; ``option_fields(format)``
    gives the option names the format's exporter accepts."""
    out = copy.deepcopy(raw)
    out.pop("optimize", None)
    out.pop("quick", None)  # already applied; a derived recipe must not apply it twice
    applied: dict[str, Any] = {}
    ordered = sorted(space.knobs, key=lambda k: (k.path.count("."), k.path != "export"))
    for knob in ordered:  # stages and the export entry first, their parameters after
        value = copy.deepcopy(space.value(knob.path, params[knob.path]))
        parts = knob.path.split(".")
        if knob.path == "export":
            out["export"] = [dict(value)]
        elif parts[:2] == ["export", "options"] and len(parts) == 3:
            entry = out["export"][0]
            options = entry.get("options") or {}
            if parts[2] not in options or parts[2] not in option_fields(entry.get("format")):
                continue
            options[parts[2]] = value
        elif parts[0] == "compression" and len(parts) == 2:
            stages = out.setdefault("compression", [])
            idx = _stage_index(out, parts[1])
            if value in OFF:
                if idx is not None:
                    stages.pop(idx)
            else:
                entry = {"stage": parts[1], **(value if isinstance(value, dict) else {})}
                if idx is None:
                    stages.append(entry)
                else:
                    stages[idx] = {**stages[idx], **entry}
        elif parts[0] == "compression" and len(parts) == 3 and not parts[1].isdigit():
            idx = _stage_index(out, parts[1])
            if idx is None:
                continue
            out["compression"][idx][parts[2]] = value
        else:
            node: Any = out
            for key in parts[:-1]:
                node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
            if isinstance(node, list):
                node[int(parts[-1])] = value
            else:
                node[parts[-1]] = value
        applied[knob.path] = value
    _drop_unshipped_stages(out)
    return out, applied


def _drop_unshipped_stages(raw: dict[str, Any]) -> None:
    """Stages after both the exported model and the budget's baseline shape nothing the
    candidate ships or is judged by: a candidate does not train them."""
    stages = [e.get("stage") for e in raw.get("compression") or []]
    keep = -1
    for name in (raw["export"][0].get("model", "final"),
                 (raw.get("budgets") or {}).get("baseline", "reference")):
        if name == "final":
            return
        if name in stages:
            keep = max(keep, stages.index(name))
    if stages:
        del raw["compression"][keep + 1:]


def candidate_key(applied: dict[str, Any]) -> str:
    """Same applied knobs, same candidate."""
    return label(applied)
