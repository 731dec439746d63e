"""Tensor: an array of the active backend, its gradient, and the Function node that made it.

    x = tinyattn.tensor([[1.0, 2.0]], requires_grad=True)    # float32, like PyTorch
    y = (x * x).sum()
    y.backward()                                             # x.grad == 2 * x

Each operator and method below turns what the user passed into what a primitive of `ops/` takes
(Python numbers into arrays of the tensor's dtype, axes into tuples) and applies it. PyTorch's
other rules live beside this file, in modules named for them (see engine/__init__.py); a method
written `flatten = reshaping.flatten` is that module's function, called with the tensor first.

Deliberate differences from PyTorch: `dtype` is a name ("float32"), the same on every backend,
so `x.dtype == tinyattn.float32` holds whether x lives in NumPy, CuPy or array_api_strict; and
`x.grad` is the backend's own array, not a Tensor (backward adds into it; an optimiser reads it).
"""
import math

from ..backend import backend_of, get_backend
from . import autograd, comparisons, conversion, extra_ops, indexing, inplace, reductions, reshaping, versions
from .arguments import dim_arg, gradient_arg, lift, shape_arg, to_array
from .dtypes import FLOAT_DTYPES
from .ops import elementwise as _ew
from .ops import matmul as _mm
from .ops import shape as _shp


