from __future__ import annotations

import pytest

from edgekit.errors import EdgekitError, RegistryError
from edgekit.exporters import EXPORTERS
from edgekit.registry import Registry
from edgekit.device.runtimes import RUNTIMES
from edgekit.stages import STAGES


def test_duplicate_names_are_refused() -> None:
    reg: Registry[int] = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("a", 2)


def test_unknown_name_lists_the_known_ones() -> None:
    reg: Registry[int] = Registry("thing")
    reg.register("alpha", 1)
    with pytest.raises(EdgekitError) as info:
        reg.get("beta")
    assert "unknown thing 'beta'" in str(info.value) and "alpha" in str(info.value)
    assert "\n" not in str(info.value)


def test_discovery_finds_every_plugin_module() -> None:
    assert {"tflite", "onnx", "openvino"} <= set(EXPORTERS.names())
    assert {"litert", "onnxruntime", "openvino"} <= set(RUNTIMES.names())
    assert {"prune", "qat"} <= set(STAGES.names())


def test_every_exporter_has_an_available_runtime() -> None:
    for name in EXPORTERS.names():
        runtime = RUNTIMES.get(EXPORTERS.get(name).runtime)
        assert name in runtime.formats
        assert runtime.missing() is None, runtime.missing()
