"""Shared fixtures: one real quick LeNet-5 run, reused by every test that reads a bundle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lenet_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A real `compress lenet5 --quick` bundle (trained, pruned, QAT, 8 artifacts, proven)."""
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    out = tmp_path_factory.mktemp("bundles") / "lenet5"
    report = compress(load_recipe("lenet5", quick=True), out)
    return out, report


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real console entry point in a subprocess, so exit codes and stderr are real."""
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=timeout)


def write_recipe(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


LENET_MINIMAL = """\
name: tiny
family: cnn
model: {builder: lenet5}
data: {dataset: sklearn_digits, params: {image_size: 32}}
train: {epochs: 1}
export: [{format: tflite, precision: fp32}]
"""
