"""Model families and their export specs.

Like optimum's per-architecture export configs, each family states the tolerance within which
an exported artifact's outputs must match the Keras model it was converted from, per precision.
One module per family (no 3,000-line registry file); ``tests/test_families.py`` fails when a
registered family has no test fixture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from edgekit.registry import Registry


@dataclass(frozen=True)
class FamilySpec:
    name: str
    description: str
    # Max |artifact - source Keras model| on outputs for a faithful conversion. A precision not
    # listed (int8 ...) is judged by the accuracy budget and agreement alone: its error is
    # expected, not a conversion bug.
    conversion_atol: Mapping[str, float] = field(default_factory=dict)
    # Format -> name of a family-specific graph writer (``edgekit.exporters.graphs``) that the
    # format's exporter uses instead of its generic converter, e.g. to emit the node patterns a
    # runtime's fusions expect. Formats not listed use the generic converter.
    graph_writers: Mapping[str, str] = field(default_factory=dict)


FAMILIES: Registry[FamilySpec] = Registry("model family", "edgekit.families")
