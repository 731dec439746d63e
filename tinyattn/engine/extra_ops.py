"""PyTorch's operators that a Transformer does not need: floor division, remainder, maximum, abs,
base ** x, variance and standard deviation. Tensor supports them (a // b, a % b, abs(x), 2 ** x,
x.var(), x.std(); tinyattn.maximum(a, b)) so that PyTorch code runs, but they are not
primitives of the core: a learner can skip this file.

Each is a Function with its backward beside its forward, as in ops/, plus the rules PyTorch
gives it (signs, integer division by zero, the spellings of Bessel's correction). -x and relu
of the core pass through here for one rule of PyTorch's: neither is defined for a mask.
"""
import math

from ..backend import namespace
from .arguments import reduce_args
from .autograd import Function
from .dtypes import FLOAT_DTYPES, check_mix, dtype_kind, require_floating
from .ops.broadcast import broadcast_shape, unbroadcast
from .ops.elementwise import Binary, Neg, Pow, Relu
from .ops.reduce import expand_reduced


class FloorDivide(Binary):
    """floor(a / b), rounding toward -inf as Python's // and PyTorch's floor_divide. No backward:
    floordiv() applies it to detached inputs, as comparisons are."""

    __slots__ = ()

    def forward(self, a, b):
        return namespace(a).floor_divide(a, b)


class Remainder(Binary):
    """a % b = a - b * floor(a / b), with the sign of b (Python's %, PyTorch's remainder).
    d/da = 1, d/db = -floor(a / b): the jumps where a / b is an integer count for nothing."""

    __slots__ = ()

    def forward(self, a, b):
        self.saved = (a, b)
        return namespace(a).remainder(a, b)

    def backward(self, g):
        xp = namespace(g)
        a, b = self.saved
        ga = unbroadcast(xp, g, a.shape) if self.needs_grad[0] else None
        gb = unbroadcast(xp, -g * xp.floor_divide(a, b), b.shape) if self.needs_grad[1] else None
        return ga, gb


# floor division and remainder with Python's (and PyTorch's) signs: a == (a // b) * b + a % b,
# and a % b takes the sign of b. // gives no gradient (PyTorch has none either); % does.
def floordiv(x, other):
    """x // other (Tensor.__floordiv__)."""
    return _divide_floor("//", x, x._lift(other))


def rfloordiv(x, other):
    """other // x (Tensor.__rfloordiv__)."""
    return _divide_floor("//", x._lift(other), x)


def mod(x, other):
    """x % other (Tensor.__mod__)."""
    return _divide_floor("%", x, x._lift(other))


def rmod(x, other):
    """other % x (Tensor.__rmod__)."""
    return _divide_floor("%", x._lift(other), x)


def _divide_floor(op, a, b):
    """a // b or a % b. Integers divide exactly, so a zero divisor is an error, as in PyTorch
    (NumPy would give 0 and a warning); floats give inf or nan. // is computed on detached
    inputs: floor is flat almost everywhere, and a zero gradient would only hide a mistake."""
    if "bool" in (a.dtype, b.dtype):
        raise TypeError(f"{op}: arithmetic on a boolean tensor (a mask); convert it first (x.long())")
    check_mix(op, [a.dtype, b.dtype])
    broadcast_shape(op, a.shape, b.shape)       # a shape clash, before a zero divisor
    xp = a.backend.xp
    if dtype_kind(a.dtype) == dtype_kind(b.dtype) == 1 and a.numel() and bool(xp.any(b.data == 0)):
        raise ZeroDivisionError(f"{op}: integer division by zero")
    if op == "//":
        return FloorDivide.apply(a.detach(), b.detach())
    return Remainder.apply(a, b)


class Maximum(Binary):
    """max(a, b) elementwise. The gradient goes to the larger input; at a tie each gets half
    (as in PyTorch), so the two halves still sum to g."""

    __slots__ = ()

    def forward(self, a, b):
        self.saved = (a, b)
        return namespace(a).maximum(a, b)

    def backward(self, g):
        xp = namespace(g)
        a, b = self.saved
        half = g * 0.5
        ga = xp.where(a > b, g, xp.where(a == b, half, 0.0))
        gb = xp.where(b > a, g, xp.where(a == b, half, 0.0))
        return unbroadcast(xp, ga, a.shape), unbroadcast(xp, gb, b.shape)


def absolute(x):
    """|x| as x * sign(x), with sign(x) a constant: d/dx = sign(x), 0 at 0 as in PyTorch."""
    refuse_bool("abs", x)
    return x * x._make(x.backend.xp.sign(x.data), False, None)


def negative(x):
    """-x (Tensor.__neg__); refused for a boolean tensor, as in PyTorch."""
    refuse_bool("neg", x)
    return Neg.apply(x)


def relu(x):
    """max(x, 0) (Tensor.relu); refused for a boolean tensor, as in PyTorch."""
    refuse_bool("relu", x)
    return Relu.apply(x)


def refuse_bool(op, x):
    """A TypeError naming the op for a boolean x (NumPy would give int64 or a message of its own)."""
    if x.data.dtype == x.backend.xp.bool:
        raise TypeError(f"{op}: not defined for a boolean tensor (a mask), as in PyTorch; "
                        "invert a mask with ~, or convert it first (x.long())")


