"""Backends: choosing one, moving tensors between them, their extras (scatter-add, seeding),
the names they share (dtypes, namespace functions), and the ways CuPy can be unavailable.
"""
import builtins
import os
import subprocess
import sys
import types
from functools import partial
from pathlib import Path

import numpy as np
import pytest

import tinyattn
from tinyattn import backend as backend_module
from tinyattn.backend import Backend, BackendUnavailable, complete_namespace, get_backend
from tinyattn.backend.cupy_backend import _import_cupy


@pytest.fixture
def restore_backend():
    previous = get_backend()
    yield
    tinyattn.set_backend(previous)


# -- choosing a backend ------------------------------------------------------------------------
def test_set_backend_decides_where_new_tensors_live(restore_backend):
    tinyattn.set_backend("array_api_strict")
    assert tinyattn.zeros(2).backend.name == "array_api_strict"
    tinyattn.set_backend("numpy")
    assert tinyattn.zeros(2).backend.name == "numpy"


def test_use_backend_restores_the_previous_one_after_an_exception(restore_backend):
    tinyattn.set_backend("numpy")
    with pytest.raises(KeyError):
        with tinyattn.use_backend("array_api_strict"):
            assert tinyattn.zeros(2).backend.name == "array_api_strict"
            raise KeyError("inside the block")
    assert get_backend().name == "numpy"


@pytest.mark.parametrize("variable, expected", [(None, "numpy"), ("array_api_strict", "array_api_strict")])
def test_tinyattn_backend_environment_variable_sets_the_default(variable, expected):
    env = {k: v for k, v in os.environ.items() if k != "TINYATTN_BACKEND"}
    if variable is not None:
        env["TINYATTN_BACKEND"] = variable
    env["PYTHONPATH"] = str(Path(tinyattn.__file__).parents[1])
    result = subprocess.run([sys.executable, "-c", "import tinyattn; print(tinyattn.get_backend().name)"],
                            env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == expected


# -- moving tensors ----------------------------------------------------------------------------
@pytest.mark.parametrize("source, target", [("numpy", "array_api_strict"), ("array_api_strict", "numpy")])
def test_to_moves_values_keeps_requires_grad_and_gradients_flow_on_the_target(source, target):
    x = tinyattn.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True, backend=source)
    y = x.to(target)
    assert y.backend.name == target and y.requires_grad
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    (y * y).sum().backward()
    assert y.grad is not None and backend_module.backend_of(y.grad).name == target
    np.testing.assert_array_equal(tinyattn.tensor(y.grad).numpy(), 2 * x.numpy())


def test_numpy_returns_a_host_numpy_array_on_strict():
    x = tinyattn.tensor([1.0, 2.0], backend="array_api_strict")
    assert type(x.numpy()) is np.ndarray
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


# -- scatter-add: the portable version and the fast ones agree ---------------------------------
@pytest.mark.parametrize("row_shape", [(), (3,), (3, 2)])
def test_index_add_agrees_with_numpy_add_at(rng, row_shape):
    numpy_backend = get_backend("numpy")
    index = rng.integers(0, 5, size=200)                 # many repeats; rows 5 and 6 never hit
    values = rng.standard_normal((200,) + row_shape)
    shape = (7,) + row_shape
    expected = np.zeros(shape)
    np.add.at(expected, index, values)                   # NumPy's own scatter-add, the reference
    fast = numpy_backend.index_add(shape, index, values)
    portable = Backend.index_add(numpy_backend, shape, index, values)
    np.testing.assert_allclose(fast, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(portable, expected, rtol=1e-12, atol=1e-12)


def test_strict_index_add_agrees_with_numpy_add_at(rng):
    strict = get_backend("array_api_strict")
    index = rng.integers(0, 5, size=100)
    values = rng.standard_normal((100, 4)).astype(np.float32)
    out = strict.index_add((6, 4), strict.asarray(index), strict.asarray(values))
    expected = np.zeros((6, 4), np.float32)
    np.add.at(expected, index, values)
    np.testing.assert_allclose(strict.to_numpy(out), expected, rtol=1e-5, atol=1e-5)
    assert strict.dtype_names[out.dtype] == "float32"


@pytest.mark.parametrize("version", ["numpy", "portable"])
def test_index_add_of_no_rows_is_zeros(version):
    numpy_backend = get_backend("numpy")
    index_add = numpy_backend.index_add if version == "numpy" else partial(Backend.index_add, numpy_backend)
    out = index_add((3, 2), np.zeros(0, np.int64), np.zeros((0, 2)))
    np.testing.assert_array_equal(out, np.zeros((3, 2)))


# -- the NumPy namespace's copysign, and `out=` on the strict namespace ---------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_copysign_on_the_bits_agrees_with_np_copysign(rng, dtype):
    xp = get_backend("numpy").xp
    x1 = rng.standard_normal((50, 7)).astype(dtype)
    x2 = rng.standard_normal((50, 7)).astype(dtype)
    x1[0, :5] = [0.0, -0.0, np.inf, -np.inf, np.nan]     # signed zeros, infinities, NaN
    x2[0, :5] = [-1.0, 1.0, -0.0, 0.0, -2.0]
    expected = np.copysign(x1, x2)
    got = xp.copysign(x1, x2)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))
    out = np.empty_like(x1)
    assert xp.copysign(x1, x2, out=out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(xp.copysign(x1, x2[0]), np.copysign(x1, x2[0]))   # broadcast
    np.testing.assert_array_equal(xp.copysign(x1, 1.0), np.abs(x1))               # a scalar


def test_strict_namespace_takes_out_and_writes_through_views():
    strict = get_backend("array_api_strict")
    xp = strict.xp
    x = strict.asarray(np.arange(12.0).reshape(4, 3) - 6.0)
    out = xp.zeros((4, 3), **strict.place)
    assert xp.multiply(x[1:3, ...], 2.0, out=out[1:3, ...]) is not None
    expected = np.zeros((4, 3))
    expected[1:3] = 2.0 * (np.arange(12.0).reshape(4, 3)[1:3] - 6.0)
    np.testing.assert_array_equal(strict.to_numpy(out), expected)
    np.testing.assert_array_equal(strict.to_numpy(xp.abs(x)), np.abs(strict.to_numpy(x)))   # no out


# -- namespaces: standard names filled in from old ones ------------------------------------------
def test_complete_namespace_fills_standard_names_from_old_aliases():
    old_cupy = types.SimpleNamespace(__name__="fakecupy", transpose=np.transpose, concatenate=np.concatenate,
                                     power=np.power, cumsum=np.cumsum, exp=np.exp)
    xp = complete_namespace(old_cupy)
    a = np.arange(6.0).reshape(2, 3)
    assert xp.permute_dims is np.transpose and xp.concat is np.concatenate
    assert xp.pow is np.power and xp.cumulative_sum is np.cumsum and xp.exp is np.exp
    assert xp.astype(a, np.float32).dtype == np.float32
    assert xp.__name__ == "fakecupy"


def test_complete_namespace_leaves_a_complete_namespace_as_it_is():
    assert complete_namespace(np) is np


# -- CuPy unavailable: one plain sentence per way it fails -----------------------------------------
def _fake_cupy(device_count=lambda: 1, arange=np.arange):
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=device_count)), arange=arange)


