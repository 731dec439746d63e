"""Decoding: cached and uncached decoding give the same tokens; the cache keeps every position;
sampling respects top-k."""
import numpy as np
import pytest

import tinyattn
import tinyattn.nn as nn
from tinyattn.attention import KVCache
from tinyattn.generate import generate, kv_cache_bytes, pick_next, translate


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


def _greedy_by_hand(model, prompt, steps):
    """Greedy decoding written out with nothing but the model's forward: each step feeds the last
    max_len tokens and appends the argmax of the last position's logits."""
    tokens = prompt.numpy().tolist()
    with tinyattn.no_grad():
        for _ in range(steps):
            window = tinyattn.tensor([row[-model.max_len:] for row in tokens])
            last = model(window).numpy()[:, -1, :]
            tokens = [row + [int(np.argmax(scores))] for row, scores in zip(tokens, last)]
    return np.array(tokens)


def test_greedy_generation_equals_decoding_by_hand(gpt):
    prompt = tinyattn.tensor([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(generate(gpt, prompt, 8, greedy=True).numpy(),
                                  _greedy_by_hand(gpt, prompt, 8))


def test_generation_past_max_len_keeps_going_on_the_last_window(gpt):
    prompt = tinyattn.tensor([[1, 2, 3]])
    out = generate(gpt, prompt, 15, greedy=True)
    assert out.shape == (1, 18)
    np.testing.assert_array_equal(out.numpy(), _greedy_by_hand(gpt, prompt, 15))


def test_cached_step_logits_equal_the_full_forward(gpt):
    idx = tinyattn.tensor([[3, 1, 4, 1, 5, 9]])
    with tinyattn.no_grad():
        full = gpt(idx).numpy()
        cache = []
        steps = [gpt(idx[:, :2], cache=cache).numpy()] + [gpt(idx[:, t:t + 1], cache=cache).numpy()
                                                           for t in range(2, 6)]
    # float32: the cached path sums the same products in a different order (a few ulps)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-6)


def test_kv_cache_holds_every_appended_position_in_order_across_its_growth(backend):
    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal((2, 3, t, 4)).astype(np.float32) for t in (5, 1, 1, 6, 1, 2, 1)]
    cache, seen = KVCache(), []
    with tinyattn.no_grad():
        for i, chunk in enumerate(chunks):
            keys, values = cache.append(tinyattn.tensor(chunk), tinyattn.tensor(-chunk))
            seen.append((keys, keys.numpy().copy()))
            expected = np.concatenate(chunks[:i + 1], axis=2)
            np.testing.assert_array_equal(keys.numpy(), expected)
            np.testing.assert_array_equal(values.numpy(), -expected)
            np.testing.assert_array_equal(cache.keys.numpy(), expected)
    assert cache.length == 17 and kv_cache_bytes(cache) == 2 * 2 * 3 * 17 * 4 * 4
    for keys, then in seen:            # what a step attended to is not changed by later steps
        np.testing.assert_array_equal(keys.numpy(), then)


def test_kv_cache_with_grad_on_concatenates_so_gradients_reach_every_step(backend):
    first = tinyattn.ones(1, 2, 3, 4, requires_grad=True)
    second = tinyattn.ones(1, 2, 1, 4, requires_grad=True)
    cache = KVCache()
    cache.append(first, first * 2)
    keys, values = cache.append(second, second * 2)
    (keys.sum() + values.sum()).backward()
    np.testing.assert_array_equal(tinyattn.tensor(first.grad).numpy(), np.full((1, 2, 3, 4), 3.0))
    np.testing.assert_array_equal(tinyattn.tensor(second.grad).numpy(), np.full((1, 2, 1, 4), 3.0))


@pytest.mark.parametrize("shape", [(3, 2, 1, 4), (1, 2, 1, 5)], ids=["batch", "width"])
def test_kv_cache_refuses_keys_that_do_not_line_up_with_the_cached_ones(backend, shape):
    cache = KVCache()
    with tinyattn.no_grad():
        cache.append(tinyattn.zeros(1, 2, 3, 4), tinyattn.zeros(1, 2, 3, 4))
        with pytest.raises(ValueError, match="do not line up with the cached"):
            cache.append(tinyattn.zeros(*shape), tinyattn.zeros(*shape))


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


class NanAfter:
    """A GPT whose logits turn nan from its `calls`-th call on (a model that has diverged)."""

    def __init__(self, model, calls):
        self.model, self.calls, self.max_len = model, calls, getattr(model, "max_len", None)

    def __call__(self, idx, cache=None):
        self.calls -= 1
        logits = self.model(idx, cache=cache)
        return logits * float("nan") if self.calls < 0 else logits

    def encode(self, src, src_mask=None):
        return self.model.encode(src, src_mask)

    def decode(self, tgt, memory, src_mask=None, cache=None):
        self.calls -= 1
        logits = self.model.decode(tgt, memory, src_mask, cache=cache)
        return logits * float("nan") if self.calls < 0 else logits


# PyTorch has no generate; Hugging Face's generate(max_new_tokens=0) returns the prompt, and
# refuses a negative count. Here: 0 returns the prompt, a negative count is a ValueError.
def test_generate_with_zero_new_tokens_returns_the_prompt(gpt):
    prompt = tinyattn.tensor([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(generate(gpt, prompt, 0).numpy(), prompt.numpy())


@pytest.mark.parametrize("count", [-1, 2.5, True])
def test_generate_with_a_negative_or_non_integer_count_is_a_value_error(gpt, count):
    with pytest.raises(ValueError, match=f"generate: max_new_tokens must be an integer >= 0, got {count!r}"):
        generate(gpt, tinyattn.tensor([[1, 2, 3]]), count)


@pytest.mark.parametrize("prompt, shape", [
    (lambda: tinyattn.tensor([1, 2, 3]), r"\(3,\) of int64; one sequence is x\[None\]"),
    (lambda: tinyattn.zeros(2, 0, dtype="int64"), r"\(2, 0\) of int64"),
    (lambda: tinyattn.zeros(1, 3), r"\(1, 3\) of float32"),
])
def test_generate_needs_a_prompt_of_b_by_t_integers(gpt, prompt, shape):
    with pytest.raises(ValueError, match=r"generate: the prompt must be \(B, T\) integer token ids "
                                         rf"with T >= 1, got shape {shape}"):
        generate(gpt, prompt(), 4)


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("greedy", [True, False])
def test_generate_with_logits_that_are_not_finite_names_the_step(gpt, greedy, use_cache):
    # before: argmax (and sampling) of nan logits picked token 0 at every step, silently
    with pytest.raises(ValueError, match=r"generate: the model's logits at step 2 \(new token 3\) "
                                         "are not finite"):
        generate(NanAfter(gpt, 2), tinyattn.tensor([[1, 2, 3]]), 5, greedy=greedy, use_cache=use_cache)


@pytest.fixture
def transformer(backend):
    tinyattn.manual_seed(0)
    return nn.Transformer(11, 12, 16, 4, 1, 1, 32, dropout=0.0, max_len=20).eval()


def test_translate_checks_its_count_its_source_and_its_logits(transformer):
    src = tinyattn.tensor([[1, 2, 3]])
    assert translate(transformer, src, 0, start_id=1).shape == (1, 1)
    with pytest.raises(ValueError, match="translate: max_new_tokens must be an integer >= 0, got -1"):
        translate(transformer, src, -1, start_id=1)
    with pytest.raises(ValueError, match=r"translate: the source must be \(B, T\) integer token ids"):
        translate(transformer, tinyattn.tensor([1, 2, 3]), 4, start_id=1)
    with pytest.raises(ValueError, match=r"translate: the model's logits at step 1 \(new token 2\) "
                                         "are not finite"):
        translate(NanAfter(transformer, 1), src, 4, start_id=1)
