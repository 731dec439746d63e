"""Which dtype a result has: PyTorch's promotion rules, in one place.

NumPy and PyTorch disagree on mixed dtypes (NumPy computes int64 * float32 in float64, PyTorch
in float32), and the array API standard refuses to mix kinds at all, so tinyattn decides here,
once, for every backend, and follows PyTorch. Dtypes are names ("float32"), as on Tensor.dtype.
"""
from ..backend import backend_of

FLOAT_DTYPES = ("float16", "float32", "float64")


def as_floating(x):
    """The array x if it is floating point, else x in float32, PyTorch's default float dtype:
    exp(arange(3)) is float32 (NumPy would compute it in float64; the array API standard refuses)."""
    b = backend_of(x)
    return x if b.dtype_names[x.dtype].startswith("float") else b.xp.astype(x, b.dtypes["float32"])


def promote(tensors):
    """The tensors, each cast (differentiably) to their `result_dtype` where its own differs."""
    dtype = result_dtype(tensors)
    return [t if t.dtype == dtype else t.to(dtype=dtype) for t in tensors]


def require_floating(op, x, what="input"):
    """A TypeError naming the op unless x is floating point: layer_norm, gelu and cross_entropy
    of integers, which PyTorch refuses too ("not implemented for 'Long'")."""
    if dtype_kind(x.dtype) != 2:
        raise TypeError(f"{op}: the {what} must be floating point, got {x.dtype}; "
                        "convert it first, e.g. x.float()")


def require_same_kind(op, *tensors):
    """A TypeError naming the op and the dtypes when integers (or bools) meet floating point in
    a matrix product, which PyTorch refuses ("expected m1 and m2 to have the same dtype"):
    NumPy would compute int64 @ float32 in float64."""
    kinds = {dtype_kind(t.dtype) for t in tensors}
    if len(kinds) > 1:
        dtypes = " and ".join(t.dtype for t in tensors)
        raise TypeError(f"{op}: cannot mix integer and floating-point operands ({dtypes}); "
                        "convert the integer one first, e.g. x.float()")


def matmul_operands(a, b):
    """The checks of a @ b, once per call: both operands at least 1-d, of one kind of dtype."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, "
                         f"got shapes {a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        require_same_kind("matmul", a, b)


def result_dtype(tensors):
    """The dtype PyTorch computes tensors of mixed dtypes in: the highest kind (bool < integer <
    floating) wins, and within it the widest dtype (int64 * float32 is float32, float32 * float64
    is float64). A 0-d tensor counts only when its kind is higher than every other tensor's,
    as a Python number would: x32 + tensor(2., dtype=float64) stays float32."""
    kind = max(dtype_kind(t.dtype) for t in tensors)
    top = [t for t in tensors if dtype_kind(t.dtype) == kind]
    shaped = [t for t in top if t.ndim] or top
    return max((t.dtype for t in shaped), key=_width)


def dtype_kind(dtype):
    """The order in which dtype names promote: bool 0 < integers 1 < floating point 2."""
    return 2 if dtype.startswith("float") else 0 if dtype == "bool" else 1


def _width(dtype):
    """Bits of a dtype named like "float32" or "int8" (bool: 0)."""
    return int("".join(c for c in dtype if c.isdigit()) or 0)
