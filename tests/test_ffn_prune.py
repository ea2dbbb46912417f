"""Structured FFN pruning of a tiny BERT: the most important neurons survive, keeping all of
them changes nothing, and the stage shrinks the model and trains it back by distillation."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
from conftest import randomize_weights

from edgekit.data import Dataset, Split
from edgekit.models.bert import names
from edgekit.models.bert.config import BertConfig
from edgekit.models.bert.encoder import build_bert
from edgekit.recipe.schema import TrainSection
from edgekit.stages.ffn_prune import FfnPrune, FfnPruneConfig, copy_pruned_ffn, kept_neurons
from edgekit.strategy import make_strategy
from edgekit.training import TrainContext

SEQ = 8
CFG = BertConfig(vocab_size=50, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
                 max_position_embeddings=16, num_labels=2)


def _feed(n: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(1, 50, (n, SEQ)).astype(np.int32),
            "attention_mask": np.ones((n, SEQ), np.int32),
            "token_type_ids": np.zeros((n, SEQ), np.int32)}


def _model() -> object:
    return randomize_weights(build_bert(CFG, SEQ), seed=3, std=0.3)


def test_kept_neurons_are_the_strongest_in_order() -> None:
    w_in = np.ones((4, 5), np.float32) * np.array([1, 5, 2, 4, 3], np.float32)
    w_out = np.ones((5, 4), np.float32)
    assert kept_neurons(w_in, w_out, 3).tolist() == [1, 3, 4]


def test_keeping_every_neuron_changes_nothing() -> None:
    model = _model()
    same = build_bert(CFG, SEQ)
    copy_pruned_ffn(model, same, CFG.num_layers, CFG.intermediate_size)
    np.testing.assert_allclose(same.predict(_feed(), verbose=0), model.predict(_feed(), verbose=0),
                               atol=1e-5)


def test_the_stage_halves_the_ffn_and_recovers_by_distillation() -> None:
    model = _model()
    x = _feed(64, seed=1)
    y = np.argmax(model.predict(x, verbose=0), -1)
    split = Split(x, y)
    data = Dataset("synthetic", "classification", split, split, split, 2, "random ids",
                   {"label_names": ["a", "b"]})
    ctx = TrainContext(data, TrainSection(batch_size=16), make_strategy("default"))
    result = FfnPrune().run(model, FfnPruneConfig(keep=0.5, epochs=1, learning_rate=1e-3), ctx)
    pruned = result.model
    assert pruned.get_layer(names.layer_name(0, "ffn/intermediate")).units == 16
    assert result.facts["parameters"]["after"] < result.facts["parameters"]["before"]
    assert np.isfinite(result.facts["recovery"]["final_losses"]["soft"])
    assert pruned.predict(x, verbose=0).shape == (64, 2)
