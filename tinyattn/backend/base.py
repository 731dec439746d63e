"""The Backend class: an array namespace and the extras the array API standard lacks.

Subclasses (numpy_backend.py, strict_backend.py, cupy_backend.py) fill in what their library does
differently; everything here uses only the standard's names, so it runs on all of them.
"""
import types

import numpy as np

from ..kernels.erf import erf

DTYPE_NAMES = ("float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool")

# Standard names some libraries only know by their older NumPy names (CuPy 13, NumPy 2.0).
_ALIASES = {
    "permute_dims": "transpose",
    "concat": "concatenate",
    "pow": "power",
    "cumulative_sum": "cumsum",
    "bool": "bool_",                # CuPy 13 exports only bool_: without it, no mask would work
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
    # elements per chunk for cache-blocked elementwise chains (kernels/cache_blocking.py); None: whole arrays
    chunk_elements = None
    # True where arrays live in the host's memory, so reading a value into Python waits for no
    # device: code that would otherwise stay on the device may then look and skip work
    on_host = False

    def __init__(self, xp, device=None):
        self.xp = xp
        self.device = device
        # keyword arguments that put a new array on this backend's device; CuPy 13's creation
        # functions take no `device`, so it is passed only where there is one to name
        self.place = {} if device is None else {"device": device}
        self.array_type = type(xp.zeros(0))
        self.array_types = (self.array_type,)     # the types backend_of recognises at once
        self.dtypes = {n: getattr(xp, n) for n in DTYPE_NAMES if hasattr(xp, n)}
        self.dtype_names = {dt: n for n, dt in self.dtypes.items()}
        self.seed(0)

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
        return self.asarray(self.rng.standard_normal(shape, dtype=drawn_dtype(dtype)), dtype)

    def rand(self, shape, dtype):
        return self.asarray(self.rng.random(shape, dtype=drawn_dtype(dtype)), dtype)

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

    def erf(self, x):
        """The error function, elementwise (the standard has none; kernels/erf.py says how)."""
        return erf(self.xp, x)

    def synchronize(self):
        """Wait for queued device work (a no-op on the CPU); benchmarks call it before reading a clock."""


def drawn_dtype(dtype):
    """The dtype NumPy's generator draws samples of `dtype` in: it has no float16 sampler."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32



class BackendUnavailable(RuntimeError):
    """The asked-for backend cannot run on this machine; the message says what is missing."""
