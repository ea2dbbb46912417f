"""ONNX Runtime, CPU execution provider, all graph optimizations on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit.device.formats import Format
from edgekit.device.runtimes import RUNTIMES, Inputs, Runtime, Session, match_inputs
from edgekit.device.runtimes._guard import engine_errors, sniff

_NP_TYPES = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
             "tensor(float16)": np.float16}
CPU = "CPUExecutionProvider"

_TRUE = frozenset({"1", "true", "yes", "on"})


def flag(value: object) -> bool:
    """A runtime option's value as a bool (options reach the runner as strings)."""
    return value is True or str(value).strip().lower() in _TRUE


# A provider as ONNX Runtime takes it: a name, or (name, {option: value}).
Provider = str | tuple[str, dict[str, str]]


def provider_name(provider: Provider) -> str:
    return provider if isinstance(provider, str) else provider[0]


class ORTSession(Session):
    def __init__(self, session: object, path: Path | str = "",
                 providers: list[Provider] | None = None) -> None:
        self._s = session
        self._path = path
        self._providers = providers or [CPU]
        self._types = {i.name: _NP_TYPES.get(i.type, np.float32) for i in session.get_inputs()}
        self.input_names = list(self._types)
        self._output = session.get_outputs()[0].name
        self.notes: dict[str, object] = {}  # how the session was set up, for the run's record

    def _feed(self, inputs: Inputs) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(v, dtype=self._types[k]) for k, v in
                match_inputs(self.input_names, inputs).items()}

    def run(self, inputs: Inputs) -> np.ndarray:
        with engine_errors("onnxruntime", self._path, "run"):
            return self._s.run([self._output], self._feed(inputs))[0]

    def run_outputs(self, inputs: Inputs) -> dict[str, np.ndarray]:
        with engine_errors("onnxruntime", self._path, "run"):
            names = [o.name for o in self._s.get_outputs()]
            return dict(zip(names, self._s.run(names, self._feed(inputs))))

    def placement(self, inputs: Inputs) -> dict[str, Any]:
        """Which execution provider ran each op type, from a profiled run of ``inputs`` in a
        session of its own (see :mod:`edgekit.device.runtimes._ort_placement`)."""
        from edgekit.device.runtimes._ort_placement import record_placement

        # The same providers and options, less CUDA graphs: the profiled session runs plain
        # (graphs need bound buffers), and a graph replays the placement it captured anyway.
        plain = [p if isinstance(p, str) else
                 (p[0], {k: v for k, v in p[1].items() if k != "enable_cuda_graph"})
                 for p in self._providers]
        with engine_errors("onnxruntime", self._path, "profile"):
            found = record_placement(self._path, plain, self._feed(inputs), session_options(1))
        return found.to_json(provider_name(self._providers[0]))

    def execution_details(self, inputs: Inputs) -> dict[str, object]:
        # On the CPU EP every node runs on the CPU: nothing to find out, no second session.
        if provider_name(self._providers[0]) == CPU:
            return dict(self.notes)
        try:
            return {**self.notes, "placement": self.placement(inputs)}
        except Exception as exc:  # the record is extra: never fail a run that worked over it
            return {**self.notes, "placement_error": str(exc).splitlines()[0][:300]}