def _raise(*args):
    raise RuntimeError("cudaErrorInsufficientDriver")


def _unavailable_message(monkeypatch, fake):
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(BackendUnavailable) as excinfo:
        _import_cupy()
    error = excinfo.value
    assert error.__context__ is None or error.__suppress_context__    # one message, not a chain
    return str(excinfo.value)


def test_cupy_not_installed_says_how_to_install_it(monkeypatch):
    message = _unavailable_message(monkeypatch, None)
    assert "CuPy is not installed" in message and "pip install" in message


def test_cupy_without_a_driver_says_no_usable_device(monkeypatch):
    message = _unavailable_message(monkeypatch, _fake_cupy(device_count=_raise))
    assert "no usable CUDA driver or device" in message and "cudaErrorInsufficientDriver" in message


def test_a_broken_cupy_install_is_not_reported_as_missing(monkeypatch):
    def broken_import(name, *args, **kwargs):
        if name == "cupy":
            raise ImportError("CuPy failed to load libnvrtc.so.12", name="cupy_backends.cuda.libs.nvrtc")
        return real_import(name, *args, **kwargs)
    real_import = builtins.__import__
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(builtins, "__import__", broken_import)
    with pytest.raises(BackendUnavailable, match="CuPy is installed but failed to import .*libnvrtc"):
        _import_cupy()


def test_cupy_without_a_driver_mentions_an_old_driver(monkeypatch):
    message = _unavailable_message(monkeypatch, _fake_cupy(device_count=_raise))
    assert "a driver older than the CUDA version of this CuPy wheel" in message


def test_cupy_with_zero_devices_says_none_is_visible(monkeypatch):
    message = _unavailable_message(monkeypatch, _fake_cupy(device_count=lambda: 0))
    assert "no CUDA device is visible" in message


def test_cupy_whose_kernels_fail_points_at_the_cuda_version(monkeypatch):
    message = _unavailable_message(monkeypatch, _fake_cupy(arange=_raise))
    # a driver runs wheels of its CUDA version and older: the advice must not say otherwise
    assert "running a kernel failed" in message and "a CUDA 13 driver runs cupy-cuda12x" in message
    assert "cupy-cuda13x needs a CUDA 13 driver" in message


def test_set_backend_cupy_without_cupy_raises_and_keeps_the_active_backend(monkeypatch, restore_backend):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.delitem(backend_module._made, "cupy", raising=False)
    active = get_backend()
    with pytest.raises(BackendUnavailable, match="backend 'cupy': CuPy is not installed"):
        tinyattn.set_backend("cupy")
    assert get_backend() is active


# -- random numbers ----------------------------------------------------------------------------------
def test_manual_seed_makes_randn_reproducible_and_equal_on_numpy_and_strict():
    draws = []
    for name in ["numpy", "numpy", "array_api_strict"]:
        tinyattn.manual_seed(123)
        draws.append(tinyattn.randn(3, 4, backend=name).numpy())
    np.testing.assert_array_equal(draws[0], draws[1])
    np.testing.assert_array_equal(draws[0], draws[2])


