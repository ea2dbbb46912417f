"""OpenVINO on the CPU plugin, latency hint.

OpenVINO chooses its inference precision when compiling: bf16 on CPUs with AVX512-BF16 or AMX,
f32 otherwise, unless ``INFERENCE_PRECISION_HINT`` says. We read the compiled model's property
back, so a report never calls a bf16 run fp32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.device.formats import Format
from edgekit.device.runtimes import RUNTIMES, Inputs, Runtime, Session, match_inputs
from edgekit.device.runtimes._guard import engine_errors, sniff

_PRECISIONS = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


class OpenVINOSession(Session):
    def __init__(self, compiled: object, path: Path | str = "") -> None:
        self._compiled = compiled
        self._path = path
        self._request = compiled.create_infer_request()
        self.input_names = [p.get_any_name() for p in compiled.inputs]
        self._aliases = {p.get_any_name(): sorted(p.get_names()) for p in compiled.inputs}
        self._types = {p.get_any_name(): p.get_element_type().to_dtype() for p in compiled.inputs}
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        self.inference_precision = _PRECISIONS.get(hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint), str(hint))

    def run(self, inputs: Inputs) -> np.ndarray:
        with engine_errors("openvino", self._path, "run"):
            feed = {k: np.asarray(v, dtype=self._types[k]) for k, v in
                    match_inputs(self.input_names, inputs, self._aliases).items()}
            self._request.infer(feed)
            return self._request.get_output_tensor(0).data.copy()

    def run_outputs(self, inputs: Inputs) -> dict[str, np.ndarray]:
        with engine_errors("openvino", self._path, "run"):
            feed = {k: np.asarray(v, dtype=self._types[k]) for k, v in
                    match_inputs(self.input_names, inputs, self._aliases).items()}
            self._request.infer(feed)
            # a port has every name the graph gave its tensor: key it by each
            return {name: self._request.get_tensor(port).data.copy()
                    for port in self._compiled.outputs for name in port.get_names()}

    def executed_precision(self, stored: str) -> str:
        # Float artifacts compute in the hint's precision; int8 (FakeQuantize) layers run int8
        # and the rest of the graph in the hint's precision.
        if stored in ("fp32", "fp16"):
            return self.inference_precision
        return stored if self.inference_precision == "fp32" else f"{stored}+{self.inference_precision}"


class OpenVINOCPU(Runtime):
    name = "openvino"
    formats = frozenset({Format.OPENVINO, Format.ONNX, Format.TFLITE})
    device = "CPU"

    def missing(self) -> str | None:
        try:
            import openvino as ov
        except ImportError:
            return "openvino is not installed"
        if self.device not in ov.Core().available_devices:
            return f"OpenVINO device {self.device} is not available"
        return None

    def version(self) -> str:
        import openvino as ov

        return f"openvino {ov.get_version().split('-')[0]}"

    def load(self, path: Path, threads: int, precision_hint: str | None = None) -> Session:
        import openvino as ov

        config: dict[str, object] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        if precision_hint:
            config["INFERENCE_PRECISION_HINT"] = precision_hint
        core = ov.Core()
        sniff(path)
        with engine_errors(self.name, path, "load"):
            return OpenVINOSession(core.compile_model(core.read_model(str(path)), self.device,
                                                      config), path)


RUNTIMES.register(OpenVINOCPU.name, OpenVINOCPU())
