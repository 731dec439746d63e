"""Fuzzing F.* and the functions of tinyattn against PyTorch (fuzzing.py states the rule), and the
check that every public name is fuzzed here or in another test_fuzz*.py, or listed with the
reason it is not: a new op cannot go unfuzzed.

Where tinyattn deliberately computes what PyTorch computes differently or refuses (classes on the
last axis, masks aligned to the end, integer scores in float32), the PyTorch side of the Call
is written to compute tinyattn's documented meaning, with a comment saying which difference.
"""
import types

import numpy as np
import pytest
from fuzzing import FUZZ, Call, agree, dtypes, floats, scalar_arg, shape_pairs, shapes, tensor_arg, values
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import DIFFERENCES as TENSOR_DIFFERENCES
from test_fuzz import TENSOR_OPS, binary_refusal
from test_fuzz_attention import ATTENTION_OPS
from test_fuzz_indexing import INDEX_OPS

import tinyattn
import tinyattn.functional as F

torch = pytest.importorskip("torch")

FUNCTION_OPS = {}

# Where tinyattn deliberately refuses what PyTorch computes, and why (each named in a docstring).
DIFFERENCES = {
    "negative smoothing": "cross_entropy with label_smoothing below 0: PyTorch checks only <= 1; "
                          "tinyattn wants a smoothing in [0, 1]",
    "boolean linear": "F.linear of booleans: PyTorch has no boolean matrix product either, "
                      "except of empty operands",
    "dropout of integers": "dropout of a mask or of integers in training: PyTorch computes it; "
                           "tinyattn asks for floats, which scaling by 1 / (1 - p) needs",
    "uint8 condition": "where with a uint8 condition: PyTorch still takes it (deprecated); "
                       "tinyattn wants a boolean one",
    "random integers": "rand and randn of a non-floating dtype: PyTorch refuses too, except for "
                       "an empty shape",
    "integer range": "arange with an integer dtype and a float start, stop or step: PyTorch casts "
                     "them; tinyattn wants integers (arange(0, 1, 0.5, dtype=int64) is ambiguous)",
    "lone number": "tensor(-1, dtype=uint8): PyTorch wraps -1 in a list into 255 but refuses it "
                   "alone; tinyattn refuses a value outside the dtype both ways",
    "legacy empty": "concat of a (0,) tensor along an axis it does not have: PyTorch skips 1-d "
                    "empty tensors whatever the dim (a legacy rule); tinyattn checks the dim",
}


def fuzzed(*names):
    def register(drawer):
        for name in names:
            FUNCTION_OPS[name] = drawer
        return drawer
    return register


def _as_float(x):
    """PyTorch's side of "integer scores are computed in float32" (tinyattn's docstrings)."""
    return x if x.dtype.is_floating_point else x.float()


# -- elementwise functions and their tinyattn.* spellings -------------------------------------
def _elementwise(name, grad=True):
    @fuzzed(f"tinyattn.{name}")
    def draw_elementwise(draw):
        return Call(lambda m, x: getattr(m.t, name)(x), [tensor_arg(draw)], names=(name,), grad=grad)


for _name in ["exp", "log", "sqrt", "tanh", "sigmoid", "relu"]:
    _elementwise(_name)
for _name in ["sin", "cos"]:        # not differentiable in tinyattn (their docstrings): values only
    _elementwise(_name, grad=False)


@fuzzed("F.relu")
def draw_f_relu(draw):
    return Call(lambda m, x: m.F.relu(x), [tensor_arg(draw)], names=("relu",))


@fuzzed("tinyattn.maximum")
def draw_maximum(draw):
    a, b = draw(shape_pairs())
    x, y = tensor_arg(draw, shape=a), tensor_arg(draw, shape=b)
    masks = x.dtype == y.dtype == bool and tinyattn.get_backend().name == "array_api_strict"
    return Call(lambda m, x, y: m.t.maximum(x, y), [x, y], names=("maximum",),
                refuses=TENSOR_DIFFERENCES["strict masks"] if masks else binary_refusal("maximum", x, y))


