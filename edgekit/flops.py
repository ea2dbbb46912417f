"""Operation counts read from an artifact's graph: FLOPs and bytes moved, per op, at batch 1.

Why from the graph file rather than from the Keras model: the artifact is what runs, after the
converter's fusions and layout changes. FLOPs count multiply-accumulates of the heavy ops
(convolutions, matmuls, fully connected) times two, the usual convention (cheap element-wise ops
are left out, so the count is a floor). Bytes moved per op are its input and output tensors,
weights included: the traffic a roofline estimate divides by memory bandwidth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.device.formats import Format, format_of
from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class OpCost:
    op: str
    flops: float
    bytes: float


@dataclass(frozen=True)
class GraphCost:
    ops: tuple[OpCost, ...]
    uncounted: tuple[str, ...] = ()  # fused runtime-specific ops whose work is not counted

    @property
    def flops(self) -> float:
        return float(sum(o.flops for o in self.ops))

    @property
    def bytes(self) -> float:
        return float(sum(o.bytes for o in self.ops))

    def to_json(self) -> dict[str, float | int]:
        out: dict = {"flops": self.flops, "bytes_moved": self.bytes, "ops": len(self.ops),
                     "heavy_ops": sum(1 for o in self.ops if o.flops > 0)}
        if self.uncounted:
            out["note"] = (f"not counted: fused ops {', '.join(self.uncounted)} (ONNX Runtime "
                           "contrib ops, e.g. from fusion: bert); FLOPs are a floor")
        return out


def _macs(op: str, out_shape: tuple[int, ...], weight_shape: tuple[int, ...]) -> float:
    """Multiply-accumulates of one heavy op from its output and weight shapes."""
    out = prod(out_shape)
    if op == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, C]
        return float(out * prod(weight_shape[1:3]))
    if op == "FULLY_CONNECTED":  # weights [N, K]
        return float(out * weight_shape[-1])
    return float(out * prod(weight_shape[1:]))  # Conv [Cout, Cin/g, kh, kw]; CONV_2D [Cout, kh, kw, Cin]


def _matmul_macs(out_shape: tuple[int, ...], lhs_shape: tuple[int, ...], trans_a: bool = False) -> float:
    """Matmuls contract over the left operand's last axis (its first when transposed). Reading
    K from the left operand, not the right, holds for attention's Q·Kᵀ too, where the right
    operand is an activation stored untransposed (TFLite BATCH_MATMUL adj_y)."""
    if not lhs_shape:
        return 0.0
    return float(prod(out_shape) * (lhs_shape[-2] if trans_a else lhs_shape[-1]))


# ---- ONNX ------------------------------------------------------------------------------------

_ONNX_CONV = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}  # op -> index of the weight input
_ONNX_MATMUL = {"MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"}  # left operand: input 0


def _with_batch_one(model: Any) -> Any:
    """Pin every graph input's leading dimension to 1 so that shape inference with data
    propagation resolves the Shape→Reshape chains converters emit (BERT's [batch*seq, hidden]
    reshapes): left symbolic, those dimensions would count as 1 and hide most of the FLOPs."""
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    return model


def _onnx_cost(path: Path) -> GraphCost:
    import onnx
    from onnx import helper

    model = onnx.shape_inference.infer_shapes(_with_batch_one(onnx.load(str(path))), data_prop=True)
    g = model.graph
    shapes: dict[str, tuple[int, ...]] = {}
    sizes: dict[str, int] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        t = vi.type.tensor_type
        shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim)
        sizes[vi.name] = np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).itemsize
    for init in g.initializer:
        shapes[init.name] = tuple(init.dims)
        sizes[init.name] = np.dtype(helper.tensor_dtype_to_np_dtype(init.data_type)).itemsize
    ops = []
    for node in g.node:
        moved = sum(prod(shapes[n]) * sizes[n] for n in [*node.input, *node.output] if n in shapes)
        flops = 0.0
        out = shapes.get(node.output[0])
        if node.op_type in _ONNX_CONV and out is not None and node.input[_ONNX_CONV[node.op_type]] in shapes:
            flops = 2 * _macs(node.op_type, out, shapes[node.input[_ONNX_CONV[node.op_type]]])
        elif node.op_type in _ONNX_MATMUL and out is not None:
            trans_a = bool(next((a.i for a in node.attribute if a.name == "transA"), 0))
            flops = 2 * _matmul_macs(out, shapes.get(node.input[0], ()), trans_a)
        ops.append(OpCost(node.op_type, flops, float(moved)))
    # Shape inference cannot see through contrib ops (QAttention, EmbedLayerNormalization...),
    # so say which ones hide work instead of reporting a silently low count.
    contrib = sorted({n.op_type for n in g.node if n.domain not in ("", "ai.onnx")})
    return GraphCost(tuple(ops), tuple(contrib))


# ---- TFLite ----------------------------------------------------------------------------------

_TFLITE_HEAVY = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "CONV_3D",
                 "TRANSPOSE_CONV"}


def _tflite_cost(path: Path) -> GraphCost:
    from edgekit.device.runtimes.litert import _interpreter_module

    mod = _interpreter_module()
    if mod is None:
        raise EdgekitError("counting TFLite FLOPs needs ai-edge-litert", fix="pip install ai-edge-litert")
    # Builtin kernels only, and one invoke on zeros: dynamically shaped tensors (BERT's
    # reshapes) get their real batch-1 shapes only when run, and tensors inside XNNPACK's
    # delegated partition are never resized in the interpreter.
    resolver = getattr(getattr(mod, "OpResolverType", None), "BUILTIN_WITHOUT_DEFAULT_DELEGATES", None)
    it = (mod.Interpreter(model_path=str(path), experimental_op_resolver_type=resolver)
          if resolver is not None else mod.Interpreter(model_path=str(path)))
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    tensors = {t["index"]: t for t in it.get_tensor_details()}

    def shape(i: int) -> tuple[int, ...]:
        return tuple(int(d) for d in tensors[i]["shape"]) if i in tensors else ()

    def nbytes(i: int) -> int:
        return prod(shape(i)) * np.dtype(tensors[i]["dtype"]).itemsize if i in tensors else 0

    ops = []
    for op in it._get_ops_details():
        name = op["op_name"]
        if name == "DELEGATE":  # XNNPACK's fused node: the original ops are listed as well
            continue
        ins = [int(i) for i in op["inputs"] if i >= 0]
        outs = [int(i) for i in op["outputs"]]
        flops = 0.0
        if name == "BATCH_MATMUL":
            flops = 2 * _matmul_macs(shape(outs[0]), shape(ins[0]))
        elif name in _TFLITE_HEAVY and len(ins) > 1:
            flops = 2 * _macs(name, shape(outs[0]), shape(ins[1]))
        ops.append(OpCost(name, flops, float(sum(nbytes(i) for i in ins + outs))))
    return GraphCost(tuple(ops))


COUNTERS: dict[Format, Callable[[Path], GraphCost]] = {Format.ONNX: _onnx_cost,
                                                      Format.TFLITE: _tflite_cost}
_CHILD_TIMEOUT_S = 300.0
_PREFIX = "edgekit-flops "


def graph_cost(path: Path) -> GraphCost | None:
    """Cost of the graph at ``path``; None for formats without a counter (OpenVINO IR).

    The file may come from anywhere (``edgekit profile`` takes any path), and the counters
    parse it with native code (the TFLite flatbuffer reader, ONNX shape inference) that can
    raise, abort or crash on hostile bytes. So it is sniffed here and parsed only in a child
    process (:func:`_count_in_child`); any failure is one :class:`EdgekitError` naming the
    file.
    """
    path = Path(path)
    if format_of(path) not in COUNTERS:
        return None
    from edgekit.device.runtimes._guard import sniff

    sniff(path)
    return _count_in_child(path)


def _check_external_data(path: Path) -> None:
    """An ONNX model's external tensors must live in files inside the model's folder and lie
    within them: a crafted ``location`` would read ``/etc/passwd`` or a huge extent."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    from edgekit.paths import inside

    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        where = f"{path} (tensor {tensor.name})"
        data = inside(path.parent, str(info.location), what="external data file", where=where,
                      fix="keep external data files next to the model",
                      scope="the model's folder")
        if not data.is_file():
            raise EdgekitError(f"external data file '{info.location}' is missing", where=where,
                               fix="copy it next to the model")
        end = (info.offset or 0) + (info.length or 0)
        if end > data.stat().st_size:
            raise EdgekitError(f"external data extent (offset {info.offset}, length "
                               f"{info.length}) runs past the end of '{info.location}'",
                               where=where, fix="the model is damaged or crafted; re-export it")


