"""Flash attention equals the readable scaled_dot_product_attention, forward and backward, on every
backend; passes gradcheck; keeps nothing of size T_q x T_k for backward; rejects bad calls clearly."""
import math

import numpy as np
import pytest

import tinyattn
from tinyattn.attention import scaled_dot_product_attention
from tinyattn.attention.flash import _key_tiles, flash_attention
from tinyattn.attention.masks import causal_mask, padding_mask

# Both compute the same softmax(q k^T s) v in the same precision; flash attention only sums in
# another order (block by block, rescaling earlier partial sums by exp(m - m') when the max grows)
# and recomputes the weights in backward from the log-sum-exp. That is a few roundings more per
# element, on O(1) inputs and sums of at most ~40 terms:
#   float64: eps 1.1e-16, errors ~1e-15 (measured below 3e-15); 1e-10 relative keeps a margin of
#            1e4 while a wrong formula is off by O(1); atol 1e-12 for entries that cancel to ~0.
#   float32: eps 6e-8, errors ~1e-6 on the summed gradients; 1e-5 relative keeps a 10x margin;
#            atol 1e-5 since a gradient is a sum of ~40 terms of size ~1 that may cancel to ~0
#            (absolute error ~40 * 6e-8 * 4).
TOLERANCE = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-5)}


def _inputs(q_shape, k_shape, v_shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [tinyattn.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True)
            for s in (q_shape, k_shape, v_shape)]


def _output_and_grads(fn, inputs, upstream):
    for x in inputs:
        x.grad = None
    out = fn(*inputs)
    out.backward(tinyattn.tensor(upstream, dtype=out.dtype))
    return out.numpy(), [x.backend.to_numpy(x.grad) for x in inputs]


def check_equals_sdpa(q_shape, k_shape, v_shape, dtype="float64", block_size=8, reference_mask=None,
                      **kwargs):
    """Flash attention vs SDPA with the same mask/is_causal/scale; gradients in the inputs' shapes.
    reference_mask: give SDPA this mask instead (where SDPA needs the causal part spelled out)."""
    inputs = _inputs(q_shape, k_shape, v_shape, dtype)
    upstream = np.random.default_rng(1).standard_normal(
        np.broadcast_shapes(q_shape[:-2], k_shape[:-2], v_shape[:-2]) + (q_shape[-2], v_shape[-1]))
    out, grads = _output_and_grads(lambda q, k, v: flash_attention(q, k, v, block_size=block_size, **kwargs),
                                   inputs, upstream)
    if reference_mask is not None:
        kwargs = dict(kwargs, mask=reference_mask, is_causal=False)
    expected, expected_grads = _output_and_grads(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, **kwargs), inputs, upstream)
    assert np.all(np.isfinite(out)), "flash attention produced NaN or inf"
    np.testing.assert_allclose(out, expected, err_msg="output", **TOLERANCE[dtype])
    for name, x, g, e in zip("qkv", inputs, grads, expected_grads):
        assert g.shape == x.shape, f"grad of {name}: shape {g.shape}, input has {x.shape}"
        np.testing.assert_allclose(g, e, err_msg=f"grad of {name}", **TOLERANCE[dtype])
    return out, grads


def _random_mask(shape, seed=2):
    mask = np.random.default_rng(seed).random(shape) < 0.6
    mask[0, 1, 3, :] = False                             # a query that may attend to nothing
    return mask


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("is_causal", [False, True])
def test_equals_sdpa_when_t_is_not_a_multiple_of_the_block(backend, dtype, is_causal):
    check_equals_sdpa((2, 3, 37, 8), (2, 3, 37, 8), (2, 3, 37, 8), dtype, block_size=8, is_causal=is_causal)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_causal_with_fewer_queries_than_keys_is_end_aligned(backend, dtype):
    check_equals_sdpa((2, 2, 5, 4), (2, 2, 21, 4), (2, 2, 21, 4), dtype, block_size=4, is_causal=True)


