"""Weight-only int8 for lookup tables (``Gather`` data) in a QDQ ONNX model.

Why: ONNX Runtime's static QDQ quantizer quantizes what computes (MatMul, Gemm, Conv), not
embedding tables, which a ``Gather`` only indexes. In a BERT they are most of the bytes: the
SST-2 TinyBERT student's 30,522 x 192 word table is 23.4 MB of its 29.4 MB, so its OpenVINO
int8 IR stayed at 26 MB. Stored as int8 rows with one float scale per row, read through a
``DequantizeLinear`` that OpenVINO keeps as an int8 constant plus a decompression subgraph
(Convert, Multiply), the table is a quarter of the size and a looked-up row is off by at most
half a step (max |row| / 254), which the LayerNorm after the embeddings then normalises.
Activations are untouched: this is storage, not int8 compute.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Smaller tables (token types, a handful of classes) are not worth a node.
MIN_ELEMENTS = 4096


def quantize_lookup_tables(src: Path, dest: Path, min_elements: int = MIN_ELEMENTS) -> list[str]:
    """Rewrite every float initializer of at least ``min_elements`` that feeds only ``Gather``
    data inputs as per-row symmetric int8 + ``DequantizeLinear``; return the tables' names."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for slot, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, slot))
    done: list[str] = []
    new_nodes = []
    for name, tensor in inits.items():
        uses = consumers.get(name, [])
        if (tensor.data_type != onnx.TensorProto.FLOAT or len(tensor.dims) != 2
                or int(np.prod(tensor.dims)) < min_elements or not uses
                or any(n.op_type != "Gather" or slot != 0 or _axis(n) != 0 for n, slot in uses)):
            continue
        table = numpy_helper.to_array(tensor).astype(np.float32)
        scale = np.maximum(np.abs(table).max(axis=1), 1e-12) / 127.0
        q = np.clip(np.round(table / scale[:, None]), -127, 127).astype(np.int8)
        tensor.CopyFrom(numpy_helper.from_array(q, f"{name}_int8"))
        graph.initializer.append(numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale"))
        new_nodes.append(helper.make_node("DequantizeLinear", [f"{name}_int8", f"{name}_scale"],
                                          [name], name=f"{name}_dequantize", axis=0))
        done.append(name)
    for node in reversed(new_nodes):  # before their Gathers: graphs are topologically sorted
        graph.node.insert(0, node)
    onnx.save(model, str(dest))
    return done


def _axis(node: object) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 0)  # type: ignore[attr-defined]
