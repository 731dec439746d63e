"""Elementwise primitives. Each backward is the local derivative times the upstream gradient g.

Binary ops broadcast their inputs, so their backward reduces each gradient back to its input's
shape with `unbroadcast`. Python scalars are turned into arrays of the tensor's dtype before they
get here, so float32 stays float32. Functions of real numbers (exp, log, ...) compute integer
inputs in float32, PyTorch's default float dtype.
"""
import math

from ...backend import backend_of, namespace
from ..autograd import Function
from ..dtypes import as_floating, explain_operands, promote
from ..errors import check_same_backend
from .broadcast import broadcast_shape, unbroadcast

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Binary(Function):
    """A broadcasting binary op: explains shape clashes, and promotes mixed dtypes as PyTorch
    does (see `result_dtype`): arange(4) * 0.5 is float32, where NumPy would make it float64 and
    the array API standard refuses to mix kinds at all."""

    __slots__ = ()

    @classmethod
    def apply(cls, a, b):
        if a.data.dtype is not b.data.dtype:        # dtypes are shared objects: `is` is the fast test
            check_same_backend(cls.__name__.lower(), [a.data, b.data])
            if a.data.dtype != b.data.dtype:
                a, b = promote([a, b], cls.__name__.lower())
        return super().apply(a, b)

    @classmethod
    def explain_failure(cls, error, a, b, **params):
        explain_operands(cls.__name__.lower(), a, b)     # raises if shapes or dtypes are the problem
        super().explain_failure(error, a, b, **params)


class Add(Binary):
    """a + b.   d/da = 1, d/db = 1."""

    __slots__ = ()
    saves_inputs = False

    def forward(self, a, b):
        self.saved = (a.shape, b.shape)
        return a + b

    def backward(self, g):
        xp = namespace(g)
        a_shape, b_shape = self.saved
        return unbroadcast(xp, g, a_shape), unbroadcast(xp, g, b_shape)


class Sub(Binary):
    """a - b.   d/da = 1, d/db = -1."""

    __slots__ = ()
    saves_inputs = False

    def forward(self, a, b):
        self.saved = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        xp = namespace(g)
        a_shape, b_shape = self.saved
        return unbroadcast(xp, g, a_shape), unbroadcast(xp, -g, b_shape)


class Mul(Binary):
    """a * b.   d/da = b, d/db = a."""

    __slots__ = ()

    def forward(self, a, b):
        self.saved = (a, b)
        return a * b

    def backward(self, g):
        xp = namespace(g)
        a, b = self.saved
        ga = unbroadcast(xp, g * b, a.shape) if self.needs_grad[0] else None
        gb = unbroadcast(xp, g * a, b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Binary):
    """a / b.   d/da = 1/b, d/db = -a/b^2 = -out/b. Integers divide as float32 (PyTorch's rule)."""

    __slots__ = ()
    saves_output = True

    @classmethod
    def apply(cls, a, b):
        if not a.dtype.startswith("float") and not b.dtype.startswith("float"):
            a = a.to(dtype="float32")
        return super().apply(a, b)

    def forward(self, a, b):
        out = a / b
        self.saved = (a.shape, b, out)
        return out

    def backward(self, g):
        xp = namespace(g)
        a_shape, b, out = self.saved
        g_over_b = g / b
        ga = unbroadcast(xp, g_over_b, a_shape) if self.needs_grad[0] else None
        gb = unbroadcast(xp, -g_over_b * out, b.shape) if self.needs_grad[1] else None
        return ga, gb


class Where(Function):
    """cond ? a : b, with a boolean `cond` array that is not differentiated.
    d/da = cond, d/db = not cond. Mixed dtypes promote as in arithmetic (int64, float32: float32)."""

    __slots__ = ()
    saves_inputs = False

    @classmethod
    def apply(cls, a, b, cond):
        if a.data.dtype != b.data.dtype:
            a, b = promote([a, b], "where")
        check_same_backend("where", [cond, a.data, b.data])
        return super().apply(a, b, cond=cond)

    def forward(self, a, b, cond):
        xp = namespace(a)       # backward keeps its own copy of the mask: see versions.py
        self.saved = (a.shape, b.shape, xp.asarray(cond, copy=True))
        return xp.where(cond, a, b)

    def backward(self, g):
        xp = namespace(g)
        a_shape, b_shape, cond = self.saved
        ga = unbroadcast(xp, xp.where(cond, g, 0.0), a_shape) if self.needs_grad[0] else None
        gb = unbroadcast(xp, xp.where(cond, 0.0, g), b_shape) if self.needs_grad[1] else None
        return ga, gb

    @classmethod
    def explain_failure(cls, error, a, b, cond):
        broadcast_shape("where", tuple(cond.shape), a.shape, b.shape)
        super().explain_failure(error, a, b)


