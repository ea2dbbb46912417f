"""The recipe matrix: every built-in recipe, in its --quick form, trained, compressed, exported
to TFLite, ONNX and OpenVINO, and each artifact loaded and proven on its own runtime against the
recipe's budgets. Parametrized over ``recipe_summaries()``, so a new recipe is tested by being
added. The default suite runs one cheap recipe per family (``DEFAULT``, ~3-4 min on 2 cores;
lenet5 reuses the session's LeNet bundle from conftest); every other recipe runs with
``-m slow``."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.families import FAMILIES
from edgekit.recipe import recipe_summaries

# One cheap recipe per family stays in the default suite; the rest are marked slow.
DEFAULT: frozenset[str] = frozenset({
    "perceptron", "lenet5", "simple_rnn", "dense_autoencoder", "gcn", "vit", "vae_decoder",
    "neural_ode", "transformer_g2p"})
# Families whose recipes have their own default-suite pipeline tests.
COVERED_ELSEWHERE = {"bert": "tests/test_bert_pipeline.py", "gpt": "tests/test_gpt.py"}

FORMATS = {"tflite", "onnx", "openvino"}


def _params() -> list[object]:
    return [pytest.param(s.name, id=s.name,
                         marks=[] if s.name in DEFAULT else [pytest.mark.slow])
            for s in recipe_summaries()]


def test_every_family_is_in_the_default_matrix() -> None:
    fast = {s.family for s in recipe_summaries() if s.name in DEFAULT}
    missing = set(FAMILIES.names()) - fast - set(COVERED_ELSEWHERE)
    assert not missing, f"families with no recipe in the default test matrix: {sorted(missing)}"


@pytest.mark.parametrize("name", _params())
def test_recipe_compresses_exports_and_proves(name: str, tmp_path: Path,
                                              request: pytest.FixtureRequest) -> None:
    if name == "lenet5":  # the same quick run other tests read: reuse it
        bundle, report = request.getfixturevalue("lenet_bundle")
    else:
        from edgekit.pipeline import compress
        from edgekit.recipe import load_recipe

        bundle = tmp_path / name
        report = compress(load_recipe(name, quick=True), bundle)
    arts = report["artifacts"]
    assert {a["format"] for a in arts} >= FORMATS, "every recipe proves all three formats"
    for art in arts:
        assert (bundle / art["file"]).is_file()
        assert art["runtime_version"], art["file"]
        failed = {k: v for k, v in art["checks"].items() if not v}
        assert art["passed"], (f"{art['file']} on {art['runtime']}: failed {failed}; "
                               f"{art['metric']} drop {art['metric_drop']:.4f}, "
                               f"agreement {art['agreement']:.4f}")
    assert report["passed"]
    assert (bundle / "report.json").is_file()
    if report["dataset"]["task"] != "classification":
        # re-proving the bundle reproduces its figures, also for metrics that need the inputs
        # (an autoencoder's AUROC), which `edgekit validate` once could not compute
        from edgekit.validation.ondevice import validate

        again = {r["file"]: r for r in validate(bundle, "cpu")["artifacts"]}
        for art in arts:
            assert again[art["file"]]["metric"]["value"] == pytest.approx(art["metric"]["value"],
                                                                          abs=1e-6), art["file"]
