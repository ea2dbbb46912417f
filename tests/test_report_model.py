"""report.json's typed model and its published JSON schema (edgekit/report/report-1.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.report.model import SCHEMA_FILE, SCHEMA_ID, Report, schema_text


def test_committed_schema_is_the_models() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "report-1.schema.json is stale: run python -m edgekit.report.model --write")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$id"] == SCHEMA_ID and "artifacts" in schema["required"]


def test_a_real_report_validates_and_round_trips(lenet_bundle: tuple[Path, dict]) -> None:
    bundle, returned = lenet_bundle
    text = (bundle / "report.json").read_text()
    data = json.loads(text)
    try:
        import jsonschema
    except ImportError:  # not an edgekit dependency: the model is the schema's source
        jsonschema = None
    if jsonschema is not None:
        jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()))
    report = Report.model_validate_json(text)
    assert report.json_text() == text  # read and written back: the same bytes
    assert returned == data  # compress returns what it wrote
    assert data["schema"] == SCHEMA_ID
    assert report.artifacts[0].latency_ms.threads == report.target.threads


def test_the_model_refuses_a_misspelt_field(lenet_bundle: tuple[Path, dict]) -> None:
    from pydantic import ValidationError

    data = json.loads((lenet_bundle[0] / "report.json").read_text())
    data["artifacts"][0]["sizebytes"] = data["artifacts"][0].pop("size_bytes")
    with pytest.raises(ValidationError, match="size_bytes"):
        Report.model_validate(data)
