"""Graph convolutional network (Kipf & Welling 2017): H' = act(Â H W) with the symmetric
normalized adjacency Â = D^-1/2 (A+I) D^-1/2 given as an input."""

from __future__ import annotations

from typing import Any

from edgekit import _tf
from edgekit.models import MODELS
from edgekit.models._graph import GraphConfig, MessagePassingBuilder, propagate


class GCN(MessagePassingBuilder[GraphConfig]):
    name = "gcn"
    Config = GraphConfig

    def layer(self, h: Any, adjacency: Any, units: int, index: int, last: bool,
              config: GraphConfig) -> Any:
        L = _tf.keras().layers
        h = L.Dense(units, use_bias=False, name=f"gcn{index}_weight")(h)
        h = propagate(adjacency, h, f"gcn{index}_propagate")
        if last:
            return h
        h = L.ReLU(name=f"gcn{index}_relu")(h)
        return L.Dropout(config.dropout, name=f"gcn{index}_dropout")(h) if config.dropout else h


MODELS.register(GCN.name, GCN())
