"""Positional encodings: the paper's sinusoid table, and RoPE's relative-position property."""
import math

import numpy as np

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
