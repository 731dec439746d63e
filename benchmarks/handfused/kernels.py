"""GELU, forward and slope together, as a fixed sequence of NumPy passes on preallocated buffers.

Each kernel takes a block of rows x (R, F) and writes y = GELU(x) and slope = GELU'(x), so that the
backward is one multiply (d_in = d_out * slope) and never recomputes anything. Every NumPy call
writes into an existing buffer (`out=` or in place): no temporaries, hence no allocation per call.
Constants are Python floats, so float32 arrays stay float32 (a np.float64 scalar would not).
"""
import math

import numpy as np

# Abramowitz & Stegun 7.1.26: for z >= 0, erfc(z) ~ t (a1 + a2 t + a3 t^2 + a4 t^3 + a5 t^4) exp(-z^2)
# with t = 1 / (1 + p z), absolute error below 1.5e-7 (under float32's resolution near 1).
_ERFC_P = 0.3275911
_ERFC_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_K = _ERFC_P / math.sqrt(2.0)           # z = |x| / sqrt(2), so t = 1 / (1 + K |x|)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715 * _SQRT_2_OVER_PI

# Rows per block: block_rows * F floats per array. 65,536 floats are 256 KB, so the five arrays a
# kernel touches (x, y, slope, two scratch) take 1.25 MB and stay in a core's L2 cache (2 MB on the
# machine measured) through all the kernel's passes. Over a whole (N, F) array, every pass would
# stream from memory instead (nano: five arrays of 1.5 MB each).
GELU_BLOCK_FLOATS = 65536


def gelu_exact(x, y, slope, tmp1, tmp2):
    """Exact GELU: y = x Phi(x) and slope = Phi(x) + x phi(x), all (R, F), in 23 passes.

    Phi is the normal CDF, phi its density. With h = Phi(-|x|) = erfc(|x| / sqrt(2)) / 2
        h = 0.5 t P(t) exp(-x^2 / 2)     (A&S 7.1.26, P the polynomial above)
        Phi(x) = 0.5 + sign(x) (0.5 - h)
    t is computed as (1/K) / (1/K + |x|): one add and one divide, no extra multiply.
    x is left unchanged; tmp1, tmp2 (R, F) are scratch."""
    t, h, e = tmp1, tmp2, slope
    np.abs(x, out=t)
    t += 1.0 / _K
    np.divide(1.0 / _K, t, out=t)                   # t
    np.multiply(x, x, out=e)
    e *= -0.5
    np.exp(e, out=e)                                # exp(-x^2 / 2), kept for phi(x) below
    np.multiply(t, 0.5 * _ERFC_A[4], out=h)         # Horner, with the 0.5 folded into the constants
    for a in (_ERFC_A[3], _ERFC_A[2], _ERFC_A[1], _ERFC_A[0]):
        h += 0.5 * a
        h *= t
    h *= e                                          # h = Phi(-|x|)
    cdf = t                                         # t is no longer needed: reuse its buffer
    np.subtract(0.5, h, out=cdf)
    np.copysign(cdf, x, out=cdf)
    cdf += 0.5                                      # Phi(x)
    np.multiply(x, cdf, out=y)
    slope *= x                                      # slope held exp(-x^2 / 2)
    slope *= _INV_SQRT_2PI                          # x phi(x)
    slope += cdf


def gelu_tanh(x, y, slope, tmp1, tmp2):
    """tanh GELU: y = x p and its slope, all (R, F), in 15 passes, with
        u = x (c0 + c1 x^2),  t = tanh(u),  p = (1 + t) / 2,   c0 = sqrt(2/pi), c1 = 0.044715 c0
        slope = p + x (1 - t^2) u' / 2,   u' = c0 + 3 c1 x^2.
    x is left unchanged; tmp1, tmp2 (R, F) are scratch."""
    np.multiply(x, x, out=tmp1)                     # x^2
    np.multiply(tmp1, 1.5 * _TANH_CUBIC, out=slope)
    slope += 0.5 * _SQRT_2_OVER_PI                  # u' / 2
    tmp1 *= _TANH_CUBIC
    tmp1 += _SQRT_2_OVER_PI
    tmp1 *= x                                       # u
    np.tanh(tmp1, out=tmp1)                         # t
    np.multiply(tmp1, tmp1, out=tmp2)
    np.subtract(1.0, tmp2, out=tmp2)                # 1 - t^2
    slope *= tmp2
    slope *= x                                      # x (1 - t^2) u' / 2
    tmp1 *= 0.5
    tmp1 += 0.5                                     # p
    slope += tmp1
    np.multiply(x, tmp1, out=y)


GELU_KERNELS = {"gelu": gelu_exact, "gelu_tanh": gelu_tanh}


def gelu_in_blocks(kernel, x, y, slope, tmp1, tmp2):
    """Run a GELU kernel over x (N, F) a block of rows at a time, writing y and slope (N, F).

    The block is as many rows as the scratch buffers tmp1, tmp2 (R, F) have (see GELU_BLOCK_FLOATS);
    the last block may be shorter."""
    rows = tmp1.shape[0]
    for start in range(0, x.shape[0], rows):
        stop = min(start + rows, x.shape[0])
        kernel(x[start:stop], y[start:stop], slope[start:stop], tmp1[:stop - start], tmp2[:stop - start])