@fuzzed("tinyattn.where")
def draw_where(draw):
    (c, a), b = draw(shape_pairs()), draw(shapes(max_dims=2))
    cond = values(draw, "bool" if draw(st.integers(0, 5)) else draw(dtypes()), c)
    x = tensor_arg(draw, shape=a)
    refuses = DIFFERENCES["uint8 condition"] if cond.dtype == np.uint8 else None
    if draw(st.booleans()):
        number = scalar_arg(draw)
        wide = x.ndim == 0 and x.dtype == np.uint8 and isinstance(number, int) and number < 0
        return Call(lambda m, c, x: m.t.where(c, x, number), [cond, x], names=("where",), refuses=refuses,
                    torch_fn=lambda m, c, x: m.t.where(c, x.long() if wide else x, number))  # see "wide"
    y = tensor_arg(draw, shape=b)
    return Call(lambda m, c, x, y: m.t.where(c, x, y), [cond, x, y], names=("where",),
                refuses=refuses or binary_refusal("where", x, y))


@fuzzed("tinyattn.tril", "tinyattn.triu")
def draw_triangle(draw):
    name, diagonal = draw(st.sampled_from(["tril", "triu"])), draw(st.integers(-3, 3))
    return Call(lambda m, x: getattr(m.t, name)(x, diagonal), [tensor_arg(draw)], names=(name,))


@fuzzed("tinyattn.concat", "tinyattn.cat", "tinyattn.stack")
def draw_join(draw):
    name, first = draw(st.sampled_from(["concat", "cat", "stack"])), draw(shapes(max_dims=3))
    count, axis = draw(st.integers(0, 3)), draw(st.integers(-len(first) - 2, len(first) + 1))
    pieces = []
    for _ in range(count):
        shape = list(first)
        if shape and draw(st.booleans()):           # another size along one axis: fine for concat
            shape[draw(st.integers(0, len(shape) - 1))] = draw(st.integers(0, 3))
        pieces.append(tensor_arg(draw, shape=tuple(shape)))
    theirs = "cat" if name == "concat" else name
    legacy = name != "stack" and any(p.shape == (0,) for p in pieces) and not -1 <= axis < 1
    refuses = DIFFERENCES["legacy empty"] if legacy else binary_refusal("concat", *pieces)
    return Call(lambda m, *xs: getattr(m.t, name if m.t is tinyattn else theirs)(list(xs), dim=axis),
                pieces, names=(name, "concat"), refuses=refuses)


@fuzzed("tinyattn.take")
def draw_take(draw):
    x = tensor_arg(draw, shape=draw(shapes(min_dims=1, max_dims=3)))
    axis = draw(st.integers(-x.ndim - 1, x.ndim))
    n = x.shape[axis] if -x.ndim <= axis < x.ndim else 2
    index = np.asarray(values(draw, "int64", draw(shapes(max_dims=2, max_side=3))) % (n + 2) - 1)

    def theirs(m, x, i):
        # tinyattn.take is NumPy's take along an axis (torch.take is a flat index): PyTorch's
        # spelling of it is moving the axis first, picking rows, and moving the index's axes back
        d = axis % x.ndim if -x.ndim <= axis < x.ndim else axis
        picked = x.movedim(d, 0)[i]
        return picked.movedim(tuple(range(i.ndim)), tuple(range(d, d + i.ndim)))
    refuses = TENSOR_DIFFERENCES["empty bounds"] if x.size == 0 else None
    return Call(lambda m, x, i: m.t.take(x, i, axis), [x, index], torch_fn=theirs,
                names=("take", "indexing"), refuses=refuses)


# -- making tensors ----------------------------------------------------------------------------
def dtype_or_none(draw):
    return draw(st.one_of(st.none(), dtypes()))


def _torch_dtype(m, dtype):
    return None if dtype is None else getattr(m.t, dtype)


@fuzzed("tinyattn.zeros", "tinyattn.ones", "tinyattn.full")
def draw_filled(draw):
    name, shape, dtype = draw(st.sampled_from(["zeros", "ones", "full"])), draw(shapes()), dtype_or_none(draw)
    if name == "full":
        value = scalar_arg(draw)
        return Call(lambda m: m.t.full(shape, value, dtype=_dtype(m, dtype)), [], names=("full",))
    return Call(lambda m: getattr(m.t, name)(shape, dtype=_dtype(m, dtype)), [], names=(name,))