def test_causal_with_more_queries_than_keys_gives_0_for_queries_before_every_key(backend):
    # end-aligned, the first 16 - 5 queries sit before key 0: they see nothing. (SDPA with
    # is_causal alone averages all values there; given the same causal mask as `mask`, it gives 0.)
    out, grads = check_equals_sdpa((1, 2, 16, 4), (1, 2, 5, 4), (1, 2, 5, 4), block_size=4, is_causal=True,
                                   reference_mask=causal_mask(16, 5))
    assert np.all(out[..., :11, :] == 0.0) and np.all(grads[0][..., :11, :] == 0.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_padding_mask(backend, dtype):
    mask = padding_mask(lengths=np.array([13, 7]), max_len=13)              # (2, 1, 1, 13)
    check_equals_sdpa((2, 3, 11, 4), (2, 3, 13, 4), (2, 3, 13, 4), dtype, block_size=4, mask=mask)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("is_causal", [False, True])
def test_general_mask_with_a_fully_masked_row(backend, dtype, is_causal):
    mask = _random_mask((2, 3, 19, 19))
    out, grads = check_equals_sdpa((2, 3, 19, 4), (2, 3, 19, 4), (2, 3, 19, 4), dtype, block_size=8,
                                   mask=mask, is_causal=is_causal)
    assert np.all(out[0, 1, 3] == 0.0) and np.all(grads[0][0, 1, 3] == 0.0)


def test_block_larger_than_t_is_one_tile(backend):
    check_equals_sdpa((2, 2, 9, 4), (2, 2, 9, 4), (2, 2, 9, 4), block_size=128, is_causal=True)


def test_value_width_may_differ_and_scale_is_passed_on(backend):
    check_equals_sdpa((2, 2, 10, 4), (2, 2, 12, 4), (2, 2, 12, 7), block_size=4, scale=0.3)


@pytest.mark.parametrize("is_causal", [False, True])
def test_grouped_query_heads_broadcast_and_gradients_come_back_in_input_shapes(backend, is_causal):
    # query (B, H_kv, G, T, D) against one key/value head per group: (B, H_kv, 1, T, D)
    check_equals_sdpa((2, 2, 3, 10, 4), (2, 2, 1, 10, 4), (2, 2, 1, 10, 5), block_size=4, is_causal=is_causal,
                      mask=padding_mask(lengths=np.array([10, 6]), max_len=10).unsqueeze(1))


@pytest.mark.parametrize("is_causal", [False, True])
def test_gradcheck(backend, is_causal):
    q, k, v = _inputs((1, 2, 5, 3), (1, 2, 6, 3), (1, 2, 6, 2), "float64")
    mask = _random_mask((1, 2, 5, 6))
    mask[0, 1, 3, :] = False
    assert tinyattn.gradcheck(lambda q, k, v: flash_attention(q, k, v, mask=mask, is_causal=is_causal,
                                                              block_size=2), q, k, v)


@pytest.mark.parametrize("mask", [None, "padding"])
@pytest.mark.parametrize("is_causal", [False, True])
def test_saves_nothing_of_size_t_by_t(backend, mask, is_causal):
    t = 64
    q, k, v = _inputs((1, 1, t, 8), (1, 1, t, 8), (1, 1, t, 8), "float32")
    mask = padding_mask(lengths=np.array([50]), max_len=t) if mask else None
    out = flash_attention(q, k, v, mask=mask, is_causal=is_causal, block_size=16)
    sizes = [math.prod(a.shape) for a in out.creator.saved if hasattr(a, "shape")]
    assert sizes and max(sizes) < t * t, f"saved arrays of sizes {sizes}"


def test_causal_skips_the_tiles_above_the_diagonal():
    # 4 x 4 tiles of 16: a causal query block i visits key blocks 0..i, 10 tiles instead of 16
    visited = [len(_key_tiles(slice(q0, q0 + 16), 64, 64, 16, True)) for q0 in range(0, 64, 16)]
    assert visited == [1, 2, 3, 4]


@pytest.mark.parametrize("call, error, message", [
    (lambda q, k, v: flash_attention(q, k[..., :3], v), ValueError, "width D"),
    (lambda q, k, v: flash_attention(q, k, v[..., :5, :]), ValueError, "number of keys"),
    (lambda q, k, v: flash_attention(q, k, v, mask=np.ones((6, 6))), TypeError, "must be boolean"),
    (lambda q, k, v: flash_attention(q, k, v, mask=np.ones((3, 6), bool)), ValueError, "does not broadcast"),
    (lambda q, k, v: flash_attention(q, k, v, block_size=0), ValueError, "block_size"),
    (lambda q, k, v: flash_attention(q, k.double(), v), TypeError, "one floating dtype"),
    (lambda q, k, v: flash_attention(q, k[:1].expand(3, 2, 6, 4), v), ValueError, "cannot be broadcast"),
    (lambda q, k, v: flash_attention(q.numpy(), k, v), TypeError, "query must be a Tensor"),
])
def test_bad_inputs_give_clear_errors(call, error, message):
    q, k, v = _inputs((2, 2, 6, 4), (2, 2, 6, 4), (2, 2, 6, 4), "float32")
    with pytest.raises(error, match=message):
        call(q, k, v)


def test_equals_pytorch(torch):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in ((2, 3, 12, 4), (2, 3, 12, 4), (2, 3, 12, 5))]
    mask = rng.random((2, 1, 12, 12)) < 0.7
    mask[..., 0] = True                                  # torch gives NaN for a row with no key
    upstream = rng.standard_normal((2, 3, 12, 5))
    ours = [tinyattn.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = flash_attention(*ours, mask=mask, is_causal=True, block_size=4)
    expected = torch.nn.functional.scaled_dot_product_attention(
        *theirs, attn_mask=torch.tensor(mask) & torch.ones(12, 12, dtype=torch.bool).tril())
    out.backward(tinyattn.tensor(upstream, dtype="float64"))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **TOLERANCE["float64"])
    for x, t in zip(ours, theirs):
        np.testing.assert_allclose(x.backend.to_numpy(x.grad), t.grad.numpy(), **TOLERANCE["float64"])