class RPow(Function):
    """base ** x for a Python number base (2 ** x, 10 ** x), computed as a power rather than as
    e^(x ln base), which rounds (10 ** 3 = 1000.0001) and has no value for base <= 0.
    d/dx = base^x ln(base). Where ln(base) is not finite, PyTorch's values: for base 0, zero where
    x >= 0 and -inf (times g) where x < 0; for a negative base, nan."""

    __slots__ = ()
    saves_output = True

    def forward(self, x, base):
        out = base ** x
        self.saved = (x, out, base)
        return out

    def backward(self, g):
        x, out, base = self.saved
        if base > 0:
            return (g * out * math.log(base),)
        if base == 0:
            return (namespace(g).where(x >= 0, 0.0, g * -math.inf),)     # out is inf where x < 0
        return (g * math.nan,)


def power(x, exponent):
    """x ** exponent for a Python number exponent (Tensor.__pow__): the Pow primitive. A boolean x
    counts as int64 (PyTorch's result); an integer x to a negative integer power is refused, as
    PyTorch refuses it (the result would not be an integer)."""
    if not isinstance(exponent, (int, float)):
        raise TypeError(f"pow: the exponent must be a Python number, got {type(exponent).__name__}; "
                        "for a tensor exponent write exp(y * log(x))")
    if x.dtype not in FLOAT_DTYPES:
        if isinstance(exponent, int) and exponent < 0:
            raise ValueError(f"pow: an integer tensor ({x.dtype}) to a negative integer power "
                             f"({exponent}) is not an integer; convert it first, e.g. x.float()")
        x = x.long() if x.dtype == "bool" else x
    return Pow.apply(x, exponent=exponent)


def rpow(x, base):
    """base ** x for a Python number base (Tensor.__rpow__); an integer x with a float base is
    computed in float32, as PyTorch (2.5 ** arange(3))."""
    if not isinstance(base, (int, float)) or isinstance(base, bool):
        raise TypeError(f"pow: the base must be a Python number, got {type(base).__name__}; "
                        "for a tensor base write exp(x * log(base))")
    if x.dtype not in FLOAT_DTYPES:
        x = x.float() if isinstance(base, float) else x.long() if x.dtype == "bool" else x
    if x.dtype == "uint8" and base < 0:
        raise ValueError(f"pow: a negative base ({base}) to uint8 powers has no uint8 result; "
                         "convert the exponents first, e.g. x.long()")
    return RPow.apply(x, base=base)


class Var(Function):
    """variance over axes: sum((x - mean)^2) / (n - correction).
    d/dx_i = 2 (x_i - mean) / (n - correction)   (the mean's own dependence on x_i sums to zero)."""

    __slots__ = ()
    saves_inputs = False

    def forward(self, x, axes, keepdims, correction):
        xp = namespace(x)
        centred = x - xp.mean(x, axis=axes, keepdims=True)
        n = math.prod(x.shape[a] for a in axes)
        inverse = 1.0 / (n - correction) if n > correction else math.inf
        self.saved = (centred, axes, keepdims, 2.0 * inverse)
        total = xp.sum(centred * centred, axis=axes, keepdims=keepdims)
        if n > correction:
            return total * inverse
        # no more elements than the correction: sum / 0, as PyTorch: inf, or nan for a sum of 0
        return xp.where(total > 0, xp.full_like(total, math.inf), xp.full_like(total, math.nan))

    def backward(self, g):
        xp = namespace(g)
        centred, axes, keepdims, scale = self.saved
        return (expand_reduced(xp, g, axes, keepdims) * centred * scale,)


def var(x, axis=None, unbiased=None, keepdims=False, *, correction=None, dim=None, keepdim=None):
    """Variance, unbiased by default (correction=1) as in PyTorch; NumPy's default is 0.
    The second positional argument is PyTorch's `unbiased` (x.var(0, False): correction 0)."""
    axes, keep = reduce_args("var", x.ndim, axis, dim, keepdims, keepdim)
    require_floating("var", x)
    correction = _correction("var", unbiased, correction)
    return Var.apply(x, axes=axes, keepdims=keep, correction=correction)


def std(x, axis=None, unbiased=None, keepdims=False, *, correction=None, dim=None, keepdim=None):
    """Standard deviation: the square root of var, unbiased by default (correction=1). Where the
    variance is 0 (constant values) the gradient is 0, as in PyTorch: sqrt's own slope there is
    infinite, and inf times var's zero gradient would be nan."""
    axes, keep = reduce_args("std", x.ndim, axis, dim, keepdims, keepdim)
    require_floating("std", x)
    correction = _correction("std", unbiased, correction)
    variance = Var.apply(x, axes=axes, keepdims=keep, correction=correction)
    zero = variance == 0
    return variance.masked_fill(zero, 1.0).sqrt().masked_fill(zero, 0.0)


def _correction(op, unbiased, correction):
    """PyTorch's two spellings of Bessel's correction: unbiased=True/False, or correction=n."""
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: give unbiased or correction, not both")
    if unbiased is not None:
        return 1 if unbiased else 0
    return 1 if correction is None else correction
