"""Which array library computes: NumPy (default), CuPy (GPU), or array_api_strict (CI's GPU stand-in).

A backend is an array namespace `xp` plus the few extras the array API standard does not cover:
random numbers, scatter-add, erf, moving data to and from the host, and synchronisation. Engine code
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

Read base.py first (the Backend: the namespace and its extras), then numpy_backend.py; the
strict and CuPy backends differ only where their libraries do. This file is the registry: which
backend is active, and which backend an array belongs to.
"""
import contextlib
import os

from .base import DTYPE_NAMES, Backend, BackendUnavailable, complete_namespace
from .cupy_backend import CupyBackend
from .numpy_backend import NumpyBackend
from .strict_backend import StrictBackend

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
        made = _FACTORIES[name]()
        made.seed(_seed)
        for kind in made.array_types:
            _by_type[kind] = made
        _made[name] = made
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
_by_type = {}            # array type -> its backend (array_api_strict's arrays are found by isinstance)
_active = get_backend(os.environ.get("TINYATTN_BACKEND", "numpy"))
