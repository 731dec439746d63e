"""Grouped-query and multi-query attention (MultiHeadAttention and GPT with num_kv_heads).

A layer with H query heads and H_kv key/value heads is the same function as a standard layer
whose key/value heads are tied in groups of G = H / H_kv: copy each of its key/value heads G
times and the standard path must give the same output, weights and gradients (the tied copies'
gradients summed). Then PyTorch's scaled_dot_product_attention(enable_gqa=True), gradcheck, and
decoding with a cache that really holds only H_kv heads.
"""
import numpy as np
import pytest
from nn_twins import TOLERANCE, assert_close, functional_call

import tinyattn
from tinyattn import nn
from tinyattn.generate import generate, kv_cache_bytes

F64 = dict(rtol=1e-10, atol=1e-12)     # the same sums in another order: a few float64 ulps
KV = ("k_proj", "v_proj")


def _heads_repeated(array, groups, head_dim):
    """Rows (H_kv * D, ...) of a key/value projection -> (H_kv * G * D, ...), each head's D rows
    repeated G times in place (head j serves query heads j*G .. j*G + G - 1)."""
    heads = array.reshape(-1, head_dim, *array.shape[1:])
    return np.repeat(heads, groups, axis=0).reshape(-1, *array.shape[1:])


def _heads_summed(array, groups, head_dim):
    """The gradient of the repeated rows back to the shared ones: the G copies summed."""
    heads = array.reshape(-1, groups, head_dim, *array.shape[1:])
    return heads.sum(axis=1).reshape(-1, *array.shape[1:])


def _standard_twin(attn):
    """A standard MultiHeadAttention computing what the grouped `attn` does."""
    groups = attn.num_heads // attn.num_kv_heads
    twin = nn.MultiHeadAttention(attn.d_model, attn.num_heads, dtype="float64")
    twin.load_state_dict({name: _heads_repeated(value.numpy(), groups, attn.head_dim)
                          if name.startswith(KV) else value.numpy()
                          for name, value in attn.state_dict().items()})
    return twin


def _run(module, inputs, mask, is_causal, upstream):
    """Output, weights, and the gradients of the inputs and parameters (by name)."""
    module.zero_grad()
    for x in inputs:
        x.grad = None
    out, weights = module(*inputs, mask=mask, is_causal=is_causal, need_weights=True)
    out.backward(tinyattn.tensor(upstream))
    grads = {name: p.backend.to_numpy(p.grad) for name, p in module.named_parameters()}
    grads.update({f"input {i}": x.backend.to_numpy(x.grad) for i, x in enumerate(inputs)})
    return out.numpy(), weights.numpy(), grads


def _mask(case, batch, heads, t_q, t_k):
    if case == "padding":
        return tinyattn.padding_mask(lengths=[t_k, t_k - 2], max_len=t_k)              # (B, 1, 1, T_k)
    if case == "per head":
        keep = np.random.default_rng(5).random((batch, heads, t_q, t_k)) < 0.6
        keep[..., 0] = True
        return tinyattn.tensor(keep)                                                   # (B, H, T_q, T_k)
    return None


# (name, cross-attention, mask, is_causal)
CASES = [("causal", False, None, True), ("padding and causal", False, "padding", True),
         ("mask per head", False, "per head", False),
         ("cross-attention with padding", True, "padding", False)]


@pytest.mark.parametrize("num_kv_heads", [2, 1], ids=["grouped", "multi-query"])
@pytest.mark.parametrize("name,cross,mask_case,is_causal", CASES, ids=[c[0] for c in CASES])
def test_grouped_attention_equals_standard_attention_with_repeated_kv_heads(backend, num_kv_heads, name,
                                                                           cross, mask_case, is_causal):
    tinyattn.manual_seed(0)
    attn = nn.MultiHeadAttention(8, 4, dtype="float64", num_kv_heads=num_kv_heads)
    twin = _standard_twin(attn)
    rng = np.random.default_rng(1)
    t_k = 6 if cross else 4
    shapes = [(2, 4, 8)] + ([(2, t_k, 8)] * 2 if cross else [])
    arrays = [rng.standard_normal(s) for s in shapes]
    mask = _mask(mask_case, 2, 4, 4, t_k)
    upstream = rng.standard_normal((2, 4, 8))
    out, weights, grads = _run(attn, [tinyattn.tensor(a, requires_grad=True) for a in arrays], mask,
                               is_causal, upstream)
    twin_out, twin_weights, twin_grads = _run(twin, [tinyattn.tensor(a, requires_grad=True) for a in arrays],
                                              mask, is_causal, upstream)
    assert weights.shape == (2, 4, 4, t_k)
    np.testing.assert_allclose(out, twin_out, **F64)
    np.testing.assert_allclose(weights, twin_weights, **F64)
    groups = 4 // num_kv_heads
    for key, grad in grads.items():
        expected = _heads_summed(twin_grads[key], groups, 2) if key.startswith(KV) else twin_grads[key]
        np.testing.assert_allclose(grad, expected, err_msg=key, **F64)


