"""Which array library computes: NumPy (default), CuPy (GPU), or array_api_strict (CI's GPU stand-in).

A backend is an array namespace `xp` plus the few extras the array API standard does not cover:
random numbers, scatter-add, moving data to and from the host, and synchronisation. Engine code
only ever calls `xp.<name>` with names shared by the standard, NumPy >= 2 and CuPy >= 13, and the
extras through the backend object, so the same code runs on all three.

array_api_strict is run on its emulated device ("device1"): its arrays refuse implicit conversion
to NumPy and refuse mixing with arrays of another device, which is exactly how CuPy arrays fail.
If the test suite passes there, the engine holds no NumPy-only idiom.

    import tinyattn
    tinyattn.set_backend("cupy")            # everything from now on lives on the GPU
    with tinyattn.use_backend("numpy"):     # ... except inside this block
        ...
    TINYATTN_BACKEND=array_api_strict python train.py
"""
import contextlib
import os
import types

import numpy as np

DTYPE_NAMES = ("float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool")

# Standard names some libraries only know by their older NumPy names (CuPy 13, NumPy 2.0).
_ALIASES = {
    "permute_dims": "transpose",
    "concat": "concatenate",
    "pow": "power",
    "cumulative_sum": "cumsum",
}


def complete_namespace(module, replacements=None):
    """The module as an array namespace, filling standard names it lacks from their old aliases;
    `replacements` swaps in functions of the same meaning (faster ones, for NumPy)."""
    missing = {new: getattr(module, old) for new, old in _ALIASES.items()
               if not hasattr(module, new) and hasattr(module, old)}
    if not hasattr(module, "vecdot"):                    # CuPy 13
        missing["vecdot"] = lambda x1, x2, axis=-1: module.sum(x1 * x2, axis=axis)
    if not hasattr(module, "astype"):
        missing["astype"] = lambda x, dtype, copy=True: x.astype(dtype, copy=copy)
    missing.update(replacements or {})
    if not missing:
        return module
    ns = types.SimpleNamespace(**{k: getattr(module, k) for k in dir(module) if not k.startswith("__")})
    for name, fn in missing.items():
        setattr(ns, name, fn)
    ns.__name__ = module.__name__
    return ns


