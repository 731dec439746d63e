"""A stand-in for CuPy on NumPy, for running the CuPy backend's own code without a GPU.

`make_cupy_double()` is a real CupyBackend (cupy_backend.py, unchanged) given stand-ins for the
`cupy` and `cupyx` modules. They compute with NumPy but behave as CuPy does where array_api_strict
does not:
- an array has no __index__ (it would wait for the device), so x[t.argmax()] cannot use it;
- a reduction gives a 0-d array, never a NumPy scalar;
- the random generator refuses float16;
- the namespace is CuPy 13's: no vecdot (none up to CuPy 14.2), and bool, astype, concat,
  permute_dims and cumulative_sum only under their old names (bool_, ndarray.astype, ...),
  so complete_namespace must fill in every one of them;
- scatter-add is cupyx.scatter_add;
- CupyBackend's own settings hold: chunk_elements None (whole-array kernels), device arrays read
  through `.get()`.
Arrays of the stand-in are their own type, so an op mixing one with a NumPy array is refused as a
mix of backends, as with real CuPy arrays.
"""
import types

import numpy as np

from tinyattn.backend.cupy_backend import CupyBackend

# standard names CuPy 13 lacks (the CuPy wheel test lists them: tests/test_cupy_wheel.py)
ABSENT_IN_CUPY_13 = ("vecdot", "bool", "astype", "concat", "permute_dims", "cumulative_sum")


class CupyLikeArray(np.ndarray):
    """A NumPy array that behaves as a CuPy one where the difference matters to tinyattn."""

    def __index__(self):
        raise TypeError("CuPy arrays have no __index__ (it would wait for the device)")

    def __array_wrap__(self, array, context=None, return_scalar=False):
        return array.view(CupyLikeArray)            # a 0-d array where NumPy gives a scalar

    def __getitem__(self, key):
        return on_device(super().__getitem__(key))

    def get(self):
        """The array copied to the host, as cupy.ndarray.get()."""
        return np.array(self)


def on_device(result):
    """NumPy's results (arrays, scalars, tuples of them) as CupyLikeArrays; other values as they are."""
    if isinstance(result, (np.ndarray, np.generic)):
        return np.asarray(result).view(CupyLikeArray)
    if isinstance(result, tuple):
        return tuple(on_device(r) for r in result)
    return result


def _on_device_function(fn):
    def wrapped(*args, **kwargs):
        return on_device(fn(*args, **kwargs))
    return wrapped


class GeneratorWithoutFloat16:
    """cupy.random.Generator as it fails: no float16 draws."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def standard_normal(self, shape, dtype):
        return on_device(self.rng.standard_normal(shape, dtype=self._checked(dtype)))

    def random(self, shape, dtype):
        return on_device(self.rng.random(shape, dtype=self._checked(dtype)))

    @staticmethod
    def _checked(dtype):
        if np.dtype(dtype) == np.float16:
            raise TypeError("cupy.random.Generator: float16 is not supported")
        return dtype


def cupy_module(absent=ABSENT_IN_CUPY_13):
    """A `cupy` module computing with NumPy: every function's results on the stand-in device."""
    names = {}
    for name in dir(np):
        value = getattr(np, name)
        if name.startswith("_") or name in absent or isinstance(value, types.ModuleType):
            continue
        names[name] = _on_device_function(value) if callable(value) and not isinstance(value, type) else value
    names["random"] = types.SimpleNamespace(default_rng=GeneratorWithoutFloat16)
    names["cuda"] = types.SimpleNamespace(Device=lambda: types.SimpleNamespace(synchronize=lambda: None))
    return types.SimpleNamespace(__name__="cupy", **names)


def cupyx_module():
    """A `cupyx` module: scatter_add(a, index, values) adds in place, repeated indices summed."""
    return types.SimpleNamespace(scatter_add=np.add.at)


def make_cupy_double():
    """The CuPy backend on the stand-ins."""
    return CupyBackend(modules=(cupy_module(), cupyx_module()))
