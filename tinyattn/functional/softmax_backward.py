"""Softmax's backward, in one place: fused.py's Softmax and every attention backward share it.

With weights w = softmax(s) along an axis, dw_i/ds_j = w_i (delta_ij - w_j): raising one score
raises its own weight and takes from all the others in proportion to their size. So, with
g = dL/dw,

    dL/ds_j = sum_i g_i w_i (delta_ij - w_j) = w_j (g_j - sum_i w_i g_i)

one elementwise product and one sum per row: the (n x n) Jacobian is never built.
functional/fused.py's Softmax calls it, and so do the hand-written attention backwards a layer
up (attention/fused_causal.py, flash.py and window.py).
"""
from ..backend import namespace


def softmax_backward(w, dw, axis=-1, total=None):
    """dL/ds = w * (dL/dw - sum(w * dL/dw)) for w = softmax(s) along `axis`.

    w: the weights; dw: dL/dw, same shape, a temporary of the caller's: it is overwritten with
    the result, which is returned (attention's score arrays are the largest it makes).
    total: sum(w * dL/dw) along `axis` (kept as an axis of size 1), when the caller has it
    another way: flash attention sees a row of w one tile at a time and gets the row's sum as
    dO . out; fused_causal.py sums down columns with one matrix product.
    """
    if total is None:
        total = namespace(w).sum(w * dw, axis=axis, keepdims=True)
    dw -= total
    dw *= w
    return dw
