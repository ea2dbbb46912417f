"""YAML reading with one-line errors and pydantic validation errors turned into one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from edgekit.errors import EdgekitError


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EdgekitError("file not found", where=path, fix="check the path") from None
    except UnicodeDecodeError:
        raise EdgekitError("not UTF-8 text", where=path, fix="save the file as UTF-8 YAML") from None
    except IsADirectoryError:
        raise EdgekitError("is a folder, not a YAML file", where=path,
                           fix="pass a .yaml file or a recipe name") from None
    except OSError as exc:
        raise EdgekitError(f"cannot read the file: {exc.strerror or exc}", where=path,
                           fix="check the path and its permissions") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise EdgekitError(f"invalid YAML{line}: {getattr(exc, 'problem', exc)}", where=path,
                           fix="fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise EdgekitError("expected a YAML mapping at the top level", where=path,
                           fix="write the file as 'key: value' lines")
    return data


def describe_validation_error(err: ValidationError, prefix: str = "") -> tuple[str, str]:
    """(dotted field, message) of the first error, e.g. ('compression[0].target_sparsity', ...)."""
    first = err.errors()[0]
    parts: list[str] = [prefix] if prefix else []
    for loc in first["loc"]:
        if isinstance(loc, int):
            parts[-1:] = [f"{parts[-1]}[{loc}]"] if parts else [f"[{loc}]"]
        else:
            parts.append(str(loc))
    field = ".".join(p for p in parts if p) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required field is missing"
    return field, msg


def validate_model(model: type[BaseModel], data: Any, *, where: Path | str, prefix: str = "") -> Any:
    """``model.model_validate(data)``, a failure one line; a validator's error may name its
    own fix (a ``fix`` in the error's context, e.g. the names to choose from)."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        field, msg = describe_validation_error(err, prefix)
        fix = (err.errors()[0].get("ctx") or {}).get("fix")
        raise EdgekitError(f"field '{field}': {msg}", where=where,
                           fix=str(fix) if fix else
                           f"correct '{field}' (see the recipe reference in README.md)") from None
