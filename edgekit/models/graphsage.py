"""GraphSAGE with mean aggregation (Hamilton et al. 2017): h' = act(W_self h + W_neigh mean of
the neighbours' h), the mean taken with the row-normalized adjacency D^-1 A as an input."""

from __future__ import annotations

from typing import Any

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, ModelBuilder
from edgekit.models._graph import GraphConfig, graph_inputs, propagate, read_node


class GraphSAGE(ModelBuilder):
    name = "graphsage"
    family = "graph"
    Config = GraphConfig

    def build(self, config: GraphConfig, data: Dataset) -> Any:  # type: ignore[override]
        keras = _tf.keras()
        L = keras.layers
        inp = graph_inputs(data, self.name)
        h = inp["features"]
        for i in range(config.layers):
            last = i == config.layers - 1
            units = data.num_classes if last else config.hidden
            neigh = propagate(inp["adjacency"], h, f"sage{i + 1}_mean")
            h = L.Add(name=f"sage{i + 1}_sum")([L.Dense(units, name=f"sage{i + 1}_self")(h),
                                                L.Dense(units, use_bias=False,
                                                        name=f"sage{i + 1}_neigh")(neigh)])
            if not last:
                h = L.ReLU(name=f"sage{i + 1}_relu")(h)
        return keras.Model(list(inp.values()), read_node(inp["node"], h), name=self.name)


MODELS.register(GraphSAGE.name, GraphSAGE())
