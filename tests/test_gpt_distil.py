"""DistilGPT2-style distillation (stages/distilgpt2.py): the student has half the teacher's
blocks, starts from every other one, and moves toward the teacher's next-token distribution;
it works on a teacher loaded from a GPT-2 checkpoint. The distilled --quick recipe end to end:
tests/test_gpt.py (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.data import Dataset, Split

STEPS, VOCAB = 12, 40


def _data(vocab: int = VOCAB, steps: int = STEPS, n: int = 96) -> Dataset:
    """Next-token windows of a noisy counting sequence: learnable, so a teacher and a student
    can agree on something."""
    rng = np.random.default_rng(0)
    start = rng.integers(0, vocab, (n, 1))
    stream = (start + np.arange(steps + 1)) % vocab
    noise = rng.random(stream.shape) < 0.1
    stream = np.where(noise, rng.integers(0, vocab, stream.shape), stream).astype(np.int32)
    split = Split({"input_ids": stream[:, :-1]}, stream[:, 1:])
    return Dataset("counting", "language_model", split, split, split, None, "test",
                   extra={"vocab_size": vocab, "seq_len": steps})


def _ctx(data: Dataset):
    from edgekit.recipe.schema import TrainSection
    from edgekit.strategy import make_strategy
    from edgekit.training import TrainContext

    return TrainContext(data, TrainSection(batch_size=16), make_strategy("default"))


def _kl(teacher: object, student: object, x: np.ndarray) -> float:
    """Mean KL(teacher || student) of the next-token distributions over every position."""
    def log_softmax(model: object) -> np.ndarray:
        z = model(x, training=False).numpy().astype(np.float64)
        z -= z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    log_t, log_s = log_softmax(teacher), log_softmax(student)
    return float((np.exp(log_t) * (log_t - log_s)).sum(-1).mean())


def _teacher(data: Dataset, depth: int = 4) -> object:
    """A GPT trained a few epochs on the data, so its blocks matter (dropping half of them
    moves its distribution)."""
    from edgekit import _tf
    from edgekit.models.gpt import GPT, GPTConfig

    _tf.set_seed(0)
    keras = _tf.keras()
    model = GPT().build(GPTConfig(dim=32, depth=depth, heads=2, mlp_dim=64, dropout=0.0), data)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.train.x, data.train.y, batch_size=16, epochs=8, verbose=0)
    return model


def test_student_has_half_the_blocks_and_moves_toward_the_teacher() -> None:
    from edgekit.models.gpt import GPT, config_of, copy_blocks, depth_of
    from edgekit.stages.distilgpt2 import DistilGPT2, DistilGPT2Config

    data = _data()
    teacher = _teacher(data)
    x = data.train.x["input_ids"]
    # the initial student: teacher blocks 1 and 3, embeddings, final norm and head
    t_cfg = config_of(teacher)
    assert (t_cfg.dim, t_cfg.depth, t_cfg.heads, t_cfg.mlp_dim) == (32, 4, 2, 64)
    start = GPT().build_layers(t_cfg.model_copy(update={"depth": 2}), data)
    copy_blocks(teacher, start, [0, 2])
    for a, b in zip(start.get_layer("block2_qkv").get_weights(),
                    teacher.get_layer("block3_qkv").get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(start.get_layer("lm_head").get_weights()[0],
                                  teacher.get_layer("lm_head").get_weights()[0])
    before = _kl(teacher, start, x)
    teacher_weights = [w.copy() for w in teacher.get_weights()]

    result = DistilGPT2().run(teacher, DistilGPT2Config(epochs=4, learning_rate=1e-3),
                              _ctx(data))
    student = result.model
    assert depth_of(student) == 2 and depth_of(teacher) == 4
    assert result.facts["student_blocks"] == 2 and result.facts["teacher_blocks"] == 4
    assert result.facts["parameters"] < result.facts["teacher_parameters"]
    history = result.facts["loss_history"]["distillation"]["soft_kl"]
    assert history[-1] < history[0], history
    after = _kl(teacher, student, x)
    assert after < before, (before, after)
    assert student(x[:2], training=False).shape == (2, STEPS, VOCAB)
    for a, b in zip(teacher.get_weights(), teacher_weights):  # the teacher is not trained
        np.testing.assert_array_equal(a, b)


def test_footprint_is_the_half_depth_student() -> None:
    from edgekit.models.gpt import GPT, GPTConfig
    from edgekit.stages.distilgpt2 import DistilGPT2, DistilGPT2Config

    data = _data()
    teacher = GPT().footprint(GPTConfig(dim=32, depth=4, heads=2, mlp_dim=64), data)
    half = GPT().footprint(GPTConfig(dim=32, depth=2, heads=2, mlp_dim=64), data)
    stage = DistilGPT2().footprint(DistilGPT2Config(), teacher, data)
    assert stage.model.params == half.params < teacher.params
    assert stage.held_params == teacher.params and stage.temp_bytes == 0


def test_bad_student_depth_and_a_non_gpt_model_are_refused() -> None:
    from edgekit import _tf
    from edgekit.errors import EdgekitError
    from edgekit.stages.distilgpt2 import DistilGPT2, DistilGPT2Config, student_depth

    assert student_depth(2, DistilGPT2Config()) == 1
    assert student_depth(1, DistilGPT2Config()) == 1
    with pytest.raises(EdgekitError, match="student_blocks=3 exceeds the teacher's 2"):
        student_depth(2, DistilGPT2Config(student_blocks=3))
    keras = _tf.keras()
    inp = keras.Input((4,))
    other = keras.Model(inp, keras.layers.Dense(2)(inp))
    with pytest.raises(EdgekitError, match="gpt models only"):
        DistilGPT2().run(other, DistilGPT2Config(), _ctx(_data()))


def test_distils_a_teacher_loaded_from_a_gpt2_checkpoint(tmp_path) -> None:
    """The teacher from a tiny GPT-2 checkpoint (tanh GELU, its epsilon): the student keeps
    them, has one of its two blocks, and learns toward it (soft targets alone: the random
    checkpoint knows nothing of the data, so the hard loss would pull elsewhere)."""
    from test_gpt_checkpoint import _write_gpt2

    from edgekit.models.gpt import GPT, GPTConfig, config_of
    from edgekit.stages.distilgpt2 import DistilGPT2, DistilGPT2Config

    folder, _ = _write_gpt2(tmp_path, VOCAB)
    data = _data()
    teacher = GPT().build(GPTConfig(checkpoint=str(folder)), data)
    result = DistilGPT2().run(teacher, DistilGPT2Config(epochs=3, learning_rate=1e-3,
                                                        alpha_hard=0.0), _ctx(data))
    s_cfg = config_of(result.model)
    assert s_cfg.depth == 1 and s_cfg.dim == 32 and s_cfg.heads == 4
    assert s_cfg.activation == "gelu_new"
    assert s_cfg.layer_norm_epsilon == config_of(teacher).layer_norm_epsilon
    history = result.facts["loss_history"]["distillation"]["soft_kl"]
    assert history[-1] < history[0], history
