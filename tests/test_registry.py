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


def test_threads_asking_first_at_once_all_see_the_whole_registry(tmp_path, monkeypatch) -> None:
    """validate's parallel runners look runtimes up from two threads at the same moment: the
    one that does not import must wait for discovery, not see a half-filled registry. A
    package whose plug-ins take a while to import (as onnxruntime's and LiteRT's do)."""
    import threading

    pkg = tmp_path / "slowplugins"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from edgekit.device.registry import Registry\nREG = Registry('thing', 'slowplugins')\n")
    for name in ("alpha", "beta"):
        (pkg / f"{name}.py").write_text(
            "import time\ntime.sleep(0.3)\nfrom slowplugins import REG\n"
            f"REG.register('{name}', 1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import slowplugins  # type: ignore[import-not-found]

    barrier, seen = threading.Barrier(4), []

    def ask() -> None:
        barrier.wait()
        seen.append(slowplugins.REG.names())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [["alpha", "beta"]] * 4, seen
