"""The fuzz suite's machinery: what to draw (dtypes, shapes, axes, values) and the one check every
drawn call goes through (`agree`). Not a conftest: test_fuzz*.py import it.

The rule `agree` enforces, for one call run on tinyattn and on PyTorch with the same NumPy inputs:
- PyTorch succeeds: tinyattn gives the same shape, dtype and values (and, for float64 inputs,
  the same gradient of sum(out * upstream)), or refuses with a clear error where DIFFERENCES
  says it deliberately does;
- PyTorch raises: tinyattn raises too;
- a tinyattn error is a TypeError, ValueError or RuntimeError, names the op, and does not hand
  on a NumPy or array_api_strict message. Two more kinds where PyTorch uses them: an IndexError
  for an index or axis out of range or an empty axis to reduce (PyTorch raises IndexError there,
  though it may meet another problem of the call first), and a ZeroDivisionError for integer
  division by zero (PyTorch's RuntimeError says "ZeroDivisionError").
"""
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import tinyattn
import tinyattn.functional as F

# One budget for the whole fuzz suite: derandomised (the same examples on every run, so CI is
# repeatable) and a fixed number of examples per fuzzed op, a few thousand in all.
FUZZ = settings(derandomize=True, deadline=None, max_examples=50, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

OURS = SimpleNamespace(t=tinyattn, F=F)

# Every dtype tinyattn knows; a backend without one (array_api_strict has no float16) skips it.
DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"]

# Tolerances (rtol, atol) by the result's dtype. Both libraries evaluate the same formula in the
# same precision and differ only in rounding order (pairwise vs sequential sums of <= 256 terms
# of size <= 3, sigmoid through tanh, erf's polynomial): float64 eps 1.1e-16, 1e-12 leaves a
# wide margin; float32 eps 6e-8, so 1e-5; float16 eps 1e-3, and PyTorch accumulates float16
# sums in float32 while NumPy adds in float16, so a sum of 256 terms of size 3 may differ by a
# few units of its last place: 1e-2 relative, and 5e-2 absolute for sums cancelling near 0.
TOLERANCE = {"float64": (1e-12, 1e-12), "float32": (1e-5, 1e-5), "float16": (1e-2, 5e-2)}

# Words of NumPy's and array_api_strict's own errors: a tinyattn message must say what went
# wrong in its own words, not hand these on. (Naming the backend, "on the array_api_strict
# backend", is its own words; "array_api_strict.bool" is the library's.)
FOREIGN = ("ufunc", "zero-size array", "numpy boolean", "numpy.", "array_api_strict.", "could not be "
           "broadcast", "only integer scalar arrays", "too many indices", "not supported for the "
           "dtype", "Only ", "AxisError", "axis1", "object has no attribute", "Fancy indexing")


def dtypes():
    backend = tinyattn.get_backend()
    return st.sampled_from([d for d in DTYPES if d in backend.dtypes])


def floats(draw):
    """A floating dtype this backend has, or now and then any dtype (to be refused)."""
    if draw(st.integers(0, 5)) == 0:
        return draw(dtypes())
    return draw(dtypes().filter(lambda d: d.startswith("float")))


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def shape_pairs(max_dims=4):
    """Two shapes that broadcast together, or two drawn independently (which mostly clash)."""
    together = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims,
                                                 max_side=4).map(lambda s: s.input_shapes)
    return st.one_of(together, st.tuples(shapes(max_dims=max_dims), shapes(max_dims=max_dims)))


def axes(ndim):
    """An axis for a tensor of ndim dims: valid, negative, out of range, or a tuple of them
    (duplicates included), or None."""
    one = st.integers(-ndim - 2, ndim + 1)
    return st.one_of(st.none(), one, st.tuples(one, one), st.lists(one, max_size=3).map(tuple))