class Tensor:
    __slots__ = ("data", "grad", "requires_grad", "creator", "_counter", "__weakref__")
    __array_priority__ = 1000       # `ndarray * tensor` defers to Tensor.__rmul__
    __hash__ = object.__hash__      # == compares elementwise, so hash by identity (as PyTorch)

    def __init__(self, data, dtype=None, requires_grad=False, backend=None):
        self.data = to_array(data.data if isinstance(data, Tensor) else data, get_backend(backend), dtype)
        self.grad = None
        self.creator = None
        self.requires_grad = False
        self._counter = versions.new_counter()
        if requires_grad:
            self.requires_grad_()

    @staticmethod
    def _make(data, requires_grad, creator):
        """The fast constructor used by every op: no conversion, no checks. Always a plain Tensor,
        also when called on a subclass's instance (an op on a Parameter gives a Tensor)."""
        t = object.__new__(Tensor)
        t.data, t.grad, t.requires_grad, t.creator = data, None, requires_grad, creator
        t._counter = versions.new_counter()     # writes in place into data: versions.py
        return t

    # -- what it is ----------------------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.backend.dtype_names[self.data.dtype]

    @property
    def backend(self):
        return backend_of(self.data)

    size = conversion.size           # the shape, or the size of one axis

    _version = property(versions.version)     # writes into data so far, as PyTorch's x._version

    def numel(self):
        return math.prod(self.shape)

    __len__ = indexing.length        # len(x), for x in tensor: along axis 0 (indexing.py)
    __iter__ = indexing.rows
    __repr__ = conversion.describe   # tensor([1., 2.], requires_grad=True)

    # -- leaving the graph, changing place ------------------------------------------------
    def numpy(self):
        """The values as a host NumPy array (copied from the device when needed)."""
        return self.backend.to_numpy(self.data)

    # Python values and other dtypes (conversion.py)
    item = conversion.item
    tolist = conversion.tolist
    __float__ = conversion.python_float
    __int__ = conversion.python_int
    __bool__ = conversion.python_bool

    def detach(self):
        """The same values, cut from the graph: no gradient flows through the result."""
        return versions.share_counter(Tensor._make(self.data, False, None), self)

    def requires_grad_(self, requires_grad=True):
        """Mark this tensor as a leaf that collects `.grad` in backward (floating point only)."""
        if requires_grad and self.dtype not in FLOAT_DTYPES:
            raise TypeError(f"requires_grad: only floating-point tensors can require grad, "
                            f"this one is {self.dtype}; convert it first with .float()")
        self.requires_grad = requires_grad
        return self

    def backward(self, grad=None, retain_graph=False):
        """Fill `.grad` of the leaves this tensor was computed from (see autograd.backward)."""
        autograd.backward(self, gradient_arg(self, grad), retain_graph)

    to = conversion.to               # another backend, another dtype
    float = conversion.to_float32
    double = conversion.to_float64
    long = conversion.to_int64

    # -- arithmetic ------------------------------------------------------------------------
    _lift = lift                     # `other` as a tensor; a Python number takes this one's dtype

    def __add__(self, other):
        return _ew.Add.apply(self, self._lift(other))

    def __radd__(self, other):
        return _ew.Add.apply(self._lift(other), self)

    def __sub__(self, other):
        return _ew.Sub.apply(self, self._lift(other))

    def __rsub__(self, other):
        return _ew.Sub.apply(self._lift(other), self)

    def __mul__(self, other):
        return _ew.Mul.apply(self, self._lift(other))

    def __rmul__(self, other):
        return _ew.Mul.apply(self._lift(other), self)

    def __truediv__(self, other):
        return _ew.Div.apply(self, self._lift(other))

    def __rtruediv__(self, other):
        return _ew.Div.apply(self._lift(other), self)

    __neg__ = extra_ops.negative     # refused for a mask, as in PyTorch
    __pow__ = extra_ops.power        # x ** 2, x ** 0.5 (a Python number exponent)
    __rpow__ = extra_ops.rpow        # 2 ** x

    # -- in-place updates: `p -= lr * p.grad` under no_grad() (inplace.py) -------------------------
    # Without these, Python would fall back to `p = p - lr * p.grad`, rebinding only the local
    # name: the module's and the optimiser's parameter would silently stay unchanged.
    __iadd__ = inplace.iadd
    __isub__ = inplace.isub
    __imul__ = inplace.imul
    __itruediv__ = inplace.itruediv

    # floor division and remainder, with Python's signs (extra_ops.py)
    __floordiv__ = extra_ops.floordiv
    __rfloordiv__ = extra_ops.rfloordiv
    __mod__ = extra_ops.mod
    __rmod__ = extra_ops.rmod

    def __matmul__(self, other):
        return _mm.matmul(self, self._lift(other))

    def __rmatmul__(self, other):
        return _mm.matmul(self._lift(other), self)

    # comparisons and logic on masks: boolean results, no gradient (comparisons.py)
    __eq__ = comparisons.equal
    __ne__ = comparisons.not_equal
    __lt__ = comparisons.less
    __le__ = comparisons.less_equal
    __gt__ = comparisons.greater
    __ge__ = comparisons.greater_equal
    __and__ = comparisons.logical_and
    __rand__ = comparisons.logical_and   # True & mask: both logical operators are symmetric
    __or__ = comparisons.logical_or
    __ror__ = comparisons.logical_or
    __invert__ = comparisons.logical_not

    # -- elementwise functions -------------------------------------------------------------
    def exp(self):
        return _ew.Exp.apply(self)

    def log(self):
        return _ew.Log.apply(self)

    def sqrt(self):
        return _ew.Sqrt.apply(self)

    def tanh(self):
        return _ew.Tanh.apply(self)

    def sigmoid(self):
        return _ew.Sigmoid.apply(self)

    relu = extra_ops.relu            # refused for a mask, as in PyTorch

    def erf(self):
        return _ew.Erf.apply(self)

    abs = extra_ops.absolute
    __abs__ = extra_ops.absolute

    # -- reductions: `axis` (NumPy) or `dim` (PyTorch), `keepdims` or `keepdim` ----------------
    sum = reductions.sum_of          # integers sum to int64, as in PyTorch: reductions.py
    mean = reductions.mean           # of floating point only, as PyTorch: reductions.py
    max = reductions.amax            # the values only (PyTorch's max(dim) adds positions)
    min = reductions.amin

    var = extra_ops.var              # unbiased by default, as PyTorch: extra_ops.py
    std = extra_ops.std

    argmax = comparisons.argmax      # positions, not differentiable
    argmin = comparisons.argmin

    # -- shape ---------------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = shape_arg(shape, "reshape", negative="infer")
        if shape == self.shape:
            return self
        return _shp.Reshape.apply(self, shape=shape)

    view = reshape

    flatten = reshaping.flatten      # PyTorch's shape methods: reshaping.py

    def contiguous(self):
        """Returns self: arrays here need no explicit layout change (kept for PyTorch code)."""
        return self

    def permute(self, *dims):
        dims = dim_arg("permute", shape_arg(dims, "permute", negative="any"), self.ndim)
        if len(dims) != self.ndim:
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} axes of {self.shape}")
        return _shp.Permute.apply(self, dims=dims)

    transpose = reshaping.transpose
    T = property(reshaping.reversed_axes)
    mT = property(reshaping.matrix_transpose)
    t = reshaping.t

    masked_fill = comparisons.masked_fill    # scores.masked_fill(mask == 0, -1e9)

    def broadcast_to(self, *shape):
        shape = shape_arg(shape, "broadcast_to")
        return self if shape == self.shape else _shp.BroadcastTo.apply(self, shape=shape)

    expand = reshaping.expand
    unsqueeze = reshaping.unsqueeze
    squeeze = reshaping.squeeze
    split = reshaping.split

    # -- indexing ----------------------------------------------------------------------------
    __getitem__ = indexing.getitem   # x[1:3], x[..., -1], x[idx]: indexing.py
    __setitem__ = inplace.setitem    # x[mask] = 0: inplace.py