class Backend:
    """An array namespace and the extras the standard lacks. Subclasses fill in the extras."""

    name = "?"
    # elements per block for cache-blocked elementwise chains (blocks.py); None: whole arrays
    block_elements = None

    def __init__(self, xp, device=None):
        self.xp = xp
        self.device = device
        # keyword arguments that put a new array on this backend's device; CuPy 13's creation
        # functions take no `device`, so it is passed only where there is one to name
        self.place = {} if device is None else {"device": device}
        self.array_type = type(xp.zeros(0))
        self.dtypes = {n: getattr(xp, n) for n in DTYPE_NAMES if hasattr(xp, n)}
        self.dtype_names = {dt: n for n, dt in self.dtypes.items()}
        self.seed(_seed)

    def __repr__(self):
        return f"Backend({self.name!r})"

    def dtype(self, dtype):
        """This backend's dtype for a name ("float32") or a NumPy dtype (np.float32), or a TypeError
        naming the dtypes it has."""
        if dtype not in self.dtypes:
            try:
                dtype = np.dtype(dtype).name
            except TypeError:
                pass
        if dtype not in self.dtypes:
            raise TypeError(f"dtype {dtype!r} is not available on backend {self.name!r}; "
                            f"it has {', '.join(self.dtypes)}")
        return self.dtypes[dtype]

    def asarray(self, data, dtype=None):
        """An array of this backend (on its device) from a scalar, list, NumPy or backend array."""
        dt = None if dtype is None else self.dtype(dtype)
        return self.xp.asarray(data, dtype=dt, **self.place)

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=dtype, **self.place)

    def ones(self, shape, dtype):
        return self.xp.ones(shape, dtype=dtype, **self.place)

    def full(self, shape, value, dtype):
        return self.xp.full(shape, value, dtype=dtype, **self.place)

    def arange(self, start, stop, step, dtype):
        return self.xp.arange(start, stop, step, dtype=dtype, **self.place)

    def to_numpy(self, array):
        """A host NumPy array (a copy when the array lives elsewhere)."""
        return np.asarray(array)

    def copy(self, array):
        return array.copy()

    def seed(self, seed):
        self.rng = np.random.default_rng(seed)

    def randn(self, shape, dtype):
        return self.asarray(self.rng.standard_normal(shape, dtype=_drawn(dtype)), dtype)

    def rand(self, shape, dtype):
        return self.asarray(self.rng.random(shape, dtype=_drawn(dtype)), dtype)

    def index_add(self, shape, index, values):
        """zeros(shape) with `values[i]` added to row `index[i]`, repeated indices summed.

        index (N,) integers, values (N, *shape[1:]). The backward of a gather (embedding lookup).
        Portable version, using only the standard: sort the rows by index, sum each run of equal
        indices through a cumulative sum, then place each run's sum with a gather (searchsorted)
        instead of a scatter, which the standard does not have.
        """
        xp = self.xp
        if index.shape[0] == 0:              # nothing to add (and no rows to reshape to (0, -1))
            return self.zeros(shape, values.dtype)
        order = xp.argsort(index)
        idx = xp.take(index, order)
        vals = xp.reshape(xp.take(values, order, axis=0), (idx.shape[0], -1))
        csum = xp.cumulative_sum(vals, axis=0, include_initial=True)           # (N + 1, D)
        ends = xp.concat([idx[1:] != idx[:-1], xp.asarray([True], **self.place)])
        last = xp.nonzero(ends)[0]                                             # last row of each run
        run_totals = xp.take(csum, last + 1, axis=0)
        run_sums = run_totals - xp.concat([run_totals[:1, ...] * 0, run_totals[:-1, ...]], axis=0)
        unique = xp.take(idx, last)
        rows = self.arange(0, shape[0], 1, unique.dtype)
        pos = xp.clip(xp.searchsorted(unique, rows), 0, unique.shape[0] - 1)   # (V,)
        present = xp.take(unique, pos) == rows
        out = xp.where(present[:, None], xp.take(run_sums, pos, axis=0), 0.0)
        return xp.reshape(xp.astype(out, values.dtype), shape)

    def synchronize(self):
        """Wait for queued device work (a no-op on the CPU); benchmarks call it before reading a clock."""


