"""Fuzzing the Tensor's operations against PyTorch: random shapes (0 and 1 sides included), dtypes,
broadcasting, axes and keys for every operator and method; each call agrees with PyTorch (value,
dtype, float64 gradient) or raises a clear error naming the op (fuzzing.py states the rule).

Indexing is fuzzed in test_fuzz_indexing.py, F.* and the functions of tinyattn in
test_fuzz_functional.py (which also checks that no public name goes unfuzzed), attention in
test_fuzz_attention.py. Each op here is a function of hypothesis's `draw` returning a Call.
"""
import operator

import numpy as np
import pytest
from fuzzing import FUZZ, Call, agree, axes, dtypes, scalar_arg, shape_pairs, shapes, tensor_arg, values
from hypothesis import given
from hypothesis import strategies as st

import tinyattn

torch = pytest.importorskip("torch")

TENSOR_OPS = {}

# Where tinyattn deliberately refuses what PyTorch computes, and why (each named in a docstring).
DIFFERENCES = {
    "matrix": "x.mT and x.t() of fewer than 2 dims: PyTorch gives x back (deprecated for mT); "
              "tinyattn says what they need",
    "wide": "a 0-d uint8 tensor with a negative Python int (or int8 with one beyond +-127): "
            "PyTorch wraps the number into the tensor's dtype; tinyattn computes in int64, as a "
            "shaped tensor's result could not hold the number (3 / -1 must stay -3.0)",
    "strict masks": "mask + mask, mask * mask on array_api_strict: the standard adds and multiplies "
                    "numbers only (NumPy and PyTorch give or and and); combine masks with | and &",
    "mixed kinds": "a matrix product of integers with floats: PyTorch refuses mixed dtypes too, "
                   "except for empty operands",
    "two ellipses": "x[..., ...]: PyTorch takes it as one ...; NumPy and tinyattn refuse it",
    "empty bounds": "an index out of range into an empty tensor: PyTorch checks nothing when "
                    "nothing is read; tinyattn checks every index",
    "negative base": "(-2) ** x for a uint8 x: PyTorch wraps the result into uint8; tinyattn refuses",
    "new -1": "expand with -1 for a new leading axis: PyTorch refuses it, except when another size "
              "is 0, where it returns a shape holding -1; tinyattn refuses it always",
    "mask write": "x[mask] = v with v of 2 or more dims (leading 1s): PyTorch broadcasts them "
                  "away; NumPy's mask writes, and so tinyattn's, take a value of at most 1 dim",
    "int16": "int8 with uint8 in arithmetic: PyTorch computes in int16, a dtype tinyattn has not",
    "boolean matmul": "a matrix product of booleans: PyTorch has none either, except of empty operands",
    "bool arithmetic": "//, % and in-place arithmetic on a mask: PyTorch computes them as integers; "
                       "tinyattn asks for the conversion (x.long()), which says what is meant",
    "bitwise": "~, & and | on integers: bitwise in PyTorch; tinyattn has logic on masks only",
    "negative powers": "integers to negative integer powers: PyTorch truncates 2 ** -1 to 0 "
                       "(and refuses x ** -1); tinyattn refuses both",
    "boolean index": "reading x[mask] (a data-dependent shape) and a 0-d boolean key: tinyattn "
                     "refuses them; a mask is for writing (x[mask] = 0), or use where",
    "integer writes": "x[idx] = v through integer arrays on array_api_strict: the standard's "
                      "setitem has no integer arrays (NumPy's and CuPy's have)",
}


def fuzzed(*names):
    """Register a drawer under the public names it fuzzes."""
    def register(drawer):
        for name in names:
            TENSOR_OPS[name] = drawer
        return drawer
    return register


# -- elementwise -------------------------------------------------------------------------------
def _unary(name, words=None):
    @fuzzed(name)
    def draw_unary(draw):
        return Call(lambda m, x: getattr(x, name)(), [tensor_arg(draw)], names=words or (name,))