def _dtype(m, dtype):
    """A dtype as each library spells it: tinyattn's name, or torch's object."""
    return dtype if m.t is tinyattn else _torch_dtype(m, dtype)


@fuzzed("tinyattn.zeros_like", "tinyattn.ones_like")
def draw_filled_like(draw):
    name, dtype = draw(st.sampled_from(["zeros_like", "ones_like"])), dtype_or_none(draw)
    return Call(lambda m, x: getattr(m.t, name)(x, dtype=_dtype(m, dtype)), [tensor_arg(draw)],
                names=(name,), grad=False)


@fuzzed("tinyattn.rand", "tinyattn.randn")
def draw_random(draw):
    name, shape, dtype = draw(st.sampled_from(["rand", "randn"])), draw(shapes()), dtype_or_none(draw)

    def made(m):        # random values differ between the libraries: compare shape and dtype
        out = getattr(m.t, name)(shape, dtype=_dtype(m, dtype))
        return tuple(out.shape), str(out.dtype).removeprefix("torch.")
    refuses = DIFFERENCES["random integers"] if dtype and not dtype.startswith("float") else None
    return Call(made, [], names=(name,), refuses=refuses)


@fuzzed("tinyattn.arange")
def draw_arange(draw):
    number = st.one_of(st.integers(-4, 4), st.sampled_from([0.5, -1.5, 2.25]))
    start, stop, step = draw(number), draw(number), draw(st.one_of(st.sampled_from([1, 2, -1, 0]), number))
    dtype = dtype_or_none(draw)
    cast = dtype and "int" in dtype and not all(isinstance(v, int) for v in (start, stop, step))
    return Call(lambda m: m.t.arange(start, stop, step, dtype=_dtype(m, dtype)), [], names=("arange",),
                refuses=DIFFERENCES["integer range"] if cast else None)


@fuzzed("tinyattn.tensor")
def draw_tensor(draw):
    values_, dtype = tensor_arg(draw), dtype_or_none(draw)
    outside = dtype is not None and "int" in dtype and values_.size and values_.dtype.kind in "iuf" and \
        (values_.min() < np.iinfo(dtype).min or values_.max() > np.iinfo(dtype).max)
    return Call(lambda m: m.t.tensor(values_.tolist(), dtype=_dtype(m, dtype)), [], names=("tensor",),
                refuses=DIFFERENCES["lone number"] if outside else None)


# -- F.*: softmax and friends --------------------------------------------------------------------
@fuzzed("F.softmax", "F.log_softmax")
def draw_softmax(draw):
    name, x = draw(st.sampled_from(["softmax", "log_softmax"])), tensor_arg(draw, dtype=floats(draw))
    dim = draw(st.integers(-x.ndim - 2, x.ndim + 1))
    return Call(lambda m, x: getattr(m.F, name)(x, dim=dim), [x], names=(name,),
                torch_fn=lambda m, x: getattr(m.F, name)(_as_float(x), dim=dim))


@fuzzed("F.logsumexp")
def draw_logsumexp(draw):
    x = tensor_arg(draw, dtype=floats(draw))
    dim = draw(st.one_of(st.integers(-x.ndim - 2, x.ndim + 1), st.lists(st.integers(-x.ndim, x.ndim),
                                                                    max_size=2).map(tuple)))
    keep = draw(st.booleans())
    # dim=() is every axis in tinyattn, as for sum (PyTorch's logsumexp fails on it)
    every = tuple(range(x.ndim)) if dim == () else dim
    return Call(lambda m, x: m.F.logsumexp(x, dim=dim, keepdim=keep), [x], names=("logsumexp",),
                torch_fn=lambda m, x: m.t.logsumexp(_as_float(x), dim=every, keepdim=keep))


