"""ONNX Runtime, CPU execution provider, all graph optimizations on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.runtimes import RUNTIMES, Inputs, Runtime, Session, match_inputs
from edgekit.runtimes._guard import engine_errors, sniff

_NP_TYPES = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
             "tensor(float16)": np.float16}


class ORTSession(Session):
    def __init__(self, session: object, path: Path | str = "") -> None:
        self._s = session
        self._path = path
        self._types = {i.name: _NP_TYPES.get(i.type, np.float32) for i in session.get_inputs()}
        self.input_names = list(self._types)
        self._output = session.get_outputs()[0].name

    def run(self, inputs: Inputs) -> np.ndarray:
        with engine_errors("onnxruntime", self._path, "run"):
            feed = {k: np.asarray(v, dtype=self._types[k]) for k, v in
                    match_inputs(self.input_names, inputs).items()}
            return self._s.run([self._output], feed)[0]


class ONNXRuntimeCPU(Runtime):
    name = "onnxruntime"
    formats = frozenset({"onnx"})
    provider = "CPUExecutionProvider"

    def missing(self) -> str | None:
        try:
            import onnxruntime as ort
        except ImportError:
            return "onnxruntime is not installed"
        if self.provider not in ort.get_available_providers():
            return f"onnxruntime has no {self.provider} (installed: {ort.get_available_providers()})"
        return None

    def version(self) -> str:
        import onnxruntime as ort

        return f"onnxruntime {ort.__version__}"

    def load(self, path: Path, threads: int) -> Session:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        sniff(path)
        with engine_errors(self.name, path, "load"):
            return ORTSession(ort.InferenceSession(str(path), opts, providers=self.providers()), path)

    def providers(self) -> list[str]:
        """Execution providers in priority order (GPU subclasses add a CPU fallback)."""
        return [self.provider]


RUNTIMES.register(ONNXRuntimeCPU.name, ONNXRuntimeCPU())
