"""Decoding: turning a trained model's next-token distributions into sequences.

At every step the model gives logits for the next token; we pick one (the most likely:
greedy; or a random draw: sampling, sharpened by a temperature below 1 or restricted to the
k most likely tokens), append it, and ask again. With a key/value cache each layer keeps the
keys and values of the tokens already seen, so a step feeds only the new token through the
model: one position of work instead of the whole prefix. That cache is the memory cost of
decoding: 2 * num_layers * B * num_kv_heads * T * head_dim numbers (kv_cache_bytes measures it),
which grouped-query attention shrinks by num_heads / num_kv_heads.
"""
import numbers

from .attention.kv_cache import DecoderLayerCache, KVCache
from .backend import get_backend
from .engine.autograd import no_grad
from .engine.tensor import Tensor
from .engine.tensor_functions import concat
from .functional import softmax


def pick_next(logits, greedy=False, temperature=1.0, top_k=None):
    """Choose one token per row of logits (B, V) -> (B,) integer ids."""
    xp = logits.backend.xp
    if greedy:
        return logits.argmax(axis=-1)
    if temperature <= 0:
        raise ValueError(f"pick_next: temperature must be > 0 (greedy=True takes the argmax), "
                         f"got {temperature}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"pick_next: top_k must be a positive integer or None (no cut), got {top_k!r}")
    scores = logits * (1.0 / temperature)
    if top_k is not None and top_k < scores.shape[-1]:
        k = scores.shape[-1] - top_k                                  # position of the kth largest
        kth_largest = xp.sort(scores.data, axis=-1)[:, k:k + 1]                             # (B, 1)
        scores = Tensor._make(xp.where(scores.data < kth_largest, -float("inf"), scores.data), False, None)
    probs = softmax(scores, axis=-1).data                                               # (B, V)
    # inverse-CDF sampling: the first token whose cumulative probability passes a uniform draw.
    # The draw is scaled to the cdf's last entry, which float32 round-off leaves short of 1 on
    # large vocabularies: otherwise draws above it would all go to the last token.
    cdf = xp.cumulative_sum(probs, axis=-1)
    u = get_backend(logits.backend).rand((probs.shape[0], 1), logits.dtype) * cdf[:, -1:]
    chosen = xp.sum(xp.astype(cdf < u, xp.int64), axis=-1)
    return Tensor._make(xp.clip(chosen, 0, probs.shape[-1] - 1), False, None)


def _check_tokens(op, name, idx):
    """idx as a Tensor, which must be (B, T) integer token ids with T >= 1: a model predicts the
    next token from at least one."""
    idx = idx if isinstance(idx, Tensor) else Tensor(idx)
    if idx.ndim != 2 or idx.shape[1] < 1 or not idx.dtype.startswith(("int", "uint")):
        raise ValueError(f"{op}: the {name} must be (B, T) integer token ids with T >= 1, "
                         f"got shape {idx.shape} of {idx.dtype}"
                         + ("; one sequence is x[None] or x.unsqueeze(0)" if idx.ndim == 1 else ""))
    return idx


def _check_steps(op, max_new_tokens):
    """max_new_tokens must be an integer >= 0 (0 returns the input as it is)."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) \
            or max_new_tokens < 0:
        raise ValueError(f"{op}: max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")


def _check_finite(op, logits, step):
    """The next-token logits (B, V) of one step must be finite: a nan would make argmax and
    sampling pick token 0 silently, forever."""
    xp = logits.backend.xp
    if not bool(xp.all(xp.isfinite(logits.data))):
        raise ValueError(f"{op}: the model's logits at step {step} (new token {step + 1}) are not "
                         "finite (nan or inf): the weights or the activations have overflowed")


def kv_cache_bytes(cache):
    """Bytes held by the keys and values of a decoding cache: one layer's (a KVCache, or a
    Transformer decoder layer's DecoderLayerCache), or a model's list with one per layer.
    (Plain dicts and lists of them, holding tensors, are counted too.)"""
    if isinstance(cache, (KVCache, DecoderLayerCache)):
        return cache.nbytes()
    if isinstance(cache, Tensor):
        return cache.numel() * (cache.backend.xp.finfo(cache.data.dtype).bits // 8)
    if isinstance(cache, (list, tuple, dict)):
        return sum(kv_cache_bytes(part) for part in (cache.values() if isinstance(cache, dict) else cache))
    return 0


@no_grad()
def generate(model, idx, max_new_tokens, greedy=False, temperature=1.0, top_k=None, use_cache=True):
    """Continue each row of idx (B, T) with max_new_tokens tokens from a GPT -> (B, T + new).

    The model is not switched to eval mode here: call model.eval() first, as in PyTorch.
    Once the sequence is longer than the model's max_len, only the last max_len tokens are fed
    (and the cache, which cannot slide, is dropped). max_new_tokens=0 returns idx; a negative
    count, a prompt that is not (B, T >= 1) integers, or logits that are not finite at a step
    (a model that has diverged) is a ValueError.
    """
    idx = _check_tokens("generate", "prompt", idx)
    _check_steps("generate", max_new_tokens)
    if max_new_tokens == 0:
        return idx
    cache = [] if use_cache else None
    logits = model(idx[:, -model.max_len:], cache=cache)
    for step in range(max_new_tokens):
        _check_finite("generate", logits[:, -1, :], step)
        next_token = pick_next(logits[:, -1, :], greedy, temperature, top_k)
        idx = concat([idx, next_token.unsqueeze(1)], axis=1)
        if step == max_new_tokens - 1:
            break                                  # the last token needs no prediction after it
        if cache is not None and idx.shape[1] <= model.max_len:
            logits = model(next_token.unsqueeze(1), cache=cache)
        else:
            cache = None
            logits = model(idx[:, -model.max_len:])
    return idx



@no_grad()
def translate(model, src, max_new_tokens, start_id, end_id=None, src_mask=None, greedy=True,
              temperature=1.0, top_k=None, use_cache=True):
    """Decode target sequences for src (B, S) with an encoder-decoder Transformer.

    Starts every row with start_id and appends up to max_new_tokens tokens -> (B, 1 + new);
    stops early once every row has produced end_id (if given). The encoder runs once; with
    the cache each decoder step runs on the newest token only.
    """
    src = _check_tokens("translate", "source", src)
    _check_steps("translate", max_new_tokens)
    memory = model.encode(src, src_mask)
    xp = src.backend.xp
    out = Tensor._make(xp.full((src.shape[0], 1), start_id, dtype=src.data.dtype, **src.backend.place),
                       False, None)
    cache = [] if use_cache else None
    finished = None
    for step in range(max_new_tokens):
        step_input = out[:, -1:] if cache is not None else out
        logits = model.decode(step_input, memory, src_mask, cache=cache)
        _check_finite("translate", logits[:, -1, :], step)
        next_token = pick_next(logits[:, -1, :], greedy, temperature, top_k)
        out = concat([out, next_token.unsqueeze(1)], axis=1)
        if end_id is not None:
            done = next_token.data == end_id
            finished = done if finished is None else (finished | done)
            if bool(xp.all(finished)):
                break
    return out
