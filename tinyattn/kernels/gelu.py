"""GELU's kernels: y = x Phi(x) and its slope dy/dx for one chunk of rows, written through `out=`.

functional/fused.py's Gelu runs them chunk by chunk (cache_blocking.py says why); the formulas
and the derivative are in its docstring. Every pass writes into y, slope or the scratch chunk s
instead of making a fresh temporary. With with_slope=False (no gradient will be asked for),
slope is scratch too and y alone is filled.
"""
import math

from .erf import AS_A, AS_P, erf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)



def gelu_exact(xp, x, y, slope, s, with_slope=True):
    """Through erf.py's erf: accurate to float64 for gradient checks, to float32's relative
    precision (tails included) in other dtypes."""
    xp.multiply(x, _INV_SQRT_2, out=s)
    s[...] = erf(xp, s)
    s += 1.0
    s *= 0.5                                    # Phi(x)
    if with_slope:
        xp.multiply(x, x, out=slope)            # then x phi(x) + Phi(x)
        slope *= -0.5
        xp.exp(slope, out=slope)
        slope *= x
        slope *= _INV_SQRT_2PI
        slope += s
    xp.multiply(x, s, out=y)


def gelu_exact_float32(xp, x, y, slope, s, with_slope=True):
    """Exact GELU in float32 in 27 array passes, 21 without the slope (through special.erf it
    takes about 45).

    With h = Phi(-|x|) = erfc(|x| / sqrt 2) / 2, which A&S gives directly (1 - erf would cancel),
        y = relu(x) - |x| h           (x >= 0: x (1 - h);  x < 0: x h)
        Phi(x) = 1 - h or h,          dy/dx = Phi(x) + x phi(x),
    and phi's exp(-x^2 / 2) is the same exp that erfc needs. Phi is off by at most 7.5e-8
    (absolute), as in PyTorch's GELU.
    """
    xp.multiply(x, x, out=slope)                # slope <- exp(-x^2 / 2), for now
    slope *= -0.5
    xp.exp(slope, out=slope)
    xp.abs(x, out=s)                            # s <- t = 1 / (1 + p |x| / sqrt 2)
    s *= AS_P * _INV_SQRT_2
    s += 1.0
    xp.divide(1.0, s, out=s)
    xp.multiply(s, 0.5 * AS_A[4], out=y)       # y <- h: Horner, the coefficients halved
    for c in reversed(AS_A[:4]):
        y += 0.5 * c
        y *= s
    y *= slope
    if with_slope:
        # Phi(x) = 0.5 + sign(x) (0.5 - h); copysign, not a `where`, which costs 25 NumPy passes
        xp.subtract(0.5, y, out=s)
        xp.copysign(s, x, out=s)
        s += 0.5
        slope *= x                              # slope <- x phi(x) + Phi(x)
        slope *= _INV_SQRT_2PI
        slope += s
    xp.abs(x, out=s)                            # y <- relu(x) - |x| h, relu(x) = (x + |x|) / 2
    y *= s
    s += x
    s *= 0.5
    xp.subtract(s, y, out=y)


def gelu_tanh(xp, x, y, slope, s, with_slope=True):
    """GPT-2's tanh GELU: y = x (1 + t) / 2 and its slope (class docstring) in 18 passes, y
    alone in 8."""
    xp.multiply(x, x, out=s)                    # s <- u = sqrt(2/pi) (x + 0.044715 x^3)
    s *= 0.044715 * _SQRT_2_OVER_PI
    s += _SQRT_2_OVER_PI
    s *= x
    xp.tanh(s, out=s)                           # s <- t
    if with_slope:
        xp.multiply(s, s, out=y)                # y <- 1 - t^2, for now
        xp.subtract(1.0, y, out=y)
        xp.multiply(x, x, out=slope)            # slope <- x du/dx
        slope *= 3 * 0.044715 * _SQRT_2_OVER_PI
        slope += _SQRT_2_OVER_PI
        slope *= x
        slope *= y                              # slope <- (1 + t + x du/dx (1 - t^2)) / 2
        slope += s
        slope += 1.0
        slope *= 0.5
    xp.add(s, 1.0, out=y)                       # y <- x (1 + t) / 2
    y *= x
    y *= 0.5


def gelu_kernel(xp, dtype, approximate):
    """The kernel for GELU's form ("none" or "tanh") in arrays of `dtype`."""
    if approximate == "tanh":
        return gelu_tanh
    return gelu_exact_float32 if dtype == xp.float32 else gelu_exact