for _name in ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "erf", "abs", "float", "double",
              "long", "contiguous", "detach"]:
    _unary(_name)


@fuzzed("__abs__")
def draw_builtin_abs(draw):
    return Call(lambda m, x: abs(x), [tensor_arg(draw)], names=("abs",))


@fuzzed("__neg__")
def draw_neg(draw):
    return Call(lambda m, x: -x, [tensor_arg(draw)], names=("neg", "-"))


@fuzzed("__invert__")
def draw_invert(draw):
    x = tensor_arg(draw)
    refuses = DIFFERENCES["bitwise"] if x.dtype != bool else None
    return Call(lambda m, x: ~x, [x], names=("~",), refuses=refuses)


@fuzzed("to")
def draw_to(draw):
    dtype = draw(dtypes())
    return Call(lambda m, x: x.to(dtype), [tensor_arg(draw)], names=("to",),
                torch_fn=lambda m, x: x.to(getattr(m.t, dtype)))


# binary operators: tensor (op) tensor, tensor (op) number, number (op) tensor
BINARY = {
    "add": (operator.add, ("add", "+")), "sub": (operator.sub, ("sub", "-")),
    "mul": (operator.mul, ("mul", "*")), "truediv": (operator.truediv, ("div", "/")),
    "floordiv": (operator.floordiv, ("//", "floordivide")), "mod": (operator.mod, ("%", "remainder")),
    "eq": (operator.eq, ("equal",)), "ne": (operator.ne, ("not_equal",)),
    "lt": (operator.lt, ("less",)), "le": (operator.le, ("less_equal",)),
    "gt": (operator.gt, ("greater",)), "ge": (operator.ge, ("greater_equal",)),
    "and": (operator.and_, ("&", "logical_and")), "or": (operator.or_, ("|", "logical_or")),
}


def dtype_of(operand):
    """The dtype an operand takes part in arithmetic with (a Python number's own kind)."""
    if isinstance(operand, np.ndarray):
        return operand.dtype.name
    return "bool" if isinstance(operand, bool) else "int64" if isinstance(operand, int) else "float32"


def binary_refusal(name, *operands):
    """Why tinyattn may refuse name(*operands) where PyTorch computes it (DIFFERENCES), or None."""
    kinds = {dtype_of(o) for o in operands}
    if {"int8", "uint8"} <= kinds:
        return DIFFERENCES["int16"]
    if name in ("floordiv", "mod") and "bool" in kinds:
        return DIFFERENCES["bool arithmetic"]
    if name in ("and", "or") and kinds != {"bool"}:
        return DIFFERENCES["bitwise"]
    if name in ("add", "mul", "matmul") and kinds == {"bool"} and \
            tinyattn.get_backend().name == "array_api_strict":
        return DIFFERENCES["strict masks"]
    return None


def _binary(name):
    symbol, words = BINARY[name]
    grad = name not in ("floordiv", "mod")      # PyTorch has no derivative of either w.r.t. b

    @fuzzed(f"__{name}__")
    def draw_binary(draw):
        a, b = draw(shape_pairs())
        x, y = tensor_arg(draw, shape=a), tensor_arg(draw, shape=b)
        return Call(lambda m, x, y: symbol(x, y), [x, y], names=words, grad=grad,
                    refuses=binary_refusal(name, x, y))

    if name in ("eq", "ne", "lt", "le", "gt", "ge"):
        return                          # x < 2 is 2 > x: the reflected forms are the operators above

    @fuzzed(f"__r{name}__")
    def draw_with_number(draw):
        x, number = tensor_arg(draw), scalar_arg(draw)
        refuses = binary_refusal(name, x, number)
        wide = x.ndim == 0 and x.dtype == np.uint8 and isinstance(number, int) and number < 0
        # a 0-d uint8 tensor with a negative number computes in int64 (see DIFFERENCES["wide"])
        cast = (lambda x: x.long()) if wide else (lambda x: x)
        if draw(st.booleans()):
            return Call(lambda m, x: symbol(number, x), [x], torch_fn=lambda m, x: symbol(number, cast(x)),
                        names=words, grad=grad, refuses=refuses)
        return Call(lambda m, x: symbol(x, number), [x], torch_fn=lambda m, x: symbol(cast(x), number),
                    names=words, grad=grad, refuses=refuses)