# -- dtypes --------------------------------------------------------------------------------------
def test_dtype_is_the_same_name_on_every_backend(backend):
    assert tinyattn.randn(2).dtype == tinyattn.float32
    assert tinyattn.zeros(2, dtype="float64").dtype == tinyattn.float64


@pytest.mark.parametrize("data, dtype", [(2.5, "float32"), ([1.0, 2.0], "float32"), ([1, 2], "int64"),
                                         (np.ones(2), "float64"), (np.ones(2, np.float32), "float32")])
def test_data_gets_pytorch_default_dtypes_and_arrays_keep_theirs(backend, data, dtype):
    assert tinyattn.tensor(data).dtype == dtype


@pytest.mark.parametrize("make", [tinyattn.zeros, tinyattn.ones, tinyattn.randn, tinyattn.rand,
                                  tinyattn.arange])
def test_creation_accepts_numpy_dtypes_as_well_as_names(backend, make):
    assert make(3, dtype=np.float64).dtype == "float64"


def test_randn_draws_float16_where_the_backend_has_it():
    assert tinyattn.randn(4, dtype="float16", backend="numpy").dtype == "float16"


def test_float32_stays_float32_through_every_op_and_its_backward(backend):
    a = tinyattn.randn(4, 3, requires_grad=True)
    b = tinyattn.randn(3, 5, requires_grad=True)
    c = tinyattn.rand(5, requires_grad=True)
    h = (a @ b + c) * 0.5 - 1                                                # matmul add mul sub
    h = h.relu() + h.tanh() - h.sigmoid() / 3 + 2.0 ** h + (-h)              # ... div rpow neg
    h = tinyattn.maximum(h, 0.1) + tinyattn.where(h > 0, h, h * 0.01)
    h = h * (c.exp() + 1).log().sqrt() ** 3                                  # exp log sqrt pow
    h = tinyattn.concat([h, h[1:3] * 2]).reshape(3, 2, 5).permute(2, 0, 1)   # slice concat shape
    h = h[tinyattn.tensor([0, 4, 4])]                                        # gather (3, 3, 2)
    loss = h.var(axis=0).sum() + h.max(axis=-1).mean() + h.min() + h.broadcast_to(2, 3, 3, 2).mean()
    loss.backward()
    assert loss.dtype == "float32"
    assert [tinyattn.tensor(p.grad).dtype for p in (a, b, c)] == ["float32"] * 3


def test_float64_upstream_gradient_does_not_promote_float32_grads(backend):
    x = tinyattn.randn(2, 3, requires_grad=True)
    (x * 2).backward(tinyattn.ones(2, 3, dtype="float64"))
    assert tinyattn.tensor(x.grad).dtype == "float32"


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_numpy_fast_paths_agree_with_numpy(dtype):
    from tinyattn.kernels.fast_numpy import fast_numpy_functions
    fast = types.SimpleNamespace(**fast_numpy_functions())
    x = (np.random.default_rng(0).standard_normal((3, 4, 5)) * 3).astype(dtype)
    for axis in (None, 0, (0, 2), (0, 1, 2)):
        for keepdims in (False, True):
            expected = np.sum(x, axis=axis, keepdims=keepdims)
            got = fast.sum(x, axis=axis, keepdims=keepdims)
            assert got.dtype == expected.dtype and np.array_equal(got, expected)
    np.testing.assert_array_equal(fast.reshape(x, (5, -1)), np.reshape(x, (5, -1)))
    np.testing.assert_array_equal(fast.permute_dims(x, (2, 0, 1)), np.permute_dims(x, (2, 0, 1)))


def test_pytorch_device_names_map_to_backends():
    assert tinyattn.get_backend("cpu").name == "numpy"
    assert tinyattn.randn(2, backend="array_api_strict").to("cpu").backend.name == "numpy"


def test_a_zero_dim_leaf_accumulates_into_an_array_of_its_own(backend):
    scale = tinyattn.tensor(2.0, requires_grad=True)
    for _ in range(2):
        (scale * tinyattn.ones(3)).sum().backward()
    assert scale.item() == 2.0 and float(scale.backend.to_numpy(scale.grad)) == 6.0
    grad = scale.grad
    grad -= 1.0                                     # an array, so updating it in place sticks
    assert float(scale.backend.to_numpy(scale.grad)) == 5.0


def test_complete_namespace_names_bool_where_a_library_only_has_bool_():
    # CuPy 13 exports `bool_` but not the standard's `bool` (it arrives in CuPy 14): without the
    # alias the backend would have no boolean dtype, and every mask and comparison would fail
    old_cupy = types.SimpleNamespace(__name__="fakecupy", bool_=np.bool_, zeros=np.zeros)
    xp = complete_namespace(old_cupy)
    assert xp.bool is np.bool_
    assert xp.zeros(2, dtype=xp.bool).dtype == np.bool_

