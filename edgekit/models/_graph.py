"""Shared by the graph builders: the three dense inputs and the read-out of one node.

Message passing is a batched matrix product ``adjacency @ H`` (keras ``Dot``), which TFLite
(BATCH_MATMUL), ONNX (MatMul) and OpenVINO all run; no sparse or scatter ops are needed."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import BuilderConfig, ModelBuilder

GRAPH_INPUTS = ("features", "adjacency", "node")


class GraphConfig(BuilderConfig):
    hidden: int = Field(16, ge=1)
    layers: int = Field(2, ge=1, le=4, description="message-passing layers (the last outputs "
                        "class scores)")
    dropout: float = Field(0.0, ge=0, lt=1)


def graph_inputs(data: Dataset, model_name: str) -> dict[str, Any]:
    keras = _tf.keras()
    shapes = data.input_shapes()
    if set(shapes) != set(GRAPH_INPUTS):
        raise EdgekitError(f"model '{model_name}' needs inputs {GRAPH_INPUTS}, dataset "
                           f"'{data.name}' gives {sorted(shapes)}", where="data.dataset",
                           fix="use a graph dataset such as karate_club")
    return {k: keras.Input(shape=shapes[k], name=k) for k in GRAPH_INPUTS}


def propagate(adjacency: Any, h: Any, name: str) -> Any:
    """adjacency (B,N,N) @ h (B,N,F) → (B,N,F)."""
    return _tf.keras().layers.Dot(axes=(2, 1), name=name)([adjacency, h])


def read_node(node: Any, h: Any) -> Any:
    """one-hot node (B,N) · h (B,N,C) → that node's row (B,C)."""
    return _tf.keras().layers.Dot(axes=(1, 1), name="logits")([node, h])


G = TypeVar("G", bound=GraphConfig)


class MessagePassingBuilder(ModelBuilder[G]):
    """``layers`` message-passing layers from the node features, the last one producing class
    scores, then the selected node's row. Subclasses write one layer; generic over their
    config, which extends :class:`GraphConfig`."""

    family = "graph"

    def layer(self, h: Any, adjacency: Any, units: int, index: int, last: bool,
              config: G) -> Any:
        raise NotImplementedError

    def build(self, config: G, data: Dataset) -> Any:
        keras = _tf.keras()
        inp = graph_inputs(data, self.name)
        h = inp["features"]
        for i in range(config.layers):
            last = i == config.layers - 1
            h = self.layer(h, inp["adjacency"], data.num_classes if last else config.hidden,
                           i + 1, last, config)
        return keras.Model(list(inp.values()), read_node(inp["node"], h), name=self.name)
