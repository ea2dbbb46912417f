"""What a deploy did: the chosen artifact, the folder, the device's check, the console lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.deploy.choose import Choice
from edgekit.deploy.folder import Written


@dataclass
class Deployed:
    choice: Choice
    written: Written | None = None
    check: dict[str, Any] | None = None  # predict --check's JSON from the device
    dest: str | None = None  # where it went on the device
    lines: list[str] = field(default_factory=list)
    passed: bool = True  # False: it failed its check there, or its runtime is not installed


def describe(written: Written) -> str:
    """``N files, K KiB; requirements: ...`` for the console."""
    files = [p for p in written.folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    return f"{len(files)} files, {size / 1024:.0f} KiB; requirements: {', '.join(written.requirements)}"


def chosen_line(choice: Choice) -> str:
    return f"artifact: {choice.file} on {choice.runtime} ({choice.reason})"