for _name in BINARY:
    _binary(_name)


@fuzzed("__pow__")
def draw_pow(draw):
    exponent = draw(st.one_of(st.integers(-2, 3), st.sampled_from([0.5, -0.5, 2.0, 1.5])))
    return Call(lambda m, x: x ** exponent, [tensor_arg(draw)], names=("pow", "**"))


@fuzzed("__rpow__")
def draw_rpow(draw):
    base = draw(st.one_of(st.integers(-2, 3), st.sampled_from([0.5, 2.0, 10.0, 0.0, -1.5])))
    x = tensor_arg(draw)
    negative = isinstance(base, int) and x.dtype.kind in "iu" and (x < 0).any()
    refuses = DIFFERENCES["negative powers"] if negative else \
        DIFFERENCES["negative base"] if x.dtype == np.uint8 and base < 0 else None
    return Call(lambda m, x: base ** x, [x], names=("pow", "**"), refuses=refuses)


@fuzzed("__matmul__", "__rmatmul__", "tinyattn.matmul")
def draw_matmul(draw):
    n, k, m = draw(st.integers(0, 3)), draw(st.integers(0, 3)), draw(st.integers(0, 3))
    batch_a, batch_b = draw(shape_pairs(max_dims=2))
    a = batch_a + ((n, k) if draw(st.booleans()) else (k,) if not batch_a else (n, k))
    b = batch_b + ((draw(st.sampled_from([k, k, m])), m) if draw(st.booleans()) else (k,))
    if draw(st.integers(0, 9)) == 0:
        a = draw(shapes(max_dims=2))
    dtype = draw(dtypes())
    x = tensor_arg(draw, dtype=dtype, shape=a)
    y = tensor_arg(draw, dtype=dtype if draw(st.booleans()) else None, shape=b)
    refuses = binary_refusal("matmul", x, y) or \
        (DIFFERENCES["boolean matmul"] if "bool" in (x.dtype, y.dtype) else None) or \
        (DIFFERENCES["mixed kinds"] if (x.dtype.kind == "f") != (y.dtype.kind == "f") else None)

    def theirs(m, x, y):
        # Mixed dtypes of one kind (float32 @ float64) promote in tinyattn, as its arithmetic
        # does; PyTorch refuses them. Both compute the same product in the promoted dtype.
        common = m.t.promote_types(x.dtype, y.dtype)
        return x.to(common) @ y.to(common) if x.dtype.is_floating_point == y.dtype.is_floating_point \
            else x @ y
    if draw(st.booleans()):
        return Call(lambda m, x, y: m.t.matmul(x, y), [x, y], torch_fn=theirs, names=("matmul",),
                    refuses=refuses)
    return Call(lambda m, x, y: x @ y, [x, y], torch_fn=theirs, names=("matmul",), refuses=refuses)


@fuzzed("masked_fill")
def draw_masked_fill(draw):
    a, b = draw(shape_pairs())
    mask = values(draw, "bool" if draw(st.integers(0, 5)) else draw(dtypes()), b)
    value = scalar_arg(draw)
    return Call(lambda m, x, mask: x.masked_fill(mask, value), [tensor_arg(draw, shape=a), mask],
                names=("masked_fill", "where"))


# -- in-place ---------------------------------------------------------------------------------
INPLACE = {"__iadd__": operator.iadd, "__isub__": operator.isub, "__imul__": operator.imul,
           "__itruediv__": operator.itruediv}