def values(draw, dtype, shape, low=-3.0, high=3.0):
    """A NumPy array of `dtype` and `shape` with seeded random values: floats in [low, high),
    integers in -5..5 (0..10 unsigned), booleans half True."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.startswith("uint"):
        return np.asarray(rng.integers(0, 11, shape), dtype=dtype)
    if dtype.startswith("int"):
        return np.asarray(rng.integers(-5, 6, shape), dtype=dtype)
    return np.asarray(rng.uniform(low, high, shape), dtype=dtype)


def tensor_arg(draw, dtype=None, shape=None, **kwargs):
    """A drawn array (dtype and shape drawn unless given)."""
    dtype = dtype or draw(dtypes())
    return values(draw, dtype, draw(shapes()) if shape is None else shape, **kwargs)


def scalar_arg(draw):
    """A Python number of each kind: bool, int or float."""
    return draw(st.one_of(st.booleans(), st.integers(-3, 3), st.floats(-3, 3, width=32)))


def _torch_ns(torch):
    return SimpleNamespace(t=torch, F=torch.nn.functional)


def _as_torch(torch, a, grad):
    if not isinstance(a, np.ndarray):
        return a
    t = torch.from_numpy(a.copy())
    return t.requires_grad_() if grad and a.dtype == np.float64 else t


def _as_ours(a, grad):
    if not isinstance(a, np.ndarray):
        return a
    return tinyattn.tensor(a, requires_grad=grad and a.dtype == np.float64)


@dataclass
class Call:
    """One drawn call: fn(OURS, *args) against (torch_fn or fn)(torch's namespace, *args), where
    the NumPy arrays of `args` become tensors (float64 ones requiring grad, when `grad`) and the
    other arguments pass as they are. `names`: words of which a tinyattn error message must
    contain one (the op as the user wrote it: "sum"; "add" or "+"). `refuses`: why tinyattn may
    refuse this call where PyTorch computes it (a deliberate difference), or None."""
    fn: Callable
    args: list
    torch_fn: Callable = None
    names: tuple = ()
    refuses: str = None
    grad: bool = True
    kwargs: dict = field(default_factory=dict)


def agree(torch, call):
    """Check one Call by the rule of the module docstring."""
    with warnings.catch_warnings():     # deprecations, log of negatives: not what is checked here
        warnings.simplefilter("ignore")
        _agree(torch, call)


def _agree(torch, call):
    fn, args, kwargs, names = call.fn, call.args, call.kwargs, call.names
    torch_fn = call.torch_fn or fn
    grad = call.grad and any(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in args)
    theirs = [_as_torch(torch, a, grad) for a in args]
    try:
        expected, torch_error = torch_fn(_torch_ns(torch), *theirs, **kwargs), None
    except Exception as e:          # noqa: BLE001  (any error of PyTorch's is a refusal)
        expected, torch_error = None, e
    ours = [_as_ours(a, grad) for a in args]
    try:
        out, our_error = fn(OURS, *ours, **kwargs), None
    except Exception as e:          # noqa: BLE001
        out, our_error = None, e
    refuses = call.refuses
    call = f"{names[0]} on {describe(args)} {kwargs or ''}"
    if our_error is not None:
        check_error(our_error, names, torch_error, call)
        assert torch_error is not None or refuses, \
            f"{call}: tinyattn refused ({our_error!r}) what PyTorch computes"
        return
    assert torch_error is None, f"{call}: PyTorch raises {torch_error!r}, tinyattn gave {out!r}"
    compare(call, out, expected)
    if grad and _wants_grad(expected):
        compare_grads(call, torch, ours, theirs, out, expected)


def check_error(error, names, torch_error, call):
    message = str(error)
    allowed = (TypeError, ValueError, RuntimeError)
    if isinstance(torch_error, IndexError) or "out of range" in message or "is empty" in message \
            or "indexing" in names:
        allowed += (IndexError,)
    if "ZeroDivisionError" in str(torch_error):
        allowed += (ZeroDivisionError,)
    assert isinstance(error, allowed), f"{call}: {type(error).__name__}: {error}"
    assert any(name in message for name in names), f"{call}: the message does not name the op: {message}"
    foreign = [w for w in FOREIGN if w in message]
    assert not foreign, f"{call}: the message hands on a library's own words {foreign}: {message}"


def describe(args):
    return ", ".join(f"{a.dtype}{a.shape}" if isinstance(a, np.ndarray) else repr(a) for a in args)


def compare(call, out, expected):
    """ours (a Tensor, a list or tuple of them, or a Python value) against torch's."""
    if isinstance(expected, (list, tuple)):
        assert isinstance(out, (list, tuple)) and len(out) == len(expected), \
            f"{call}: {len(expected)} results expected, got {out!r}"
        for i, (o, e) in enumerate(zip(out, expected)):
            compare(f"{call} [result {i}]", o, e)
        return
    if not hasattr(expected, "dtype"):              # a Python value (len, item, size)
        assert out == expected, f"{call}: {out!r}, PyTorch {expected!r}"
        return
    assert isinstance(out, tinyattn.Tensor), f"{call}: a {type(out).__name__}, not a Tensor"
    torch_dtype = str(expected.dtype).removeprefix("torch.")
    assert out.shape == tuple(expected.shape), f"{call}: shape {out.shape}, PyTorch {tuple(expected.shape)}"
    assert out.dtype == torch_dtype, f"{call}: dtype {out.dtype}, PyTorch {torch_dtype}"
    close(call, out.numpy(), expected.detach().numpy(), torch_dtype)


def close(what, actual, expected, dtype):
    if dtype in TOLERANCE:
        rtol, atol = TOLERANCE[dtype]
        np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64),
                                   rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=what)


def _wants_grad(expected):
    return getattr(expected, "requires_grad", False) and expected.dtype.is_floating_point


def compare_grads(call, torch, ours, theirs, out, expected):
    """The gradient of sum(out * upstream) for a random upstream, w.r.t. every float64 input."""
    upstream = np.random.default_rng(0).standard_normal(tuple(expected.shape))
    (expected * torch.from_numpy(upstream).to(expected.dtype)).sum().backward()
    out.backward(tinyattn.tensor(upstream, dtype=out.dtype))
    for i, (o, t) in enumerate(zip(ours, theirs)):
        if not isinstance(o, tinyattn.Tensor) or not o.requires_grad:
            continue
        mine = np.zeros(o.shape) if o.grad is None else o.backend.to_numpy(o.grad)
        want = np.zeros(o.shape) if t.grad is None else t.grad.numpy()
        assert mine.shape == want.shape, f"{call}: grad {i} has shape {mine.shape}, PyTorch {want.shape}"
        # the gradient flows through the op in the output's dtype (float64 * float32 is float32)
        close(f"{call}: grad of input {i}", mine, want, str(expected.dtype).removeprefix("torch."))
