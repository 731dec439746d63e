"""Sliding-window attention: the mask follows its definition, and the banded window_attention
equals scaled_dot_product_attention with that mask, forward and backward, at O(T * W) cost."""
import numpy as np
import pytest

import tinyattn
from tinyattn.attention import scaled_dot_product_attention
from tinyattn.attention.masks import causal_mask, sliding_window_mask
from tinyattn.attention.window import window_attention

# Banded and reference compute the same softmax-weighted sums; the banded one adds exact zeros
# for the keys outside the window and sums in another order (blocks of 2W keys instead of rows
# of T), so the two differ by rounding alone: a few ulps of O(1) terms, summed over <= 2W = 16
# keys, D <= 6 features and <= 6 broadcast copies (inputs in [-2, 2)). As in tests/oracle.py:
#   float64: eps 1.1e-16; the differences measured on these cases stay below 1e-15, 1e-4 of the
#            tolerance, while a wrong window or gradient is off by O(1); atol for values near 0.
#   float32: eps 6e-8; measured differences reach 7e-7 on gradients of size ~4 (summed over
#            broadcast copies), a quarter of the tolerance: 1e-5 relative plus 1e-6 absolute.
TOLERANCE = {"float64": (1e-10, 1e-12), "float32": (1e-5, 1e-6)}


def test_sliding_window_mask_follows_its_definition(backend):
    # key j is allowed for the query at position p when p - W < j <= p; here W = 3
    assert sliding_window_mask(5, 3).numpy().tolist() == [
        [True, False, False, False, False],
        [True, True, False, False, False],
        [True, True, True, False, False],
        [False, True, True, True, False],
        [False, False, True, True, True],
    ]


def test_sliding_window_mask_aligns_fewer_queries_to_the_end_of_the_keys(backend):
    # 2 queries, 5 keys: the queries sit at positions 3 and 4; W = 2
    assert sliding_window_mask(2, 2, num_keys=5).numpy().tolist() == [
        [False, False, True, True, False],
        [False, False, False, True, True],
    ]


@pytest.mark.parametrize("t_q, t_k", [(6, 6), (3, 6)])
def test_sliding_window_mask_as_wide_as_the_keys_is_the_causal_mask(backend, t_q, t_k):
    for window in (t_k, t_k + 5):
        np.testing.assert_array_equal(sliding_window_mask(t_q, window, t_k).numpy(),
                                      causal_mask(t_q, t_k).numpy())


def _attention_and_grads(fn, arrays, mask, upstream, dtype):
    """fn(q, k, v, mask)'s output and the gradients of q, k, v as host arrays."""
    q, k, v = (tinyattn.tensor(a, dtype=dtype, requires_grad=True) for a in arrays)
    out = fn(q, k, v, mask)
    out.backward(tinyattn.tensor(upstream, dtype=dtype))
    return [out.numpy()] + [x.backend.to_numpy(x.grad) for x in (q, k, v)], (q, k, v)


def _check_against_reference(shapes, window, dtype="float64", mask=None, seed=0):
    """window_attention vs SDPA with sliding_window_mask (and the mask): forward, grads, shapes."""
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-2.0, 2.0, s) for s in shapes]
    t = shapes[0][-2]
    keep = None if mask is None else tinyattn.tensor(mask)
    band = sliding_window_mask(t, window)
    reference_mask = band if keep is None else band & keep
    upstream_shape = np.broadcast_shapes(shapes[0][:-2], shapes[1][:-2], shapes[2][:-2],
                                         () if mask is None else mask.shape[:-2]) + (t, shapes[2][-1])
    upstream = rng.standard_normal(upstream_shape)
    ours, inputs = _attention_and_grads(lambda q, k, v, m: window_attention(q, k, v, window, mask=m),
                                        arrays, keep, upstream, dtype)
    theirs, _ = _attention_and_grads(lambda q, k, v, m: scaled_dot_product_attention(q, k, v, mask=m),
                                     arrays, reference_mask, upstream, dtype)
    rtol, atol = TOLERANCE[dtype]
    for what, a, b in zip(["output", "grad of query", "grad of key", "grad of value"], ours, theirs):
        assert a.shape == b.shape, f"{what}: shape {a.shape}, reference {b.shape}"
        assert a.dtype == np.dtype(dtype), f"{what}: dtype {a.dtype}, not {dtype}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)
    for x, s in zip(inputs, shapes):
        assert x.grad.shape == s
    return ours


CASES = {
    "T a multiple of W": ([(2, 2, 16, 4)] * 3, 4),
    "T not a multiple of W": ([(1, 2, 37, 4)] * 3, 8),
    "W = 1: each query sees itself": ([(2, 1, 9, 3)] * 3, 1),
    "W = T": ([(1, 2, 7, 4)] * 3, 7),
    "W > T": ([(1, 2, 7, 4)] * 3, 20),
    "D_v != D": ([(2, 2, 11, 4), (2, 2, 11, 4), (2, 2, 11, 6)], 3),
    "grouped-query broadcast": ([(2, 2, 3, 10, 4), (2, 2, 1, 10, 4), (2, 2, 1, 10, 5)], 4),
    "query broadcast over the batch": ([(1, 3, 10, 4), (2, 3, 10, 4), (2, 1, 10, 4)], 3),
    "no leading axes on the keys": ([(2, 3, 10, 4), (10, 4), (10, 4)], 3),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(CASES))