def _drawn(dtype):
    """The dtype NumPy's generator draws samples of `dtype` in: it has no float16 sampler."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


class NumpyBackend(Backend):
    name = "numpy"
    block_elements = 32768           # 128 KB of float32: a block and its temporaries stay in L2

    def __init__(self):
        super().__init__(_fast_numpy_namespace())
        self.dtype_names.update({np.dtype(n): n for n in self.dtypes})   # arrays' own spelling
        # NumPy hands back scalars (np.float32, ...) where others give 0-d arrays, e.g. from a
        # full reduction; they behave as 0-d arrays, so they belong to this backend too.
        _by_type[np.ndarray] = self
        for name in DTYPE_NAMES:
            _by_type[np.dtype(name).type] = self

    def copy(self, array):
        return np.array(array)              # an ndarray even from a NumPy scalar, so += works on it

    def index_add(self, shape, index, values):
        """Sort the rows by index and sum each run of equal indices with `add.reduceat`: the same
        sums as np.add.at, which is 2.5-5x slower on an embedding's backward (measured at 768 and
        2,048 rows of 128 and 256 floats)."""
        out = np.zeros(shape, dtype=values.dtype)
        if index.shape[0] == 0:
            return out
        order = np.argsort(index, kind="stable")
        sorted_index = index[order]
        starts = np.flatnonzero(np.concatenate([[True], sorted_index[1:] != sorted_index[:-1]]))
        out[sorted_index[starts]] = np.add.reduceat(values[order], starts, axis=0)
        return out


def _fast_numpy_namespace():
    """NumPy as a namespace, with three functions that the engine calls in every op replaced by
    the same operation minus NumPy's Python-level argument handling (a few microseconds a call,
    which add up over the hundreds of ops of a training step), and a faster copysign. Same
    results, same dtypes."""
    return complete_namespace(np, {
        "sum": lambda x, axis=None, keepdims=False: np.add.reduce(x, axis=axis, keepdims=keepdims),
        "reshape": lambda x, shape: x.reshape(shape),
        "permute_dims": lambda x, axes: x.transpose(axes),
        "copysign": _copysign,
    })


_SIGN_BIT = {np.dtype(np.float32): (np.int32, np.int32(-2**31)),
             np.dtype(np.float64): (np.int64, np.int64(-2**63))}


def _copysign(x1, x2, out=None):
    """np.copysign for two float arrays of one dtype, done on the bits: |x1|'s bits OR x2's sign
    bit. NumPy's own loop costs as much as 10 multiplications (measured on 65,536 float32);
    three integer passes cost 3."""
    if not (isinstance(x1, np.ndarray) and isinstance(x2, np.ndarray) and x1.dtype == x2.dtype
            and x1.dtype in _SIGN_BIT and (out is None or out.dtype == x1.dtype)):
        return np.copysign(x1, x2, out=out)
    ints, sign = _SIGN_BIT[x1.dtype]
    shape = np.broadcast_shapes(x1.shape, x2.shape)
    out = np.empty(shape, x1.dtype) if out is None else out
    bits = out.view(ints)
    np.bitwise_and(x1.view(ints), ~sign, out=bits)
    bits |= np.bitwise_and(x2.view(ints), sign)
    return out


# Elementwise functions that the fast kernels call with NumPy's `out=` (writing into an existing
# array skips a fresh temporary: a third of a pass's cost at 128 KB, measured). NumPy and CuPy
# take `out=`; the array API standard does not, so the strict namespace gets it below.
_TAKE_OUT = ("abs", "add", "subtract", "multiply", "divide", "exp", "copysign", "tanh")


def _writing_to_out(fn):
    """fn with an `out=` keyword: the result computed as usual, then written into out."""
    def with_out(*args, out=None):
        result = fn(*args)
        if out is None:
            return result
        out[...] = result
        return out
    with_out.__name__ = fn.__name__
    return with_out


class StrictBackend(Backend):
    """array_api_strict on its emulated device: the CPU-side proof that the engine would run on CuPy."""

    name = "array_api_strict"
    block_elements = 32768           # blocked like NumPy, so CI runs the blocked loops on a device

    def __init__(self):
        import array_api_strict as xps
        writers = {name: _writing_to_out(getattr(xps, name)) for name in _TAKE_OUT}
        super().__init__(complete_namespace(xps, writers), device=xps.Device("device1"))
        self.host = xps.Device("CPU_DEVICE")

    def to_numpy(self, array):
        return np.asarray(self.xp.asarray(array, device=self.host))

    def asarray(self, data, dtype=None):
        if isinstance(data, np.ndarray) or isinstance(data, np.generic):
            data = self.xp.asarray(data)         # host NumPy -> strict on the host device first
        return super().asarray(data, dtype)

    def copy(self, array):
        return self.xp.asarray(array, copy=True)


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self):
        cupy = _import_cupy()
        import cupyx
        self._cupyx = cupyx
        super().__init__(complete_namespace(cupy))
        self.dtype_names.update({np.dtype(n): n for n in self.dtypes})   # arrays' own spelling

    def to_numpy(self, array):
        return array.get() if hasattr(array, "get") else np.asarray(array)

    def seed(self, seed):
        super().seed(seed)
        self.device_rng = self.xp.random.default_rng(seed)

    def randn(self, shape, dtype):
        return self.device_rng.standard_normal(shape, dtype=dtype)

    def rand(self, shape, dtype):
        return self.device_rng.random(shape, dtype=dtype)

    def index_add(self, shape, index, values):
        out = self.xp.zeros(shape, dtype=values.dtype)
        self._cupyx.scatter_add(out, index, values)
        return out

    def synchronize(self):
        self.xp.cuda.Device().synchronize()


class BackendUnavailable(RuntimeError):
    """The asked-for backend cannot run on this machine; the message says what is missing."""


def _import_cupy():
    """Import CuPy and prove a kernel runs, turning each way it fails into one plain sentence."""
    try:
        import cupy
    except ImportError as e:
        raise BackendUnavailable(
            "backend 'cupy': CuPy is not installed (" + str(e) + "). Install it with "
            "`pip install 'tinyattn[gpu]'` (CUDA 12) or `pip install cupy-cuda13x` (CUDA 13).") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        raise BackendUnavailable(
            f"backend 'cupy': CuPy is installed but sees no usable CUDA driver or device ({e}). "
            "Check `nvidia-smi`; on a machine without an NVIDIA GPU use the numpy backend.") from None
    if count == 0:
        raise BackendUnavailable("backend 'cupy': CuPy is installed but no CUDA device is visible.")
    try:
        cupy.arange(3).sum().item()
    except Exception as e:
        raise BackendUnavailable(
            f"backend 'cupy': a CUDA device is present but running a kernel failed ({e}). This is "
            "usually a CuPy wheel built for another CUDA version than the driver supports: "
            "cupy-cuda12x needs a CUDA 12 driver, cupy-cuda13x a CUDA 13 one.") from None
    return cupy


_FACTORIES = {"numpy": NumpyBackend, "array_api_strict": StrictBackend, "cupy": CupyBackend}
_made = {}
_DEVICE_NAMES = {"cpu": "numpy", "cuda": "cupy"}


def get_backend(name=None):
    """The backend called `name` (made on first use), or the active one when name is None.
    PyTorch's device names work too: "cpu" is numpy, "cuda" is cupy."""
    if name is None:
        return _active
    if isinstance(name, Backend):
        return name
    name = _DEVICE_NAMES.get(name, name)
    if name not in _made:
        if name not in _FACTORIES:
            raise ValueError(f"unknown backend {name!r}; choose one of {sorted(_FACTORIES)}")
        _made[name] = _FACTORIES[name]()
    return _made[name]


