"""The recipe matrix: every built-in recipe, in its --quick form, trained, compressed, exported
to TFLite, ONNX and OpenVINO, and each artifact loaded and proven on its own runtime against the
recipe's budgets. Parametrized over ``recipe_summaries()``, so a new recipe is tested by being
added; recipes in ``SLOW`` run only with ``-m slow`` (one recipe per family always stays in the
default suite, which ``test_every_family_is_in_the_default_matrix`` enforces)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.families import FAMILIES
from edgekit.recipe import recipe_summaries

# Heavier quick runs (several seconds of training each); the first recipe of every family is
# never listed here.
SLOW: frozenset[str] = frozenset({
    "lenet5", "mlp", "mobilenet", "inception",          # cnn / feedforward: resnet, perceptron stay
    "lstm", "gru", "bilstm",                             # recurrent: simple_rnn stays
    "denoising_autoencoder", "vae",                      # autoencoder: dense_autoencoder stays
})

FORMATS = {"tflite", "onnx", "openvino"}


def _params() -> list[object]:
    return [pytest.param(s.name, id=s.name,
                         marks=[pytest.mark.slow] if s.name in SLOW else [])
            for s in recipe_summaries()]


def test_every_family_is_in_the_default_matrix() -> None:
    fast = {s.family for s in recipe_summaries() if s.name not in SLOW}
    missing = set(FAMILIES.names()) - fast
    assert not missing, f"families with no recipe in the default test matrix: {sorted(missing)}"


@pytest.mark.parametrize("name", _params())
def test_recipe_compresses_exports_and_proves(name: str, tmp_path: Path) -> None:
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    recipe = load_recipe(name, quick=True)
    report = compress(recipe, tmp_path / name)
    arts = report["artifacts"]
    assert {a["format"] for a in arts} >= FORMATS, "every recipe proves all three formats"
    for art in arts:
        assert (tmp_path / name / art["file"]).is_file()
        assert art["runtime_version"], art["file"]
        failed = {k: v for k, v in art["checks"].items() if not v}
        assert art["passed"], (f"{art['file']} on {art['runtime']}: failed {failed}; "
                               f"{art['metric']} drop {art['metric_drop']:.4f}, "
                               f"agreement {art['agreement']:.4f}")
    assert report["passed"]
    assert (tmp_path / name / "report.json").is_file()