def _inplace(name):
    @fuzzed(name)
    def draw_inplace(draw):
        a, b = draw(shape_pairs())
        other = tensor_arg(draw, shape=b) if draw(st.booleans()) else scalar_arg(draw)
        x = tensor_arg(draw, shape=a)
        kinds = {dtype_of(x), dtype_of(other)}
        refuses = DIFFERENCES["bool arithmetic"] if "bool" in kinds else binary_refusal("add", x, other)
        args = [x] + ([other] if isinstance(other, np.ndarray) else [])
        return Call(lambda m, x, y=other: INPLACE[name](x, y), args, names=("=",), grad=False,
                    refuses=refuses)


for _name in INPLACE:
    _inplace(_name)


# -- reductions --------------------------------------------------------------------------------
def _reduction(name, torch_name=None):
    @fuzzed(name)
    def draw_reduction(draw):
        x = tensor_arg(draw)
        axis, keep = draw(axes(x.ndim)), draw(st.booleans())
        ours = lambda m, x: getattr(x, name)(dim=axis, keepdim=keep)
        theirs = None
        if torch_name:          # torch's max(dim) also returns positions: amax is the values
            theirs = lambda m, x: getattr(x, torch_name)(dim=() if axis is None else axis, keepdim=keep)
        return Call(ours, [x], torch_fn=theirs, names=(name,))


for _name in ["sum", "mean", "argmax", "argmin"]:
    _reduction(_name)
_reduction("max", "amax")
_reduction("min", "amin")


def _spread(name):
    @fuzzed(name)
    def draw_spread(draw):
        x = tensor_arg(draw)
        axis, keep = draw(axes(x.ndim)), draw(st.booleans())
        how = draw(st.sampled_from([{}, {"correction": 0}, {"correction": 2}, {"unbiased": False}]))
        kwargs = dict(dim=axis, keepdim=keep, **how)
        # dim=() means every axis; PyTorch's backward of var(dim=()) is twice that of var()
        theirs = dict(kwargs, dim=None if axis == () else axis)
        return Call(lambda m, x: getattr(x, name)(**kwargs), [x], names=(name,),
                    torch_fn=lambda m, x: getattr(x, name)(**theirs))


_spread("var")
_spread("std")


