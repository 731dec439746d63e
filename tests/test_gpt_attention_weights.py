"""GPT.forward(idx, need_weights=True): the logits and each block's self-attention weights
(B, H, T, T_k), as transformers' GPT2LMHeadModel returns them with output_attentions=True.

The weights are what tutorial 8 reads induction heads from, so they are pinned three ways:
they are attention weights (each row a distribution, nothing above the causal diagonal), asking
for them leaves the logits as they were, and they are GPT-2's own for a GPT-2 saved by
transformers (a tiny random one, made here; no download). With a cache, each step's rows are
the rows of the whole sequence's weights.
"""
import numpy as np
import pytest

import tinyattn
from tinyattn import nn

FLOAT32 = dict(rtol=1e-5, atol=1e-5)


def _tokens(vocab, shape, seed=1):
    return np.random.default_rng(seed).integers(0, vocab, shape)


def _gpt(**kwargs):
    tinyattn.manual_seed(0)
    return nn.GPT(40, 24, 4, 3, 16, **kwargs).eval()


def test_weights_come_per_block_as_batch_heads_queries_keys(backend):
    logits, weights = _gpt()(tinyattn.tensor(_tokens(40, (2, 10))), need_weights=True)
    assert logits.shape == (2, 10, 40)
    assert [w.shape for w in weights] == [(2, 4, 10, 10)] * 3


def test_each_row_of_weights_sums_to_one(backend):
    _, weights = _gpt()(tinyattn.tensor(_tokens(40, (2, 10))), need_weights=True)
    for w in weights:
        np.testing.assert_allclose(w.numpy().sum(axis=-1), 1.0, rtol=1e-5)


def test_no_position_reads_a_later_one(backend):
    _, weights = _gpt()(tinyattn.tensor(_tokens(40, (2, 10))), need_weights=True)
    above_diagonal = np.triu(np.ones((10, 10), dtype=bool), k=1)
    for w in weights:
        assert np.all(w.numpy()[..., above_diagonal] == 0.0)
        assert np.all(w.numpy()[..., ~above_diagonal] > 0.0)


@pytest.mark.parametrize("kwargs", [{}, dict(positional="rotary"), dict(num_kv_heads=2),
                                    dict(attention="flash"), dict(attention="window", window=4)],
                         ids=["standard", "rotary", "gqa", "flash", "window"])
def test_asking_for_weights_leaves_the_logits_as_they_were(kwargs):
    # without weights the fused (or flash, or window) path runs; with them the readable one
    model = _gpt(**kwargs)
    idx = tinyattn.tensor(_tokens(40, (2, 12)))
    logits, weights = model(idx, need_weights=True)
    np.testing.assert_allclose(logits.numpy(), model(idx).numpy(), **FLOAT32)
    if "window" in kwargs:                       # nothing further back than the window
        far = np.tril(np.ones((12, 12), dtype=bool), k=-4)
        assert all(np.all(w.numpy()[..., far] == 0.0) for w in weights)


def test_with_a_cache_each_step_gives_its_rows_of_the_whole_sequences_weights(backend):
    model = _gpt()
    idx = _tokens(40, (2, 9))
    _, whole = model(tinyattn.tensor(idx), need_weights=True)
    cache = []
    _, first = model(tinyattn.tensor(idx[:, :5]), cache=cache, need_weights=True)
    for block, w in enumerate(first):
        np.testing.assert_allclose(w.numpy(), whole[block].numpy()[:, :, :5, :5], **FLOAT32)
    for t in range(5, 9):
        logits, step = model(tinyattn.tensor(idx[:, t:t + 1]), cache=cache, need_weights=True)
        assert logits.shape == (2, 1, 40)
        for block, w in enumerate(step):
            assert w.shape == (2, 4, 1, t + 1)                       # the new query, every key so far
            np.testing.assert_allclose(w.numpy(), whole[block].numpy()[:, :, t:t + 1, :t + 1], **FLOAT32)


def test_the_weights_are_gpt2s_own(tmp_path):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import torch
    torch.manual_seed(0)
    # eager: the attention transformers computes itself, the one that returns its weights
    # (its default, sdpa, returns none)
    config = transformers.GPT2Config(vocab_size=50, n_positions=20, n_embd=24, n_layer=3, n_head=4,
                                     bos_token_id=0, eos_token_id=0, attn_implementation="eager")
    theirs = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():        # biases and norms start at 0 and 1: random, so that they count
        for name, p in theirs.named_parameters():
            if p.ndim == 1:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if name.endswith("ln_1.weight") else 0.0))
    theirs.save_pretrained(tmp_path)
    ours = nn.GPT.from_pretrained(tmp_path)
    idx = _tokens(50, (2, 20))
    with torch.no_grad():
        out = theirs(torch.tensor(idx), output_attentions=True)
    logits, weights = ours(tinyattn.tensor(idx), need_weights=True)
    assert len(weights) == len(out.attentions) == 3
    for w, theirs_w in zip(weights, out.attentions):
        np.testing.assert_allclose(w.numpy(), theirs_w.numpy(), **FLOAT32)
    np.testing.assert_allclose(logits.numpy(), out.logits.numpy(), rtol=1e-4, atol=1e-4)