def _child(path: str) -> None:
    """In the child: count ``path`` and print one JSON line (the ops, or the error)."""
    import json

    p = Path(path)
    try:
        fmt = format_of(p)
        if fmt is None or fmt not in COUNTERS:  # graph_cost() sends only counted formats
            raise EdgekitError("no FLOP counter for this file's format", where=p)
        if fmt is Format.ONNX:
            _check_external_data(p)
        cost = COUNTERS[fmt](p)
        out = {"ops": [[o.op, o.flops, o.bytes] for o in cost.ops],
               "uncounted": list(cost.uncounted)}
    except EdgekitError as exc:
        out = {"error": exc.message, "where": exc.where, "fix": exc.fix}
    except Exception as exc:  # a parser's complaint about the bytes: the file is bad
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
        out = {"error": f"cannot read the graph to count FLOPs: {type(exc).__name__}: "
                        f"{first[:300]}"}
    print(_PREFIX + json.dumps(out), flush=True)


def _count_in_child(path: Path) -> GraphCost:
    import json
    import subprocess
    import sys

    from edgekit.device.runtimes._isolate import child_env, describe_exit

    fix = "the file is corrupt or not a model; re-export it"
    cmd = [sys.executable, "-m", "edgekit.flops", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_CHILD_TIMEOUT_S,
                              env=child_env())
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"counting FLOPs timed out after {_CHILD_TIMEOUT_S:.0f} s", where=path,
                           fix=fix) from None
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(_PREFIX)), None)
    if line is None:
        raise EdgekitError(f"the graph reader {describe_exit(proc.returncode)} while counting "
                           "FLOPs", where=path, fix=fix)
    rec = json.loads(line[len(_PREFIX):])
    if "error" in rec:
        raise EdgekitError(rec["error"], where=rec.get("where") or path, fix=rec.get("fix") or fix)
    return GraphCost(tuple(OpCost(op, float(f), float(b)) for op, f, b in rec["ops"]),
                     tuple(rec["uncounted"]))


if __name__ == "__main__":
    import sys

    _child(sys.argv[1])
