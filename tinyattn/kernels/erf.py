"""erf, which neither NumPy nor the array API standard provides, from standard functions.

Two formulas, one per need:
- the series, for float64 (gradient checks, PyTorch comparisons):
      erf(x) = 2/sqrt(pi) * e^(-x^2) * sum_n (2x^2)^n x / (1 * 3 * ... * (2n + 1))
  whose terms all have x's sign, so nothing cancels; summed until the terms stop mattering
  (under 100 terms for |x| <= 6; beyond 6, erf is +-1 to float64 precision). Error ~2e-15.
- Abramowitz & Stegun 7.1.26, the one erfc formula for float32 (PyTorch's vectorised float32
  erf uses it too): for z >= 0, with t = 1 / (1 + p z),
      erfc(z) = t (a1 + a2 t + a3 t^2 + a4 t^3 + a5 t^4) e^(-z^2),   |error| < 1.5e-7.
  That is about float32's own rounding of numbers near 1 (6e-8), so a float32 result cannot be
  much better. Other dtypes are computed in float64 and rounded back: 1.5e-7 + 6e-8 < 2.1e-7
  from math.erf. The fused GELU (kernels/gelu.py) evaluates the same formula with the same
  coefficients in float32, sharing its e^(-z^2) with the normal density.
"""
import math

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
AS_P = 0.3275911
AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(xp, x):
    """The error function of array x (of namespace xp), elementwise, in x's own dtype."""
    if x.dtype == xp.float64:
        return _erf_series(xp, x)
    return xp.astype(_erf_from_erfc(xp, xp.astype(x, xp.float64)), x.dtype)


def _erf_series(xp, x):
    x = xp.clip(x, -6.0, 6.0)
    x2 = x * x
    term, total, n = x, x, 0
    while True:
        n += 1
        term = term * (2.0 * x2) * (1.0 / (2 * n + 1))
        total = total + term
        if not bool(xp.any(xp.abs(term) > 1e-17 * xp.abs(total))):
            return _TWO_OVER_SQRT_PI * xp.exp(-x2) * total


def _erf_from_erfc(xp, x):
    """erf(x) = sign(x) (1 - erfc(|x|)), erfc by A&S 7.1.26 (Horner's rule for the polynomial)."""
    z = xp.abs(x)
    t = 1.0 / (1.0 + AS_P * z)
    poly = t * AS_A[-1]
    for a in reversed(AS_A[:-1]):
        poly = (poly + a) * t
    return xp.sign(x) * (1.0 - poly * xp.exp(-(z * z)))
