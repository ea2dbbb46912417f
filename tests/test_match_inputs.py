"""edgekit.device.runtimes.match_inputs: how an engine's input names are matched to ours."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.device.runtimes import match_inputs

Z = np.zeros((1, 4), np.float32)


def test_decorated_names_contain_ours() -> None:
    assert set(match_inputs(["serving_default_z:0"], {"z": Z})) == {"serving_default_z:0"}


def test_an_alias_of_the_engine_input_matches_exactly() -> None:
    """OpenVINO reported a diffusion sampler's input by another of its tensor's names."""
    engine = "diffusion/ddim_sampler/mul_2:0"
    got = match_inputs([engine], {"z": Z}, {engine: [engine, "z"]})
    assert got[engine] is Z
    with pytest.raises(KeyError, match="cannot match engine input"):
        match_inputs([engine], {"z": Z})  # without its aliases: nothing to go by
