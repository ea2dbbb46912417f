"""Progress reporting, decoupled from the pipeline so notebooks and the CLI differ only here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    def stage(self, name: str, detail: str = "") -> "contextmanager[None]": ...  # type: ignore[valid-type]
    def note(self, text: str) -> None: ...


class SilentProgress:
    """Library default: records stage durations, prints nothing."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 3)

    def note(self, text: str) -> None:
        pass


class RichProgress(SilentProgress):
    """Terminal display: a spinner per running stage, a tick and its duration when done."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console

        self.console = Console(stderr=True)

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        label = f"{name} {detail}".strip()
        with self.console.status(f"[bold]{label}[/]…"):
            with super().stage(name, detail):
                yield
        self.console.print(f"[green]✓[/] {label} [dim]({self.timings[name]:.1f}s)[/]")

    def note(self, text: str) -> None:
        # one logical line per note, never hard-wrapped: a verdict or warning stays one line
        # in a log and greps whole
        self.console.print(f"  [dim]{text}[/]", soft_wrap=True)
