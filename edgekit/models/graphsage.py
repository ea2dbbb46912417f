"""GraphSAGE with mean aggregation (Hamilton et al. 2017): h' = act(W_self h + W_neigh mean of
the neighbours' h), the mean taken with the row-normalized adjacency D^-1 A as an input."""

from __future__ import annotations

from typing import Any

from edgekit import _tf
from edgekit.models import MODELS
from edgekit.models._graph import GraphConfig, MessagePassingBuilder, propagate


class GraphSAGE(MessagePassingBuilder[GraphConfig]):
    name = "graphsage"
    Config = GraphConfig

    def layer(self, h: Any, adjacency: Any, units: int, index: int, last: bool,
              config: GraphConfig) -> Any:
        L = _tf.keras().layers
        neigh = propagate(adjacency, h, f"sage{index}_mean")
        h = L.Add(name=f"sage{index}_sum")([L.Dense(units, name=f"sage{index}_self")(h),
                                            L.Dense(units, use_bias=False,
                                                    name=f"sage{index}_neigh")(neigh)])
        return h if last else L.ReLU(name=f"sage{index}_relu")(h)


MODELS.register(GraphSAGE.name, GraphSAGE())
