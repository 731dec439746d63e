"""The fused causal self-attention equals the readable path of MultiHeadAttention, forward and
backward, and passes gradcheck."""
import numpy as np
import pytest
from graphs import node_kinds

import tinyattn
from tinyattn import nn
from tinyattn.attention.fused_causal import CausalSelfAttention

F64 = dict(rtol=1e-10, atol=1e-12)     # the same sums in another order: a few float64 ulps


def _run(module, x, upstream, fused, is_causal):
    """Output and all gradients (input first, then parameters) of one forward/backward. The fused
    run is checked to have taken the fused node (also when the suite runs in reference mode)."""
    module.zero_grad()
    x.grad = None
    # need_weights=True is one of the things the fused path does not do: it forces the readable one
    with tinyattn.reference_mode(False):
        out = module(x, is_causal=is_causal) if fused else \
            module(x, is_causal=is_causal, need_weights=True)[0]
    assert (CausalSelfAttention in node_kinds(out)) == fused
    out.backward(upstream)
    grads = [x.grad] + [p.grad for p in module.parameters()]
    return out.numpy(), [x.backend.to_numpy(g) for g in grads]


@pytest.mark.parametrize("is_causal", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_self_attention_equals_the_readable_path(backend, is_causal, bias):
    tinyattn.manual_seed(0)
    module = nn.MultiHeadAttention(12, 3, bias=bias, dtype="float64")
    rng = np.random.default_rng(1)
    x = tinyattn.tensor(rng.standard_normal((2, 5, 12)), requires_grad=True)
    upstream = rng.standard_normal((2, 5, 12))
    fused_out, fused_grads = _run(module, x, upstream, True, is_causal)
    plain_out, plain_grads = _run(module, x, upstream, False, is_causal)
    np.testing.assert_allclose(fused_out, plain_out, **F64)
    for a, b in zip(fused_grads, plain_grads):
        np.testing.assert_allclose(a, b, **F64)


def test_fused_self_attention_passes_gradcheck(backend):
    from tinyattn.attention.fused_causal import _causal_bias

    qkv = tinyattn.randn(2, 4, 12, dtype="float64", requires_grad=True)
    bias = _causal_bias(4, qkv)
    attend = lambda t: CausalSelfAttention.apply(t, num_heads=2, bias_t=bias, scale=0.4)
    assert tinyattn.gradcheck(attend, qkv)


def test_dropout_in_training_takes_the_readable_path():
    module = nn.MultiHeadAttention(8, 2, dropout=0.5)
    assert not module._fused_path_applies(None, True, False, None, None)
    assert module.eval()._fused_path_applies(None, True, False, None, None)


def test_the_causal_bias_is_kept_once_per_dtype_and_backend_at_the_longest_length(backend):
    with tinyattn.reference_mode(False):      # the fused path's causal bias
        # one array per length would grow without bound as lengths vary (generation without a cache)
        from tinyattn.attention import fused_causal as attention_module
        attention_module._bias_cache.clear()
        mha = nn.MultiHeadAttention(8, 2, dtype="float64")
        for t in (5, 3, 8, 2):
            x = tinyattn.randn(1, t, 8, dtype="float64")
            readable = mha(x, mask=tinyattn.causal_mask(t))                # a mask: the readable path
            np.testing.assert_allclose(mha(x, is_causal=True).numpy(), readable.numpy(), **F64)
        assert [b.shape for b in attention_module._bias_cache.values()] == [(8, 8)]