def set_backend(name):
    """Make `name` ("numpy", "cupy" or "array_api_strict") the backend new tensors are created on."""
    global _active
    _active = get_backend(name)
    return _active


@contextlib.contextmanager
def use_backend(name):
    """Within the block, new tensors are created on backend `name`; the previous one after."""
    previous = _active
    set_backend(name)
    try:
        yield _active
    finally:
        set_backend(previous)


def backend_of(array):
    """The backend an array belongs to, found from its type (and device, for array_api_strict)."""
    backend = _by_type.get(type(array))
    if backend is None:
        for b in list(_made.values()):
            if isinstance(array, b.array_type):
                _by_type[type(array)] = backend = b
                break
        else:
            raise TypeError(f"{type(array).__name__} is not an array of any tinyattn backend")
    return backend


def namespace(array):
    """The array namespace (`xp`) an array belongs to: how ops find numpy, cupy or strict."""
    backend = _by_type.get(type(array))
    return backend.xp if backend is not None else backend_of(array).xp


def manual_seed(seed):
    """Seed the random numbers of every backend, present and future (initialisation, randn, dropout)."""
    global _seed
    _seed = seed
    for b in _made.values():
        b.seed(seed)


_seed = 0
_by_type = {}
_active = get_backend(os.environ.get("TINYATTN_BACKEND", "numpy"))