@pytest.mark.parametrize("lengths", [(0, 3), (3, 0)])
def test_flash_attention_of_empty_sequences_matches_the_reference(lengths, backend):
    """T_q = 0 or T_k = 0 left no tile to concatenate ("need at least one array to concatenate")."""
    t_q, t_k = lengths
    q = tinyattn.ones(2, t_q, 4, dtype="float64", requires_grad=True)
    k = tinyattn.ones(2, t_k, 4, dtype="float64", requires_grad=True)
    v = tinyattn.ones(2, t_k, 5, dtype="float64", requires_grad=True)
    out = tinyattn.flash_attention(q, k, v, block_size=2)
    assert out.shape == (2, t_q, 5) and not out.numpy().any()
    out.sum().backward()
    assert k.grad.shape == k.shape and v.grad.shape == v.shape


@pytest.mark.parametrize("attend", ["flash", "reference"])
def test_attention_of_width_zero_gives_uniform_weights(attend, backend):
    """1 / sqrt(0) raised ZeroDivisionError; PyTorch's SDPA gives the mean of the values there."""
    q, k = tinyattn.zeros(1, 0), tinyattn.zeros(2, 0)
    v = tinyattn.tensor([[1.0], [3.0]])
    fn = flash_attention if attend == "flash" else scaled_dot_product_attention
    assert fn(q, k, v).tolist() == [[2.0]]


def test_flash_attention_takes_a_0d_mask(backend):
    """A mask broadcasts like the scores; flash's tiles read its last two axes, which a 0-d one lacks."""
    q = tinyattn.ones(2, 3)
    assert tinyattn.flash_attention(q, q, q, mask=tinyattn.tensor(True)).shape == (2, 3)
