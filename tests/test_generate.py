"""Decoding: cached and uncached decoding give the same tokens; sampling respects top-k."""
import numpy as np
import pytest

import tinyattn
import tinyattn.nn as nn
from tinyattn.generate import generate, pick_next, translate


@pytest.fixture
def gpt(backend):
    tinyattn.manual_seed(0)
    return nn.GPT(vocab_size=17, d_model=16, num_heads=4, num_layers=2, max_len=12).eval()


@pytest.mark.parametrize("positional", ["learned", "rotary"])
def test_gpt_cached_and_uncached_greedy_decoding_agree(backend, positional):
    tinyattn.manual_seed(0)
    model = nn.GPT(17, 16, 4, 2, max_len=12, positional=positional).eval()
    prompt = tinyattn.tensor([[1, 2, 3], [4, 5, 6]])
    cached = generate(model, prompt, 8, greedy=True)
    uncached = generate(model, prompt, 8, greedy=True, use_cache=False)
    assert cached.shape == (2, 11)
    np.testing.assert_array_equal(cached.numpy(), uncached.numpy())


def test_gpt_cached_and_uncached_sampling_agree_under_one_seed(gpt):
    prompt = tinyattn.tensor([[1, 2, 3]])
    tinyattn.manual_seed(7)
    cached = generate(gpt, prompt, 8, temperature=0.9, top_k=5)
    tinyattn.manual_seed(7)
    uncached = generate(gpt, prompt, 8, temperature=0.9, top_k=5, use_cache=False)
    np.testing.assert_array_equal(cached.numpy(), uncached.numpy())


def test_generation_past_max_len_keeps_going_on_the_last_window(gpt):
    out = generate(gpt, tinyattn.tensor([[1, 2, 3]]), 15, greedy=True)
    assert out.shape == (1, 18)


def test_cached_step_logits_equal_the_full_forward(gpt):
    idx = tinyattn.tensor([[3, 1, 4, 1, 5, 9]])
    with tinyattn.no_grad():
        full = gpt(idx).numpy()
        cache = []
        steps = [gpt(idx[:, :2], cache=cache).numpy()] + [gpt(idx[:, t:t + 1], cache=cache).numpy()
                                                           for t in range(2, 6)]
    # float32: the cached path sums the same products in a different order (a few ulps)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-6)


def test_top_k_sampling_only_picks_among_the_k_largest(backend):
    logits = tinyattn.tensor(np.tile(np.arange(10.0, dtype=np.float32), (500, 1)))
    picks = pick_next(logits, top_k=3).numpy()
    assert set(np.unique(picks)) <= {7, 8, 9} and len(np.unique(picks)) == 3


def test_sampling_follows_the_softmax_probabilities(backend):
    tinyattn.manual_seed(1)
    probs = np.array([0.1, 0.2, 0.7])
    logits = tinyattn.tensor(np.tile(np.log(probs), (20000, 1)).astype(np.float32))
    counts = np.bincount(pick_next(logits).numpy(), minlength=3) / 20000
    # 20,000 draws: the standard deviation of each frequency is at most 0.0035; allow 4 of them
    np.testing.assert_allclose(counts, probs, atol=0.014)


def test_greedy_pick_is_the_argmax(backend):
    logits = tinyattn.tensor([[0.1, 3.0, -1.0], [2.0, 0.0, 1.0]])
    np.testing.assert_array_equal(pick_next(logits, greedy=True).numpy(), [1, 0])


def test_transformer_cached_and_uncached_translation_agree(backend):
    tinyattn.manual_seed(0)
    model = nn.Transformer(11, 12, 16, 4, 2, 2, 32, dropout=0.0, max_len=20).eval()
    src = tinyattn.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    cached = translate(model, src, 6, start_id=1)
    uncached = translate(model, src, 6, start_id=1, use_cache=False)
    assert cached.shape == (2, 7)
    np.testing.assert_array_equal(cached.numpy(), uncached.numpy())


def test_translation_stops_when_every_row_has_ended(backend):
    tinyattn.manual_seed(0)
    model = nn.Transformer(11, 12, 16, 4, 1, 1, 32, dropout=0.0).eval()
    src = tinyattn.tensor([[1, 2, 3]])
    first = translate(model, src, 1, start_id=0).numpy()[0, 1]     # whatever it says first
    out = translate(model, src, 10, start_id=0, end_id=int(first))
    assert out.shape == (1, 2)


def test_sampling_never_favours_the_last_token_when_the_cdf_falls_short_of_1(monkeypatch):
    # float32 cumulative sums over a large vocabulary end below 1; a draw above the end must not
    # fall through to the last token. Force the largest draw the generator can make.
    vocab = 50257
    logits = tinyattn.tensor(np.zeros((1, vocab), np.float32))
    logits[0, 0] = 20.0                                    # token 0 takes almost all the mass
    largest = np.float32(1.0 - 2.0 ** -24)
    monkeypatch.setattr(tinyattn.get_backend("numpy"), "rand", lambda shape, dtype: np.full(shape, largest))
    assert pick_next(logits).item() != vocab - 1


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True])
def test_top_k_must_be_a_positive_integer(top_k):
    with pytest.raises(ValueError, match="top_k must be a positive integer or None"):
        pick_next(tinyattn.randn(2, 5), top_k=top_k)
