"""Fuzzing indexing against PyTorch (fuzzing.py states the rule): reads and writes through basic
keys (ints, slices with steps, None, ...) and through integer arrays, lists and boolean masks,
on tensors of random shapes (0 and 1 sides included) and dtypes.

The deliberate differences are listed with the others in test_fuzz.py's DIFFERENCES.
"""
import numpy as np
import pytest
from fuzzing import FUZZ, Call, agree, scalar_arg, shapes, tensor_arg, values
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import DIFFERENCES

import tinyattn

torch = pytest.importorskip("torch")

INDEX_OPS = {}


def fuzzed(*names):
    def register(drawer):
        for name in names:
            INDEX_OPS[name] = drawer
        return drawer
    return register


def key_part(draw, n):
    """One entry of an index for an axis of size n."""
    return draw(st.one_of(
        st.integers(-n - 1, n),
        st.builds(slice, st.none() | st.integers(-n - 1, n + 1), st.none() | st.integers(-n - 1, n + 1),
                  st.none() | st.sampled_from([1, 2, 3])),
        st.sampled_from([None, Ellipsis])))


def basic_key(draw, shape):
    parts = [key_part(draw, shape[i] if i < len(shape) else 1) for i in range(draw(st.integers(0, 5)))]
    return parts[0] if len(parts) == 1 and draw(st.booleans()) else tuple(parts)


def index_key(draw, shape):
    """Integer arrays for the leading axes (as arrays, tensors or lists), or one boolean mask."""
    if draw(st.integers(0, 3)) == 0:
        return values(draw, "bool", shape[:draw(st.integers(0, len(shape)))])
    lead = draw(st.integers(1, max(1, len(shape))))
    index_shape = draw(shapes(max_dims=2, max_side=3))
    return tuple(values(draw, "int64", index_shape) % (shape[i] + 1) * draw(st.sampled_from([1, -1]))
                 if i < len(shape) else values(draw, "int64", index_shape) for i in range(lead))


@fuzzed("__getitem__")
def draw_getitem(draw):
    x = tensor_arg(draw)
    if draw(st.booleans()):
        key = basic_key(draw, x.shape)
        return Call(lambda m, x: x[key], [x], names=("indexing",), refuses=_ellipses(key))
    key = index_key(draw, x.shape)
    arrays = list(key) if isinstance(key, tuple) else [key]
    return Call(lambda m, x, *k: x[tuple(k) if isinstance(key, tuple) else k[0]], [x] + arrays,
                names=("indexing",), refuses=_index_refusal(arrays, writing=False, x=x))


def _ellipses(key):
    parts = key if isinstance(key, tuple) else (key,)
    return DIFFERENCES["two ellipses"] if sum(k is Ellipsis for k in parts) > 1 else None


def _index_refusal(arrays, writing, x=None):
    """Why tinyattn may refuse x[arrays] (or a write through them) where PyTorch does not."""
    if x is not None and x.size == 0 and arrays and arrays[0].dtype != bool:
        return DIFFERENCES["empty bounds"]
    masks = [a for a in arrays if a.dtype == bool]
    if masks and (not writing or masks[0].ndim == 0):
        return DIFFERENCES["boolean index"]
    if writing and arrays and not masks and tinyattn.get_backend().name == "array_api_strict":
        return DIFFERENCES["integer writes"]
    return None


@fuzzed("__setitem__")
def draw_setitem(draw):
    x = tensor_arg(draw)
    key = basic_key(draw, x.shape) if draw(st.booleans()) else index_key(draw, x.shape)
    arrays = list(key) if isinstance(key, tuple) and any(isinstance(k, np.ndarray) for k in key) else \
        [key] if isinstance(key, np.ndarray) else []
    value = scalar_arg(draw) if draw(st.booleans()) else tensor_arg(draw, shape=draw(shapes(max_dims=2)))

    def write(m, x, *given):
        k = (tuple(given[:len(arrays)]) if isinstance(key, tuple) else given[0]) if arrays else key
        v = given[-1] if isinstance(value, np.ndarray) else value
        if m.t is not tinyattn and arrays and isinstance(value, np.ndarray):
            v = v.to(x.dtype)   # a write takes x's dtype, as PyTorch's basic writes (index_put refuses)
        if m.t is not tinyattn and isinstance(v, float) and not x.dtype.is_floating_point:
            # a number written into an integer tensor is cast as by astype (-1.0 into uint8 is
            # 255): a deliberate difference, PyTorch refuses one outside the dtype
            v = np.asarray(v).astype(str(x.dtype).removeprefix("torch.")).item()
        x[k] = v
        return x
    refuses = (_ellipses(key) if not arrays else None) or _index_refusal(arrays, writing=True, x=x)
    if arrays and arrays[0].dtype == bool and isinstance(value, np.ndarray) and value.ndim > 1:
        refuses = refuses or DIFFERENCES["mask write"]
    return Call(write, [x] + arrays + ([value] if isinstance(value, np.ndarray) else []),
                names=("setitem", "indexing"), grad=False, refuses=refuses)


@FUZZ
@pytest.mark.parametrize("name", sorted(INDEX_OPS))
@given(data=st.data())
def test_indexing_agrees_with_pytorch_or_raises_naming_itself(name, data):
    agree(torch, INDEX_OPS[name](data.draw))