class BoundSession(ORTSession):
    """Inputs and the output in fixed buffers on the device, bound once per input shape (I/O
    binding). CUDA graphs need it: a captured graph replays the same device addresses, so new
    inputs are copied into the bound buffers (``update_inplace``) and the output is read from
    its bound buffer. Each input shape gets its own graph (``gpu_graph_id``), so batch-1 proofs
    and batch-N profiles can share one session. On the CPU EP (``device='cpu'``) the same code
    runs without graphs, which is how it is tested without a GPU."""

    def __init__(self, session: object, path: Path | str, providers: list[Provider],
                 device: str = "cuda", graphs: bool = True) -> None:
        super().__init__(session, path, providers)
        self._device = device
        self._graphs = graphs
        self._slots: dict[tuple[Any, ...], tuple[Any, dict[str, Any], Any, Any]] = {}
        out = session.get_outputs()[0]
        self._out_shape = out.shape
        self._out_type = _NP_TYPES.get(out.type, np.float32)
        self._in_shapes = {i.name: i.shape for i in session.get_inputs()}

    def output_shape(self, feed: dict[str, np.ndarray]) -> list[int]:
        """The output's shape for ``feed``: fixed dims as declared, named symbolic dims from
        the inputs that share the name, and the first dim, unnamed or named apart from the
        inputs' (tf2onnx writes ``unk__140``), the batch size."""
        symbols: dict[str, int] = {}
        for name, dims in self._in_shapes.items():
            for dim, actual in zip(dims, feed[name].shape):
                if isinstance(dim, str):
                    symbols[dim] = actual
        batch = next(iter(feed.values())).shape[0]
        shape = []
        for i, dim in enumerate(self._out_shape):
            if isinstance(dim, int):
                shape.append(dim)
            elif isinstance(dim, str) and dim in symbols:
                shape.append(symbols[dim])
            elif i == 0:
                shape.append(batch)
            else:
                raise ValueError(f"output dim {i} ('{dim}') is not an input dim: cannot "
                                 "pre-allocate the bound output buffer (turn cuda_graphs off "
                                 "for this model)")
        return shape

    def _bind(self, feed: dict[str, np.ndarray]) -> tuple[Any, dict[str, Any], Any, Any]:
        import onnxruntime as ort

        values = {k: ort.OrtValue.ortvalue_from_numpy(v, self._device, 0) for k, v in feed.items()}
        output = ort.OrtValue.ortvalue_from_shape_and_type(self.output_shape(feed),
                                                           self._out_type, self._device, 0)
        binding = self._s.io_binding()
        for name, value in values.items():
            binding.bind_ortvalue_input(name, value)
        binding.bind_ortvalue_output(self._output, output)
        options = ort.RunOptions()
        if self._graphs:
            options.add_run_config_entry("gpu_graph_id", str(len(self._slots)))
        return binding, values, output, options

    def run(self, inputs: Inputs) -> np.ndarray:
        with engine_errors("onnxruntime", self._path, "run"):
            feed = self._feed(inputs)
            key = tuple((k, v.shape) for k, v in feed.items())
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = self._bind(feed)
            else:
                for name, value in feed.items():
                    slot[1][name].update_inplace(value)
            binding, _, output, options = slot
            self._s.run_with_iobinding(binding, options)
            return np.array(output.numpy(), copy=True)


def session_options(threads: int, spinning: bool = True) -> Any:
    """``spinning`` False: idle intra-op threads block instead of spinning for work. Under
    qemu a spinning thread emulates the busy-wait loop at a host core's full cost: the SST-2
    MiniLM teacher took ~15-20% more CPU seconds per example with it (outputs are the same:
    only how threads wait changes, not how the work is split)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


class ONNXRuntimeCPU(Runtime):
    name = "onnxruntime"
    formats = frozenset({Format.ONNX})
    provider = CPU
    options = frozenset({"spinning"})

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

    def load(self, path: Path, threads: int, spinning: object = True) -> Session:
        return self.open(path, threads, self.providers(), spinning=flag(spinning))

    def open(self, path: Path, threads: int, providers: list[Provider],
             spinning: bool = True) -> ORTSession:
        """A plain session of ``path`` on ``providers``."""
        import onnxruntime as ort

        sniff(path)
        with engine_errors(self.name, path, "load"):
            session = ort.InferenceSession(str(path), session_options(threads, spinning),
                                           providers=providers)
            return ORTSession(session, path, providers)

    def providers(self) -> list[Provider]:
        """Execution providers in priority order (GPU subclasses add a CPU fallback)."""
        return [self.provider]


RUNTIMES.register(ONNXRuntimeCPU.name, ONNXRuntimeCPU())
