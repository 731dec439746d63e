"""Positional encodings: the paper's sinusoid table, and RoPE against the paper, its gradient and its
relative-position property."""
import math

import numpy as np
import pytest

import tinyattn
import tinyattn.nn as nn


def test_sinusoidal_table_is_the_papers_formula(backend):
    table = nn.sinusoidal_table(50, 8).numpy()
    pos, i = np.meshgrid(np.arange(50), np.arange(4), indexing="ij")
    angle = pos / 10000 ** (2 * i / 8)
    np.testing.assert_allclose(table[:, 0::2], np.sin(angle), atol=1e-12)
    np.testing.assert_allclose(table[:, 1::2], np.cos(angle), atol=1e-12)


def test_rotary_scores_depend_only_on_the_distance_between_positions(backend):
    rope = nn.RotaryEmbedding(head_dim=8, max_len=64, dtype="float64")
    rng = np.random.default_rng(0)
    q = tinyattn.tensor(rng.standard_normal((1, 1, 1, 8)))
    k = tinyattn.tensor(rng.standard_normal((1, 1, 1, 8)))

    def score(m, n):
        return (rope(q, start=m) * rope(k, start=n)).sum().item()

    for m, n in [(3, 1), (10, 4), (7, 7)]:
        for shift in (1, 5, 30):
            assert math.isclose(score(m, n), score(m + shift, n + shift), rel_tol=1e-12, abs_tol=1e-12)
    assert not math.isclose(score(3, 1), score(3, 2), rel_tol=1e-6)       # the distance matters


def test_rotary_keeps_the_length_of_each_vector(backend):
    rope = nn.RotaryEmbedding(head_dim=6, max_len=16, dtype="float64")
    x = tinyattn.tensor(np.random.default_rng(1).standard_normal((2, 3, 16, 6)))
    np.testing.assert_allclose(np.linalg.norm(rope(x).numpy(), axis=-1), np.linalg.norm(x.numpy(), axis=-1))


def _rope_from_the_paper(x, start, base=10000.0):
    """RoPE written as Su et al. (2021) state it, one 2x2 rotation per pair and position, with
    the pairs (i, i + d/2) of GPT-NeoX and Llama: feature pair i of position m turns by m theta_i,
    theta_i = base^(-2i/d). x (..., T, d) as a NumPy array; a loop, slow and plain on purpose."""
    out = np.empty_like(x)
    d = x.shape[-1]
    for m in range(x.shape[-2]):
        for i in range(d // 2):
            angle = (start + m) * base ** (-2 * i / d)
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            pair = np.stack([x[..., m, i], x[..., m, i + d // 2]], axis=-1)       # (..., 2)
            turned = pair @ rotation.T
            out[..., m, i], out[..., m, i + d // 2] = turned[..., 0], turned[..., 1]
    return out


@pytest.mark.parametrize("start", [0, 5])
def test_rotary_equals_the_rotation_of_each_pair_written_from_the_paper(backend, start):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8))
    rope = nn.RotaryEmbedding(head_dim=8, max_len=16, dtype="float64")
    ours = rope(tinyattn.tensor(x), start=start).numpy()
    np.testing.assert_allclose(ours, _rope_from_the_paper(x, start), rtol=1e-12, atol=1e-13)


def test_rotary_passes_gradcheck(backend):
    rope = nn.RotaryEmbedding(head_dim=6, max_len=16, dtype="float64")
    x = tinyattn.randn(2, 5, 6, dtype="float64", requires_grad=True)
    assert tinyattn.gradcheck(lambda t: rope(t, start=3), x)
