"""Graph convolutional network (Kipf & Welling 2017): H' = act(Â H W) with the symmetric
normalized adjacency Â = D^-1/2 (A+I) D^-1/2 given as an input."""

from __future__ import annotations

from typing import Any

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, ModelBuilder
from edgekit.models._graph import GraphConfig, graph_inputs, propagate, read_node


class GCN(ModelBuilder):
    name = "gcn"
    family = "graph"
    Config = GraphConfig

    def build(self, config: GraphConfig, data: Dataset) -> Any:  # type: ignore[override]
        keras = _tf.keras()
        L = keras.layers
        inp = graph_inputs(data, self.name)
        h = inp["features"]
        for i in range(config.layers):
            last = i == config.layers - 1
            h = L.Dense(data.num_classes if last else config.hidden, use_bias=False,
                        name=f"gcn{i + 1}_weight")(h)
            h = propagate(inp["adjacency"], h, f"gcn{i + 1}_propagate")
            if not last:
                h = L.ReLU(name=f"gcn{i + 1}_relu")(h)
                if config.dropout:
                    h = L.Dropout(config.dropout, name=f"gcn{i + 1}_dropout")(h)
        return keras.Model(list(inp.values()), read_node(inp["node"], h), name=self.name)


MODELS.register(GCN.name, GCN())
