"""Zachary's karate club (networkx's bundled graph: 34 members, 78 ties; each member's label is
the club they joined after the split, from the data's ``club`` attribute).

Node classification in a form every runtime can run: each example is one node, given as three
dense inputs: ``features`` (N×N identity: members have no attributes, as in Kipf & Welling's
karate experiment), ``adjacency`` (N×N, normalized as the model family needs) and ``node``
(one-hot N selector). The graph is repeated per example; at N = 34 that is 9 KB.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, LoaderConfig, SplitPlan, stratified_split


class GraphConfig(LoaderConfig):
    normalization: Literal["symmetric", "mean", "mask"] = Field(
        "symmetric", description="symmetric: D^-1/2 (A+I) D^-1/2 (GCN); mean: D^-1 A (GraphSAGE "
        "mean aggregation); mask: A+I as 0/1 (GAT attends over it)")


def normalize(adj: np.ndarray, how: str) -> np.ndarray:
    n = len(adj)
    if how == "mean":
        deg = adj.sum(1, keepdims=True)
        return adj / np.maximum(deg, 1)
    a = adj + np.eye(n)
    if how == "mask":
        return a
    d = 1.0 / np.sqrt(a.sum(1))
    return a * d[:, None] * d[None, :]


class KarateClub(DatasetLoader[GraphConfig]):
    name = "karate_club"
    description = "Zachary's karate club (networkx), 34 nodes, club after the split, 2 classes"
    Config = GraphConfig

    def load(self, config: GraphConfig, plan: SplitPlan) -> Dataset:
        import networkx as nx

        g = nx.karate_club_graph()
        nodes = sorted(g.nodes)
        n = len(nodes)
        adj = nx.to_numpy_array(g, nodelist=nodes, weight=None)
        clubs = sorted({g.nodes[v]["club"] for v in nodes})
        y = np.array([clubs.index(g.nodes[v]["club"]) for v in nodes], dtype=np.int64)
        a = normalize(adj, config.normalization).astype(np.float32)
        x = {"features": np.repeat(np.eye(n, dtype=np.float32)[None], n, axis=0),
             "adjacency": np.repeat(a[None], n, axis=0),
             "node": np.eye(n, dtype=np.float32)}
        train, val, test = stratified_split(x, y, plan)
        return Dataset(name=self.name, task="classification", train=train, val=val, test=test,
                       num_classes=len(clubs), source="networkx.karate_club_graph (Zachary 1977)",
                       extra={"class_names": clubs, "normalization": config.normalization})


DATASETS.register(KarateClub.name, KarateClub())