class Neg(Function):
    """-x.   d/dx = -1."""

    __slots__ = ()
    saves_inputs = False

    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """x ** p for a Python number p.   d/dx = p * x^(p-1).
    An integer x stays integer for an integer p; a float p makes it float32 (as PyTorch)."""

    __slots__ = ()

    def forward(self, x, exponent):
        if isinstance(exponent, float):
            x = as_floating(x)
        self.saved = (x, exponent)
        return x ** exponent

    def backward(self, g):
        x, p = self.saved
        if p == 2:
            return (g * x * 2.0,)
        if p == 0:      # x^0 is constant; p * x^(p-1) would be 0 * inf = nan at x = 0
            return (g * 0.0,)
        return (g * (x ** (p - 1)) * p,)


class Exp(Function):
    """e^x.   d/dx = e^x, which is the output: save it, not x."""

    __slots__ = ()
    saves_inputs, saves_output = False, True

    def forward(self, x):
        x = as_floating(x)
        out = namespace(x).exp(x)
        self.saved = out
        return out

    def backward(self, g):
        return (g * self.saved,)


class Log(Function):
    """ln x.   d/dx = 1/x."""

    __slots__ = ()

    def forward(self, x):
        x = self.saved = as_floating(x)
        return namespace(x).log(x)

    def backward(self, g):
        return (g / self.saved,)


class Sqrt(Function):
    """sqrt(x).   d/dx = 1 / (2 sqrt(x)) = 0.5 / out."""

    __slots__ = ()
    saves_inputs, saves_output = False, True

    def forward(self, x):
        x = as_floating(x)
        out = namespace(x).sqrt(x)
        self.saved = out
        return out

    def backward(self, g):
        return (g * 0.5 / self.saved,)


class Tanh(Function):
    """tanh(x).   d/dx = 1 - tanh(x)^2 = 1 - out^2."""

    __slots__ = ()
    saves_inputs, saves_output = False, True

    def forward(self, x):
        x = as_floating(x)
        out = namespace(x).tanh(x)
        self.saved = out
        return out

    def backward(self, g):
        out = self.saved
        return (g * (1.0 - out * out),)


class Sigmoid(Function):
    """1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2, which never overflows.
    d/dx = out * (1 - out)."""

    __slots__ = ()
    saves_inputs, saves_output = False, True

    def forward(self, x):
        x = as_floating(x)
        out = (namespace(x).tanh(x * 0.5) + 1.0) * 0.5
        self.saved = out
        return out

    def backward(self, g):
        out = self.saved
        return (g * out * (1.0 - out),)


class Relu(Function):
    """max(x, 0).   d/dx = 1 where x > 0, else 0 (0 at x = 0, as in PyTorch). Keeps x's dtype:
    the integer 0 fits every dtype, where 0.0 would make an integer x float64 in NumPy."""

    __slots__ = ()
    saves_inputs, saves_output = False, True

    def forward(self, x):
        out = namespace(x).maximum(x, 0)
        self.saved = out
        return out

    def backward(self, g):
        xp = namespace(g)
        return (g * xp.astype(self.saved > 0, g.dtype),)     # a product: faster than where()


class Cast(Function):
    """x converted to another floating dtype.   backward: g converted back to x's dtype."""

    __slots__ = ()
    saves_inputs = False

    def forward(self, x, dtype):
        self.saved = x.dtype
        return namespace(x).astype(x, dtype)

    def backward(self, g):
        return (namespace(g).astype(g, self.saved),)


class Erf(Function):
    """erf(x) = 2/sqrt(pi) int_0^x e^(-t^2) dt (values: backend.erf).   d/dx = 2/sqrt(pi) e^(-x^2)."""

    __slots__ = ()

    def forward(self, x):
        x = self.saved = as_floating(x)
        return backend_of(x).erf(x)

    def backward(self, g):
        x = self.saved
        return (g * namespace(g).exp(-(x * x)) * _TWO_OVER_SQRT_PI,)
