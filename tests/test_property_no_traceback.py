"""Property: no recipe file and no command line makes edgekit print a traceback.

Hypothesis mutates a valid recipe (random values at random fields, unknown keys, dropped keys,
raw bytes) and builds random command lines; the CLI runs in-process with typer's CliRunner.
Every outcome must be a success (0) or a one-line user error (2, click usage errors included),
never an internal error (1) or an exception escaping the command. ``compress`` always gets
``--dry-run``, so a mutation that happens to be valid never starts a training run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import LENET_MINIMAL
from edgekit.cli import app

BASE = yaml.safe_load(LENET_MINIMAL + "compression: [{stage: prune, target_sparsity: 0.5}]\n")
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["lenet5", "prune", "qat", "tflite", "fp32", "int8", "cpu",
                                     "reference", "final", "-1", "1.0", "{}", "[]"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner,
                                                                      max_size=3)), max_leaves=6)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


ALL_PATHS = _paths(BASE)


@st.composite
def mutated_recipes(draw: st.DrawFn) -> str:
    import copy

    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["set", "delete", "add_key"]))
            if action == "set":
                parent[path[-1]] = draw(values)
            elif action == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=8))] = draw(values)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced this path
    return yaml.safe_dump(data, allow_unicode=True)


def _assert_clean(result, args: list[str]) -> None:
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        (args, repr(result.exception))
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output


@SETTINGS
@given(text=st.one_of(mutated_recipes(), st.text(max_size=200),
                      st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_any_recipe_file_gives_success_or_one_line_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        args = ["compress", str(path), "--dry-run"]
        result = CliRunner().invoke(app, args)
    _assert_clean(result, args)
    if result.exit_code == 2:
        errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 or "Usage:" in result.output, result.output


tokens = st.one_of(st.sampled_from(["lenet5", "--quick", "--set", "train.epochs=2",
                                    "train.epochs=-1", "compression.0.target_sparsity=1.5",
                                    "export.9.format=onnx", "=", "a.b.c=", "--out", "/dev/null",
                                    "--debug=x", "--help", "-x", "recipes/lenet5.yaml", "..",
                                    "", "name=[1,2", "quick=3", "validation.device=toaster"]),
                   st.text(max_size=10))


@SETTINGS
@given(command=st.sampled_from(["compress", "verify", "recipes", "devices", "frobnicate"]),
       rest=st.lists(tokens, max_size=5))
def test_any_command_line_gives_success_or_clean_error(command: str, rest: list[str]) -> None:
    args = [command, *[t for t in rest if t != "--debug"]]
    if command == "compress":
        args.append("--dry-run")  # validate only: never train
    result = CliRunner().invoke(app, args)
    _assert_clean(result, args)


def test_regression_recipe_argument_that_is_a_folder() -> None:
    """Found by the property test above: ``compress ..`` was an IsADirectoryError."""
    for arg in ("..", ".", "/tmp"):
        result = CliRunner().invoke(app, ["compress", arg, "--dry-run"])
        _assert_clean(result, [arg])
        assert result.exit_code == 2
