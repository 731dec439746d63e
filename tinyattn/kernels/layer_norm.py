"""Layer norm's loops, chunk by chunk and through `out=`: the arithmetic of functional/fused.py's
LayerNorm (its docstring has the formulas and the derivation), arranged for speed.

A row mean is a product with a column of 1/n: NumPy sums short rows one scalar at a time,
while the matrix-vector product is vectorised (6x faster on rows of 64). The variance's sums of
squares come from vecdot, which reads the rows once and makes no square.
"""
from .cache_blocking import row_chunks


def layer_norm_forward(xp, place, chunk_elements, rows, w, b, eps):
    """rows (N, n), w and b (n,) -> y (N, n), and what backward needs: xhat (N, n), r (N, 1)."""
    n = rows.shape[1]
    averager = xp.ones((n, 1), dtype=rows.dtype, **place) / n                   # (n, 1)
    xhat, y = xp.empty_like(rows), xp.empty_like(rows)
    r = xp.empty((rows.shape[0], 1), dtype=rows.dtype, **place)
    for chunk in row_chunks(rows.shape[0], n, chunk_elements):
        xc, hc, yc = rows[chunk, ...], xhat[chunk, ...], y[chunk, ...]
        xp.subtract(xc, xp.matmul(xc, averager), out=hc)                       # centred
        var = xp.reshape(xp.vecdot(hc, hc), (-1, 1)) / max(n, 1)         # rows of width 0: 0, not 0/0
        rc = 1.0 / xp.sqrt(var + eps)
        hc *= rc
        r[chunk, ...] = rc
        xp.multiply(hc, w, out=yc)
        yc += b
    return y, xhat, r


def layer_norm_backward(xp, place, chunk_elements, g2, xhat, r, w, need_dx, need_dw):
    """g2 (N, n) -> dx (N, n) or None, dw (n,) or None.

    mean(dxhat) = g @ w / n and mean(dxhat * xhat) = (g * xhat) @ w / n are two matrix-vector
    products, and g * xhat is also what dw sums, so it is formed once per chunk."""
    w_over_n = xp.reshape(w, (-1, 1)) / w.shape[0]                              # (n, 1)
    dx = xp.empty_like(g2) if need_dx else None
    dw = xp.zeros(w.shape, dtype=g2.dtype, **place)                           # summed chunk by chunk
    chunks = row_chunks(g2.shape[0], g2.shape[1], chunk_elements)
    scratch = xp.empty_like(g2[chunks[0], ...])
    for chunk in chunks:
        gc, xc = g2[chunk, ...], xhat[chunk, ...]
        gx = xp.multiply(gc, xc, out=scratch[:gc.shape[0], ...])
        if need_dw:
            dw += xp.sum(gx, axis=0)
        if need_dx:
            dxc = dx[chunk, ...]
            mean_g, mean_gx = xp.matmul(gc, w_over_n), xp.matmul(gx, w_over_n)      # (rows, 1)
            xp.multiply(gc, w, out=dxc)
            dxc -= mean_g
            dxc -= xp.multiply(xc, mean_gx, out=gx)
            dxc *= r[chunk, ...]
    return dx, (dw if need_dw else None)
