"""``report.json`` as a typed model (schema ``edgekit.report/1``), and its published JSON schema.

Why a model: the report is edgekit's contract with whoever reads a bundle (CI gates, dashboards,
``edgekit validate``). Built from typed values, its keys and their types are stated once, here,
and a user can check a report against ``report-1.schema.json`` (shipped in this package) with any
JSON-schema validator, or with :meth:`Report.model_validate` (README, "The bundle and
report.json"). The field order is the key order of report.json.

``python -m edgekit.report.model --schema`` prints the schema; the committed file is that
output (a test keeps them equal).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from edgekit.devices import DeviceProfile
from edgekit.recipe.schema import Budgets
from edgekit.validation.intervals import Interval
from edgekit.device.latency import Latency
from edgekit.validation.verdict import Check, Verdict

SCHEMA_ID = "edgekit.report/1"
SCHEMA_FILE = Path(__file__).with_name("report-1.schema.json")


class _Record(BaseModel):
    """A part of report.json: exactly its fields, no others."""

    model_config = ConfigDict(extra="forbid")


class IntervalRecord(_Record):
    """A 95% interval (:class:`edgekit.validation.intervals.Interval`)."""

    low: float
    high: float
    level: float
    method: str

    @classmethod
    def of(cls, interval: Interval) -> "IntervalRecord":
        return cls(low=interval.low, high=interval.high, level=interval.level,
                   method=interval.method)


class CheckRecord(_Record):
    """One budget check of a verdict (:class:`edgekit.validation.verdict.Check`)."""

    name: str
    passed: bool
    value: float
    limit: float
    sentence: str
    interval: IntervalRecord | None = None
    significant: bool | None = None

    @classmethod
    def of(cls, check: Check) -> "CheckRecord":
        return cls(name=check.name, passed=check.passed, value=check.value, limit=check.limit,
                   sentence=check.sentence, significant=check.significant,
                   interval=IntervalRecord.of(check.interval) if check.interval else None)


class VerdictRecord(_Record):
    """The verdict on one artifact (:class:`edgekit.validation.verdict.Verdict`)."""

    passed: bool
    significant: bool | None
    summary: str = Field(description="'pass', or 'FAIL: ' and one sentence per failed check")
    n_examples: int
    checks: list[CheckRecord]

    @classmethod
    def of(cls, verdict: Verdict) -> "VerdictRecord":
        return cls(passed=verdict.passed, significant=verdict.significant,
                   summary=verdict.summary(), n_examples=verdict.n_examples,
                   checks=[CheckRecord.of(c) for c in verdict.checks])


class LatencyRecord(_Record):
    """Batch-1 latency after warm-up, in ms (:class:`edgekit.device.latency.Latency`)."""

    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    runs: int
    warmup: int
    threads: int = Field(description="the settled thread count the runs used (edgekit.threads)")
    batch: int

    @classmethod
    def of(cls, latency: Latency) -> "LatencyRecord":
        return cls.model_validate(latency.to_json())  # rounded as the console shows them


class MetricValue(_Record):
    name: str
    value: float


class BaselineResult(_Record):
    """The artifact against the model the budgets judge it by (the reference or e.g. the
    distilled student)."""

    model: str
    metric: float
    metric_drop: float
    metric_drop_ci95: IntervalRecord
    agreement: float
    agreement_ci95: IntervalRecord


class MemoryRecord(_Record):
    rss_delta: float = Field(description="MB the loaded engine added to the process")


_ADDED_WHEN_SET = ("weights_vs_fp32", "warnings")


class ArtifactResult(_Record):
    """One exported artifact and its proof on its runtime (README lists every field)."""

    file: str
    files: list[str]
    format: str
    precision: str = Field(description="the precision that actually ran")
    stored_precision: str
    model: str
    size_bytes: int
    size_gzip_bytes: int
    sha256: str
    runtime: str
    runtime_version: str
    target: str = Field(description="the machine that ran the proof")
    metric: MetricValue
    metric_drop: float = Field(description="against the reference")
    baseline: BaselineResult
    agreement: float
    agreement_ci95: IntervalRecord
    classes: dict[str, Any] | None
    max_abs_diff: float
    source_max_abs_diff: float
    conversion_atol: float | None
    latency_ms: LatencyRecord
    load_ms: float
    memory_mb: MemoryRecord
    checks: dict[str, bool]
    passed: bool
    verdict: VerdictRecord
    notes: dict[str, Any]
    weights_vs_fp32: float | None = Field(None, description="int8 with an fp32 sibling only")
    warnings: list[str] | None = Field(None, description="present when there are any")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", fallback=_numpy_scalar)

    @model_serializer(mode="wrap")
    def _omit_unset_flags(self, handler: Any) -> dict[str, Any]:
        """The two size-check keys appear only on the artifacts they were set for, as they
        always have."""
        out = handler(self)
        return {k: v for k, v in out.items() if not (k in _ADDED_WHEN_SET and v is None)}


class Environment(BaseModel):
    """Versions and hardware of the machine that ran the proofs; one more key per runtime
    adapter: its version, or ``missing: <why>``."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str] = Field(init=False)

    python: str
    machine: str
    platform: str
    tensorflow: str
    hardware: dict[str, Any]