@fuzzed("F.cross_entropy")
def draw_cross_entropy(draw):
    logits = tensor_arg(draw, dtype=floats(draw), shape=draw(shapes(min_dims=1, max_dims=3)))
    classes = logits.shape[-1]
    target_shape = logits.shape[:-1] if draw(st.integers(0, 5)) else draw(shapes(max_dims=2))
    kind = "int64" if draw(st.integers(0, 3)) else draw(dtypes())
    target = np.asarray(np.abs(values(draw, kind, target_shape).astype(np.int64)) % (classes + 2) - 1,
                        dtype=kind)
    ignore = draw(st.sampled_from([-100, -1, 0]))
    smoothing = draw(st.sampled_from([0.0, 0.0, 0.1, 1.0, -0.1, 1.5]))
    reduction = draw(st.sampled_from(["mean", "sum", "none", "bad"]))
    kwargs = dict(ignore_index=ignore, label_smoothing=smoothing, reduction=reduction)

    def theirs(m, logits, target):
        # tinyattn puts the classes on the last axis for any rank (PyTorch: on axis 1), and takes
        # class ids of any integer dtype (PyTorch: int64 only)
        if target.shape != logits.shape[:-1] or target.dtype.is_floating_point or target.dtype == m.t.bool:
            raise ValueError("targets must be integer ids of logits' leading shape")
        rows = target.numel()
        flat = logits.reshape(rows, logits.shape[-1])
        loss = m.F.cross_entropy(flat, target.reshape(rows).long(), **kwargs)
        return loss.reshape(target.shape) if reduction == "none" else loss
    refuses = DIFFERENCES["negative smoothing"] if smoothing < 0 else None
    return Call(lambda m, x, t: m.F.cross_entropy(x, t, **kwargs), [logits, target], torch_fn=theirs,
                names=("cross_entropy",), refuses=refuses)


@fuzzed("F.layer_norm")
def draw_layer_norm(draw):
    x = tensor_arg(draw, dtype=floats(draw), shape=draw(shapes(min_dims=1)))
    trailing = draw(st.integers(0, x.ndim))
    shape = x.shape[x.ndim - trailing:] if draw(st.integers(0, 5)) else draw(shapes(max_dims=2))
    extra = [tensor_arg(draw, dtype=x.dtype.name, shape=shape) for _ in range(draw(st.integers(0, 2)))]
    return Call(lambda m, x, *wb: m.F.layer_norm(x, shape, *wb, eps=1e-5), [x] + extra,
                names=("layer_norm",))


@fuzzed("F.gelu")
def draw_gelu(draw):
    approximate = draw(st.sampled_from(["none", "tanh", "tanh", "erf"]))
    return Call(lambda m, x: m.F.gelu(x, approximate=approximate), [tensor_arg(draw, dtype=floats(draw))],
                names=("gelu",))


@fuzzed("F.linear")
def draw_linear(draw):
    features, out = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    x_shape = draw(shapes(max_dims=2)) + (features if draw(st.integers(0, 5)) else draw(st.integers(0, 3)),)
    dtype = floats(draw)
    x = tensor_arg(draw, dtype=dtype, shape=x_shape)
    w = tensor_arg(draw, dtype=dtype if draw(st.integers(0, 5)) else floats(draw), shape=(out, features))
    bias = [tensor_arg(draw, dtype=w.dtype.name, shape=(out,))] if draw(st.booleans()) else []

    def theirs(m, x, w, *b):
        # mixed dtypes of one kind promote in tinyattn as its arithmetic does (PyTorch refuses them)
        if x.dtype != w.dtype and x.dtype.is_floating_point == w.dtype.is_floating_point:
            common = m.t.promote_types(x.dtype, w.dtype)
            x, w, b = x.to(common), w.to(common), [t.to(common) for t in b]
        return m.F.linear(x, w, *b)
    refuses = DIFFERENCES["boolean linear"] if "bool" in (x.dtype, w.dtype) else \
        TENSOR_DIFFERENCES["mixed kinds"] if (x.dtype.kind == "f") != (w.dtype.kind == "f") else \
        binary_refusal("linear", x, w, *bias)
    return Call(lambda m, x, w, *b: m.F.linear(x, w, *b), [x, w] + bias, torch_fn=theirs,
                names=("linear",), refuses=refuses)


