"""LiteRT (``ai-edge-litert``), falling back to the older ``tflite-runtime`` with the same API.

XNNPACK is LiteRT's default CPU delegate; fp16-weight models are computed in fp32 by it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.device.formats import Format
from edgekit.device.runtimes import RUNTIMES, Inputs, Runtime, Session
from edgekit.device.runtimes._guard import engine_errors, sniff

_CANDIDATES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


def _interpreter_module() -> Any | None:
    for name in _CANDIDATES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


class LiteRTSession(Session):
    def __init__(self, interpreter: Any, path: Path | str = "") -> None:
        self._it = interpreter
        self._path = path
        runner = interpreter.get_signature_runner()
        self._inputs = {k: (d["index"], d["dtype"]) for k, d in runner.get_input_details().items()}
        outputs = runner.get_output_details()
        self._output = outputs[sorted(outputs)[0]]["index"]
        self._outputs = {name: d["index"] for name, d in outputs.items()}
        self.input_names = list(self._inputs)
        self._shapes: dict[int, tuple[int, ...]] = {}

    def run(self, inputs: Inputs) -> np.ndarray:
        with engine_errors("litert", self._path, "run"):
            return self._run(inputs)

    def run_outputs(self, inputs: Inputs) -> dict[str, np.ndarray]:
        with engine_errors("litert", self._path, "run"):
            self._run(inputs)
            return {name: self._it.get_tensor(index) for name, index in self._outputs.items()}

    def _run(self, inputs: Inputs) -> np.ndarray:
        from edgekit.device.runtimes import match_inputs

        feed = match_inputs(self.input_names, inputs)
        resized = False
        for name, arr in feed.items():
            index, dtype = self._inputs[name]
            if self._shapes.get(index) != arr.shape:
                self._it.resize_tensor_input(index, arr.shape)
                self._shapes[index] = arr.shape
                resized = True
        if resized:
            self._it.allocate_tensors()
        for name, arr in feed.items():
            index, dtype = self._inputs[name]
            self._it.set_tensor(index, np.ascontiguousarray(arr, dtype=dtype))
        self._it.invoke()
        return self._it.get_tensor(self._output)

    def executed_precision(self, stored: str) -> str:
        return "fp32" if stored == "fp16" else stored  # XNNPACK dequantizes fp16 weights


class LiteRT(Runtime):
    name = "litert"
    formats = frozenset({Format.TFLITE})

    def missing(self) -> str | None:
        return None if _interpreter_module() else "ai-edge-litert (or tflite-runtime) is not installed"

    def version(self) -> str:
        mod = _interpreter_module()
        pkg = mod.__name__.split(".")[0] if mod else "none"
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"{pkg.replace('_', '-')} {version(pkg.replace('_', '-'))}"
        except PackageNotFoundError:
            return pkg

    def load(self, path: Path, threads: int) -> Session:
        mod = _interpreter_module()
        if mod is None:
            raise ImportError(self.missing())
        from edgekit.device.quiet import native_stderr

        sniff(path)
        with engine_errors(self.name, path, "load"), native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
            interpreter = mod.Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
            return LiteRTSession(interpreter, path)


RUNTIMES.register(LiteRT.name, LiteRT())