# -- shapes ------------------------------------------------------------------------------------
def new_shape(draw, shape):
    """A shape for reshape: the sides permuted, 1s inserted, maybe a -1; or any shape."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.lists(st.integers(-2, 4), max_size=4).map(tuple))
    sides = list(draw(st.permutations(shape)))
    for _ in range(draw(st.integers(0, 2))):
        sides.insert(draw(st.integers(0, len(sides))), 1)
    if sides and draw(st.booleans()):
        sides[draw(st.integers(0, len(sides) - 1))] = -1
    return tuple(sides)


@fuzzed("reshape", "view")
def draw_reshape(draw):
    x = tensor_arg(draw)
    shape, method = new_shape(draw, x.shape), draw(st.sampled_from(["reshape", "view"]))
    return Call(lambda m, x: getattr(x, method)(shape), [x], names=(method, "reshape"))


@fuzzed("permute")
def draw_permute(draw):
    x = tensor_arg(draw)
    dims = draw(st.one_of(st.permutations(range(x.ndim)).map(tuple),
                          st.lists(st.integers(-x.ndim - 1, x.ndim), max_size=4).map(tuple)))
    return Call(lambda m, x: x.permute(*dims), [x], torch_fn=lambda m, x: x.permute(dims),
                names=("permute",))


@fuzzed("transpose")
def draw_transpose(draw):
    x = tensor_arg(draw)
    d0, d1 = draw(st.integers(-x.ndim - 1, x.ndim)), draw(st.integers(-x.ndim - 1, x.ndim))
    return Call(lambda m, x: x.transpose(d0, d1), [x], names=("transpose",))


@fuzzed("T", "mT", "t")
def draw_matrix_transpose(draw):
    x, name = tensor_arg(draw), draw(st.sampled_from(["T", "mT", "t"]))
    if name == "t":
        return Call(lambda m, x: x.t(), [x], names=("t",),
                    refuses=DIFFERENCES["matrix"] if x.ndim < 2 else None)
    # PyTorch deprecates x.T for ndim != 2 (a warning); both reverse all the axes
    theirs = (lambda m, x: x.permute(tuple(reversed(range(x.ndim))))) if name == "T" else None
    return Call(lambda m, x: getattr(x, name), [x], torch_fn=theirs, names=(name,),
                refuses=DIFFERENCES["matrix"] if name == "mT" and x.ndim < 2 else None)


@fuzzed("squeeze")
def draw_squeeze(draw):
    x = tensor_arg(draw)
    axis = draw(axes(x.ndim))
    return Call(lambda m, x: x.squeeze() if axis is None else x.squeeze(axis), [x], names=("squeeze",))


@fuzzed("unsqueeze")
def draw_unsqueeze(draw):
    x = tensor_arg(draw)
    axis = draw(st.integers(-x.ndim - 2, x.ndim + 1))
    return Call(lambda m, x: x.unsqueeze(axis), [x], names=("unsqueeze",))


@fuzzed("expand", "broadcast_to")
def draw_expand(draw):
    source, target = draw(shape_pairs())
    if draw(st.booleans()):
        target = tuple(draw(st.sampled_from([n, -1])) for n in target)
        refuses = DIFFERENCES["new -1"] if -1 in target[:len(target) - len(source)] else None
        return Call(lambda m, x: x.expand(*target), [tensor_arg(draw, shape=source)],
                    torch_fn=lambda m, x: x.expand(target), names=("expand",), refuses=refuses)
    return Call(lambda m, x: x.broadcast_to(target), [tensor_arg(draw, shape=source)],
                names=("broadcast_to",))


@fuzzed("flatten")
def draw_flatten(draw):
    x = tensor_arg(draw)
    start, end = draw(st.integers(-x.ndim - 1, x.ndim)), draw(st.integers(-x.ndim - 1, x.ndim))
    return Call(lambda m, x: x.flatten(start, end), [x], names=("flatten",))


@fuzzed("split")
def draw_split(draw):
    x = tensor_arg(draw, shape=draw(shapes(min_dims=1)))
    axis = draw(st.integers(-x.ndim - 1, x.ndim))
    n = x.shape[axis] if -x.ndim <= axis < x.ndim else 3
    size = draw(st.one_of(st.integers(-1, 4), st.lists(st.integers(0, n), max_size=3)))
    if isinstance(size, list) and draw(st.booleans()) and sum(size) <= n:
        size.append(n - sum(size))
    return Call(lambda m, x: x.split(size, dim=axis), [x], names=("split",))


@fuzzed("size", "numel", "__len__", "item", "tolist", "__iter__", "__bool__", "__float__", "__int__")
def draw_python_values(draw):
    x = tensor_arg(draw, shape=draw(shapes(max_side=2)))
    name = draw(st.sampled_from(["size", "numel", "len", "item", "tolist", "iter", "bool", "float", "int"]))
    dim = draw(st.integers(-x.ndim - 1, x.ndim))
    fns = {"size": lambda m, x: tuple(x.size(dim)) if isinstance(x.size(dim), tuple) else x.size(dim),
           "numel": lambda m, x: x.numel(), "len": lambda m, x: len(x), "item": lambda m, x: x.item(),
           "tolist": lambda m, x: x.tolist(), "iter": lambda m, x: [t.tolist() for t in x],
           "bool": lambda m, x: bool(x), "float": lambda m, x: float(x), "int": lambda m, x: int(x)}
    return Call(fns[name], [x], names=(name, "len", "item", "iteration", "size"))


@FUZZ
@pytest.mark.parametrize("name", sorted(TENSOR_OPS))
@given(data=st.data())
def test_tensor_op_agrees_with_pytorch_or_raises_naming_itself(name, data):
    agree(torch, TENSOR_OPS[name](data.draw))