@fuzzed("F.dropout")
def draw_dropout(draw):
    p = draw(st.sampled_from([0.0, 0.5, 1.0, -0.1, 1.5]))
    training = draw(st.booleans()) if p in (0.0, 1.0) else False      # else the draws are random
    x = tensor_arg(draw, dtype=floats(draw))
    refuses = DIFFERENCES["dropout of integers"] if training and p == 1.0 and x.dtype.kind != "f" else None
    return Call(lambda m, x: m.F.dropout(x, p, training=training), [x], names=("dropout",), refuses=refuses)


@fuzzed("F.embedding")
def draw_embedding(draw):
    rows, width = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    kind = "int64" if draw(st.integers(0, 3)) else draw(dtypes())
    ids = np.asarray(np.abs(values(draw, kind, draw(shapes(max_dims=2))).astype(np.int64)) % (rows + 2) - 1,
                     dtype=kind)
    weight = tensor_arg(draw, dtype=floats(draw), shape=(rows, width))

    def theirs(m, i, w):
        # tinyattn takes ids of any integer dtype (PyTorch: int32 or int64)
        return m.F.embedding(i.long() if i.dtype in (m.t.uint8, m.t.int8) else i, w)
    return Call(lambda m, i, w: m.F.embedding(i, w), [ids, weight], torch_fn=theirs, names=("embedding",))


@FUZZ
@pytest.mark.parametrize("name", sorted(FUNCTION_OPS))
@given(data=st.data())
def test_function_agrees_with_pytorch_or_raises_naming_itself(name, data):
    agree(torch, FUNCTION_OPS[name](data.draw))


# -- every public name is fuzzed, or listed here with the reason it is not ----------------------
NOT_FUZZED = {
    # not operations on tensor values
    "tinyattn.Tensor": "the class", "tinyattn.Function": "the base of every op",
    "tinyattn.BackendUnavailable": "an error", "tinyattn.GradcheckError": "an error",
    "tinyattn.gradcheck": "a test helper (tests/test_gradcheck.py)",
    **{f"tinyattn.{n}": "a dtype name" for n in ["float16", "float32", "float64", "int32", "int64",
                                                 "bool_", "float", "double", "long"]},
    **{n: "a mode or the backend registry (tests/test_backend.py, test_reference_mode.py)"
       for n in ["tinyattn.no_grad", "tinyattn.enable_grad", "tinyattn.is_grad_enabled",
                 "tinyattn.reference_mode", "F.reference_mode", "F.is_reference_mode",
                 "tinyattn.set_backend", "tinyattn.use_backend", "tinyattn.get_backend",
                 "tinyattn.manual_seed"]},
    "tinyattn.save": "files (tests/test_io.py)", "tinyattn.load": "files (tests/test_io.py)",
    **{f"tinyattn.{n}": "files (tests/test_safetensors.py, which fuzzes damaged files)"
       for n in ["save_safetensors", "load_safetensors"]},
    **{f"Tensor.{n}": "the tensor's own state, not an op" for n in
       ["data", "grad", "creator", "requires_grad", "shape", "ndim", "dtype", "backend", "numpy",
        "requires_grad_", "backward", "__array_priority__", "__module__", "__slots__", "__weakref__",
        "__init__", "__doc__", "__hash__", "__repr__"]},
}


def public_names():
    """Public names of Tensor, tinyattn and F, without modules (which appear as attributes once
    imported) and __slotnames__ (which copy and pickle add to a class with __slots__)."""
    tensor = {n for n in dir(tinyattn.Tensor) if not n.startswith("_")} | \
        {n for n in vars(tinyattn.Tensor) if n.startswith("__") and n != "__slotnames__"}

    def functions(module):
        return {n for n in dir(module) if not n.startswith("_") and
                not isinstance(getattr(module, n), types.ModuleType)}
    return {f"Tensor.{n}" for n in tensor} | {f"tinyattn.{n}" for n in functions(tinyattn)} | \
        {f"F.{n}" for n in functions(F)}


def test_every_public_name_is_fuzzed_or_says_why_not():
    covered = {n if "." in n else f"Tensor.{n}" for n in TENSOR_OPS | INDEX_OPS} | set(FUNCTION_OPS) | \
        set(ATTENTION_OPS) | set(NOT_FUZZED)
    assert public_names() - covered == set(), "public names no fuzz test draws"
    assert covered - public_names() == set(), "fuzzed names that are not public (renamed?)"