def test_window_attention_equals_sdpa_with_the_sliding_window_mask(backend, case, dtype):
    shapes, window = CASES[case]
    _check_against_reference(shapes, window, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_window_attention_honours_a_padding_mask(backend, dtype):
    keep = np.ones((2, 1, 1, 13), dtype=bool)
    keep[0, ..., 10:] = False                    # sequence 0 is 10 tokens long, then padding
    keep[1, ..., :3] = False                     # sequence 1 hides its first 3 keys: with W = 3
    out, dq, dk, dv = _check_against_reference([(2, 2, 13, 4)] * 3, 3, dtype, keep)
    # queries 0..2 of sequence 1 see no key at all: output 0 and no gradient, as in SDPA
    assert np.all(out[1, :, :3] == 0) and np.all(dq[1, :, :3] == 0)
    assert np.all(dk[1, :, :3] == 0) and np.all(dv[1, :, :3] == 0)


def test_window_attention_takes_a_key_mask_per_head(backend):
    keep = np.random.default_rng(3).random((2, 3, 1, 9)) > 0.3
    _check_against_reference([(2, 3, 9, 4)] * 3, 4, "float64", keep)


def test_window_attention_passes_gradcheck(backend):
    q = tinyattn.randn(2, 2, 7, 3, dtype="float64", requires_grad=True)
    k = tinyattn.randn(2, 1, 7, 3, dtype="float64", requires_grad=True)
    v = tinyattn.randn(2, 1, 7, 2, dtype="float64", requires_grad=True)
    keep = tinyattn.tensor(np.array([True] * 7 + [False, False] + [True] * 5).reshape(2, 1, 1, 7))
    assert tinyattn.gradcheck(lambda q, k, v: window_attention(q, k, v, 3, scale=0.7, mask=keep), q, k, v)


def _largest_saved(t, window, batch_heads=(2, 2), d=4):
    """Elements of the largest array the window attention node keeps for its backward."""
    q, k, v = (tinyattn.randn(*batch_heads, t, d, requires_grad=True) for _ in range(3))
    node = window_attention(q, k, v, window).creator
    return max(a.size for a in node.saved if hasattr(a, "shape"))


def test_window_attention_keeps_o_t_times_w_for_backward(backend):
    batch_heads, t, window = 2 * 2, 256, 8
    largest = _largest_saved(t, window)
    assert largest == batch_heads * t * 2 * window          # the weights (B, H, T / W, W, 2W)
    assert largest < batch_heads * t * t / 8                # far from the T^2 scores of SDPA
    # doubling T doubles what is kept (T * W), where full attention would quadruple it
    assert _largest_saved(2 * t, window) == 2 * largest
    assert _largest_saved(t, 2 * window) == 2 * largest


def test_window_attention_keeps_the_input_dtype(backend):
    q = tinyattn.randn(1, 5, 4, requires_grad=True)
    out = window_attention(q, q, q, 2)
    out.sum().backward()
    assert out.dtype == "float32" and q.grad.dtype == q.data.dtype


@pytest.mark.parametrize("call, error, message", [
    (lambda q: window_attention(q, q, q, 0), ValueError, "window must be an integer >= 1"),
    (lambda q: window_attention(q, q, q, 2.0), ValueError, "window must be an integer >= 1"),
    (lambda q: window_attention(q[:, :4], q, q, 2), ValueError, "same length T"),
    (lambda q: window_attention(q[:, :0], q[:, :0], q[:, :0], 2), ValueError, "sequence is empty"),
    (lambda q: window_attention(q, q, q[:, :4], 2), ValueError, "same length T"),
    (lambda q: window_attention(q, q[..., :3], q, 2), ValueError, "share the width D: 4 != 3"),
    (lambda q: window_attention(q, q, q, 2, mask=np.ones((6, 6), dtype=bool)), ValueError,
     r"broadcast to \(..., 1, T\)"),
    (lambda q: window_attention(q, q, q, 2, mask=np.ones((1, 1, 6))), TypeError, "must be boolean"),
    (lambda q: window_attention(q, tinyattn.randn(3, 6, 4), q, 2), ValueError, "leading axes"),
])
def test_window_attention_rejects_bad_calls_clearly(backend, call, error, message):
    with pytest.raises(error, match=message):
        call(tinyattn.randn(2, 6, 4))


def test_sliding_window_mask_rejects_a_window_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        sliding_window_mask(4, 0)


@pytest.mark.parametrize("window", [1, 3, 16])
def test_window_attention_matches_pytorch_with_a_sliding_window_mask(torch, backend, window):
    """PyTorch has no window attention: its scaled_dot_product_attention with the boolean band
    (True = may attend, its convention too) is the same function. float64 both sides."""
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 3, 9, 4)) for _ in range(3))
    upstream = rng.standard_normal((2, 3, 9, 4))
    ours = [tinyattn.tensor(a, dtype="float64", requires_grad=True) for a in (q, k, v)]
    out = window_attention(*ours, window)
    out.backward(tinyattn.tensor(upstream, dtype="float64"))
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    position = torch.arange(9)
    band = (position[None, :] <= position[:, None]) & (position[None, :] > position[:, None] - window)
    expected = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=band)
    expected.backward(torch.tensor(upstream))
    rtol, atol = TOLERANCE["float64"]
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=rtol, atol=atol)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.backend.to_numpy(a.grad), t.grad.numpy(), rtol=rtol, atol=atol)