def _torch_grouped_attention(torch, params, x, keep, num_heads, num_kv_heads):
    """The same layer in PyTorch: its projections, then scaled_dot_product_attention(enable_gqa=True).
    keep: torch's boolean attention mask (True = may attend), causal and padding combined."""
    batch, time, width = x.shape
    head_dim = width // num_heads
    linear = torch.nn.functional.linear

    def heads(name, count):
        y = linear(x, params[f"{name}.weight"], params[f"{name}.bias"])
        return y.reshape(batch, time, count, head_dim).transpose(1, 2)

    out = torch.nn.functional.scaled_dot_product_attention(
        heads("q_proj", num_heads), heads("k_proj", num_kv_heads), heads("v_proj", num_kv_heads),
        attn_mask=keep, enable_gqa=True)
    return linear(out.transpose(1, 2).reshape(batch, time, width), params["out_proj.weight"],
                  params["out_proj.bias"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("num_kv_heads", [2, 1], ids=["grouped", "multi-query"])
def test_grouped_attention_matches_torch_enable_gqa(torch, backend, dtype, num_kv_heads):
    tinyattn.manual_seed(0)
    attn = nn.MultiHeadAttention(8, 4, dtype=dtype, num_kv_heads=num_kv_heads)
    params = {name: torch.tensor(p.numpy(), requires_grad=True) for name, p in attn.named_parameters()}
    rng = np.random.default_rng(2)
    x_array, upstream = rng.standard_normal((2, 5, 8)).astype(dtype), rng.standard_normal((2, 5, 8))
    keep = tinyattn.padding_mask(lengths=[5, 3], max_len=5)
    x, tx = tinyattn.tensor(x_array, requires_grad=True), torch.tensor(x_array, requires_grad=True)
    their_keep = torch.tensor(keep.numpy()) & torch.ones(5, 5, dtype=torch.bool).tril()
    out = attn(x, mask=keep, is_causal=True)
    expected = _torch_grouped_attention(torch, params, tx, their_keep, 4, num_kv_heads)
    assert_close(out, expected, dtype, "forward")
    out.backward(tinyattn.tensor(upstream, dtype=dtype))
    expected.backward(torch.tensor(upstream, dtype=expected.dtype))
    assert_close(x.grad, tx.grad, dtype, "input gradient")
    for name, p in attn.named_parameters():
        np.testing.assert_allclose(p.backend.to_numpy(p.grad), params[name].grad.numpy(), err_msg=name,
                                   **TOLERANCE[dtype])


@pytest.mark.parametrize("num_kv_heads", [2, 1], ids=["grouped", "multi-query"])
def test_grouped_attention_passes_gradcheck(backend, num_kv_heads):
    attn = nn.MultiHeadAttention(8, 4, dtype="float64", num_kv_heads=num_kv_heads)
    params = [p.detach().requires_grad_() for p in attn.parameters()]
    keep = tinyattn.padding_mask(lengths=[3, 2], max_len=3)
    x = tinyattn.randn(2, 3, 8, dtype="float64", requires_grad=True)
    layer = lambda x, *ps: functional_call(attn, ps, x, mask=keep, is_causal=True)  # noqa: E731
    assert tinyattn.gradcheck(layer, x, *params)


@pytest.mark.parametrize("positional", ["learned", "rotary"])
@pytest.mark.parametrize("num_kv_heads", [2, 1], ids=["grouped", "multi-query"])
def test_gpt_cached_decoding_with_fewer_kv_heads_equals_the_full_forward(backend, positional, num_kv_heads):
    tinyattn.manual_seed(0)
    gpt = nn.GPT(17, 16, 4, 2, max_len=12, positional=positional, dtype="float64",
                 num_kv_heads=num_kv_heads).eval()
    idx = tinyattn.tensor([[3, 1, 4, 1, 5, 9], [2, 6, 5, 3, 5, 8]])
    with tinyattn.no_grad():
        full = gpt(idx).numpy()
        cache = []
        steps = [gpt(idx[:, :2], cache=cache).numpy()] + [gpt(idx[:, t:t + 1], cache=cache).numpy()
                                                           for t in range(2, 6)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, **F64)
    assert cache[0]["k"].shape == cache[0]["v"].shape == (2, num_kv_heads, 6, 4)    # (B, H_kv, T, D)
    # 2 layers x (keys, values) x B x H_kv x T x D float64 numbers: H / H_kv times fewer than standard
    assert kv_cache_bytes(cache) == 2 * 2 * 2 * num_kv_heads * 6 * 4 * 8


def test_gpt_with_multi_query_attention_generates_the_same_with_and_without_cache(backend):
    tinyattn.manual_seed(0)
    gpt = nn.GPT(17, 16, 4, 2, max_len=12, num_kv_heads=1).eval()
    prompt = tinyattn.tensor([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(generate(gpt, prompt, 8, greedy=True).numpy(),
                                  generate(gpt, prompt, 8, greedy=True, use_cache=False).numpy())


def test_key_and_value_projections_shrink_to_the_kv_heads():
    attn = nn.MultiHeadAttention(16, 4, num_kv_heads=2)
    assert attn.q_proj.weight.shape == attn.out_proj.weight.shape == (16, 16)
    assert attn.k_proj.weight.shape == attn.v_proj.weight.shape == (8, 16)     # 2 heads of 4
    assert "num_kv_heads=2" in repr(attn)


def test_only_standard_attention_takes_the_fused_path():
    assert nn.MultiHeadAttention(8, 4)._fused_path_applies(None, True, False, None, None)
    assert not nn.MultiHeadAttention(8, 4, num_kv_heads=2)._fused_path_applies(None, True, False, None, None)


@pytest.mark.parametrize("num_kv_heads", [3, 0, 8])
def test_num_heads_not_divisible_by_num_kv_heads_is_a_clear_error(num_kv_heads):
    with pytest.raises(ValueError, match=f"num_heads 4 is not divisible by num_kv_heads {num_kv_heads}"):
        nn.MultiHeadAttention(8, 4, num_kv_heads=num_kv_heads)