class DatasetRecord(_Record):
    name: str
    source: str
    task: str
    train_examples: int
    val_examples: int
    test_examples: int
    heldout_file: str
    label_names: list[str] | None
    split_report: dict[str, Any]
    resolution_warning: str | None


class ReferenceResult(_Record):
    """The uncompressed model on the held-out split."""

    metric: str
    value: float
    higher_is_better: bool
    classes: dict[str, Any] | None
    parameters: int
    size_bytes: int


class StageResult(_Record):
    name: str
    config: dict[str, Any]
    facts: dict[str, Any]
    metric: float


class ExpectedResources(_Record):
    """What the run was estimated to need (:class:`edgekit.resources.Expected`)."""

    bundle_bytes: int
    run_cache_bytes: int
    temp_bytes: int
    memory_bytes: int
    parameters: dict[str, int]
    disk_bytes: int


class ResourcesRecord(_Record):
    expected: ExpectedResources
    free_disk_bytes: int
    measured_peak_rss_bytes: int


class Report(_Record):
    """report.json (schema ``edgekit.report/1``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={
        "$id": SCHEMA_ID, "$schema": "https://json-schema.org/draft/2020-12/schema"})

    schema_: Literal["edgekit.report/1"] = Field(SCHEMA_ID, alias="schema")
    recipe: str
    edgekit_version: str
    created: str
    resolved_recipe: dict[str, Any]
    environment: Environment
    target: DeviceProfile = Field(description="the device profile whose settings the proofs "
                                  "used, threads settled (edgekit.threads)")
    proved_on: str
    dataset: DatasetRecord
    reference: ReferenceResult
    stages: list[StageResult]
    artifacts: list[ArtifactResult]
    extras: dict[str, Any]
    budgets: Budgets
    verdict_rule: str
    passed: bool
    timings_s: dict[str, float]
    resources: ResourcesRecord

    def to_json(self) -> dict[str, Any]:
        """The JSON value of report.json (numpy scalars in free-form parts become numbers)."""
        return self.model_dump(mode="json", by_alias=True, fallback=_numpy_scalar)

    def json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    @classmethod
    def read(cls, path: Path) -> "Report":
        return cls.model_validate_json(path.read_bytes())


def _numpy_scalar(obj: Any) -> Any:
    if isinstance(obj, (np.generic,)):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def json_schema() -> dict[str, Any]:
    """The published schema of report.json (what ``report-1.schema.json`` holds)."""
    return Report.model_json_schema(by_alias=True)


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m edgekit.report.model",
                                     description="report.json's JSON schema")
    parser.add_argument("--schema", action="store_true", help="print the JSON schema")
    parser.add_argument("--write", action="store_true",
                        help=f"write it to {SCHEMA_FILE.name} next to this module")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    if args.schema or not args.write:
        print(schema_text(), end="")


if __name__ == "__main__":
    main()
