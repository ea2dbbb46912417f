"""Optimum-style guard: every registered family and model builder must be exercised by a
built-in recipe (the fixture the test matrix runs), so nothing registered goes untested."""

from __future__ import annotations

from edgekit.families import FAMILIES
from edgekit.models import MODELS
from edgekit.recipe import recipe_summaries
from edgekit.yamlio import read_yaml_mapping


def _recipes() -> list[dict]:
    return [read_yaml_mapping(s.path) for s in recipe_summaries()]


def test_every_family_has_a_recipe() -> None:
    covered = {r["family"] for r in _recipes()}
    missing = set(FAMILIES.names()) - covered
    assert not missing, f"families without a recipe/test fixture: {sorted(missing)}"


def test_every_builder_is_used_by_a_recipe_or_is_generic() -> None:
    used = {r["model"]["builder"] for r in _recipes()}
    generic = {n for n in MODELS.names() if MODELS.get(n).family is None}
    missing = set(MODELS.names()) - used - generic
    assert not missing, f"model builders with no recipe: {sorted(missing)}"


def test_float_tolerances_are_ordered() -> None:
    for name in FAMILIES.names():
        tol = FAMILIES.get(name).conversion_atol
        if "fp32" in tol and "fp16" in tol:
            assert tol["fp32"] <= tol["fp16"], name
