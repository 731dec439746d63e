"""Which dtype a result has: PyTorch's promotion rules, in one place.

NumPy and PyTorch disagree on mixed dtypes (NumPy computes int64 * float32 in float64, PyTorch
in float32), and the array API standard refuses to mix kinds at all, so tinyattn decides here,
once, for every backend, and follows PyTorch. Dtypes are names ("float32"), as on Tensor.dtype.
"""
from ..backend import backend_of
from .ops.broadcast import broadcast_shape

FLOAT_DTYPES = ("float16", "float32", "float64")


def as_floating(x):
    """The array x if it is floating point, else x in float32, PyTorch's default float dtype:
    exp(arange(3)) is float32 (NumPy would compute it in float64; the array API standard refuses)."""
    b = backend_of(x)
    return x if b.dtype_names[x.dtype].startswith("float") else b.xp.astype(x, b.dtypes["float32"])


def promote(tensors, op=None):
    """The tensors, each cast (differentiably) to their `result_dtype` where its own differs;
    with `op`, first the mixes PyTorch refuses or tinyattn cannot hold (check_mix)."""
    if op is not None:
        check_mix(op, [t.dtype for t in tensors])
    dtype = result_dtype(tensors)
    return [t if t.dtype == dtype else t.to(dtype=dtype) for t in tensors]


def check_mix(op, dtypes):
    """A TypeError naming the op for operand dtypes an arithmetic op cannot combine: a boolean in
    a subtraction (PyTorch refuses it: a mask is inverted with ~), and int8 with uint8, which
    PyTorch computes in int16, a dtype tinyattn has not (NumPy would wrap -1 to 255 in uint8)."""
    if op == "sub" and "bool" in dtypes:
        raise TypeError("sub: subtraction with a boolean tensor (a mask) is not supported, as in "
                        "PyTorch; invert a mask with ~, or convert it first (x.long())")
    if "int8" in dtypes and "uint8" in dtypes:
        raise TypeError(f"{op}: int8 and uint8 together need int16, which tinyattn does not have; "
                        "convert one first, e.g. x.long()")


def explain_operands(op, a, b):
    """After a binary op failed: a clear error if the shapes do not broadcast or the dtypes do not
    mix (check_mix: bool - bool), or if both are boolean, which the array API standard does not
    add or multiply (NumPy and PyTorch do; on array_api_strict combine masks with | and &)."""
    broadcast_shape(op, a.shape, b.shape)
    check_mix(op, [a.dtype, b.dtype])
    if a.dtype == b.dtype == "bool":
        raise TypeError(f"{op}: arithmetic on boolean tensors (masks) is not supported on the "
                        f"{a.backend.name} backend; combine masks with | and &, or convert first (x.long())")


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
    """The checks of a @ b, once per call: both operands at least 1-d, of one kind of dtype, not
    boolean (PyTorch has no boolean matrix product; NumPy's would be an or of ands)."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, "
                         f"got shapes {a.shape} and {b.shape}")
    if a.dtype != b.dtype or a.dtype == "bool":
        if "bool" in (a.dtype, b.dtype):
            raise TypeError(f"matmul: no matrix product of boolean tensors (masks), as in PyTorch; "
                            f"got {a.dtype} and {b.dtype}; convert first, e.g. x.float()")
        require_same_kind("matmul", a, b)
        check_mix("matmul", [a.dtype, b.dtype])


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
