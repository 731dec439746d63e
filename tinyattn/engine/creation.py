"""Making tensors: from data, filled with a value, random, or a range. Float32 unless asked.

Every function takes `dtype`, `requires_grad` and `backend` (the active one when omitted).
Shapes may be given as separate ints or one tuple: zeros(2, 3) == zeros((2, 3)).
"""
import math

import numpy as np

from ..backend import get_backend
from .arguments import shape_arg
from .tensor import Tensor


def tensor(data, dtype=None, requires_grad=False, backend=None):
    """A tensor holding a copy of `data` (number, nested list, NumPy or backend array), as
    torch.tensor: writing into one never changes the other. (`Tensor(array)` wraps without a
    copy.)"""
    t = Tensor(data, dtype=dtype, backend=backend)
    if not isinstance(data, (bool, int, float, list, tuple)):      # an array, which t may share
        t.data = t.backend.copy(t.data)
    return t.requires_grad_(requires_grad)


def _filled(op, make, shape, dtype, requires_grad, backend):
    b = get_backend(backend)
    data = make(b, shape_arg(shape, op), b.dtype(dtype or "float32"))
    return Tensor._make(data, False, None).requires_grad_(requires_grad)


def _float_name(op, b, dt):
    """The name of dtype `dt`, which must be floating point: random samples are."""
    name = b.dtype_names[dt]
    if not name.startswith("float"):
        raise TypeError(f"{op}: random samples are floating point; dtype {name} is not")
    return name


def zeros(*shape, dtype=None, requires_grad=False, backend=None):
    return _filled("zeros", lambda b, s, dt: b.zeros(s, dt), shape, dtype, requires_grad, backend)


def ones(*shape, dtype=None, requires_grad=False, backend=None):
    return _filled("ones", lambda b, s, dt: b.ones(s, dt), shape, dtype, requires_grad, backend)


def full(shape, value, dtype=None, requires_grad=False, backend=None):
    """`shape` filled with `value`. Without a dtype it follows the value, as in PyTorch: bool,
    int64 for an int, float32 for a float. An integer dtype truncates a float value (2.7 -> 2)."""
    if dtype is None:
        dtype = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "float32"

    def make(b, s, dt):
        kind = b.dtype_names[dt]
        fill = bool(value) if kind == "bool" else int(value) if "int" in kind else float(value)
        if "int" in kind:       # -1 in uint8 is 255, as PyTorch (the backend would refuse it)
            fill = int(np.asarray(fill).astype(kind))
        return b.full(s, fill, dt)
    return _filled("full", make, (shape,), dtype, requires_grad, backend)


def randn(*shape, dtype=None, requires_grad=False, backend=None):
    """Standard normal samples, from the backend's generator (seeded by manual_seed)."""
    make = lambda b, s, dt: b.randn(s, _float_name("randn", b, dt))
    return _filled("randn", make, shape, dtype, requires_grad, backend)


def rand(*shape, dtype=None, requires_grad=False, backend=None):
    """Uniform samples in [0, 1)."""
    make = lambda b, s, dt: b.rand(s, _float_name("rand", b, dt))
    return _filled("rand", make, shape, dtype, requires_grad, backend)


def zeros_like(x, dtype=None, requires_grad=False):
    return zeros(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad, backend=x.backend)


def ones_like(x, dtype=None, requires_grad=False):
    return ones(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad, backend=x.backend)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False, backend=None):
    """start, start + step, ... below stop (arange(n) counts 0..n-1). Integers give int64
    (as PyTorch) unless a dtype is asked for; any float argument gives float32."""
    if stop is None:
        start, stop = 0, start
    integers = all(isinstance(v, int) for v in (start, stop, step))
    b = get_backend(backend)
    dt = b.dtype(dtype or ("int64" if integers else "float32"))
    _check_range(start, stop, step, b.dtype_names[dt], integers)
    data = b.arange(start, stop, step, dt)
    return Tensor._make(data, False, None).requires_grad_(requires_grad)


def _check_range(start, stop, step, name, integers):
    """The ranges PyTorch refuses, which NumPy would make something of (an empty range, wrapped
    or truncated values), as errors naming arange."""
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ValueError(f"arange: start, stop and step must be finite, got {start}, {stop}, {step}")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if name == "bool":
        raise TypeError("arange: a range of booleans is not defined (PyTorch refuses it too)")
    if "int" in name and not integers:
        raise TypeError(f"arange: an integer dtype ({name}) needs integer start, stop and step, "
                        f"got {start}, {stop}, {step}")
    if name == "uint8" and min(start, stop) < 0:
        raise ValueError(f"arange: uint8 has no negative values, got {start} to {stop}")
    if (stop - start) * step < 0:           # PyTorch refuses; NumPy gives an empty range
        raise ValueError(f"arange: a step of {step} never gets from start {start} to stop {stop}; "
                         "its sign must be that of stop - start")
