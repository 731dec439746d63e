"""Shared fixtures: the backends every backend-parametrised test runs on, and the PyTorch oracle.

`backend` runs a test on numpy, on array_api_strict (its emulated device, CI's stand-in for a
GPU), and on cupy where CuPy and a CUDA device exist; elsewhere the cupy case is skipped with
the reason CuPy gave. `torch` is the PyTorch module, or the test is skipped without it.
"""
import numpy as np
import pytest

import tinyattn
from tinyattn.backend import BackendUnavailable, get_backend

BACKENDS = ["numpy", "array_api_strict", "cupy"]


def _available(name):
    try:
        get_backend(name)
    except (BackendUnavailable, ImportError) as e:
        return str(e)
    return None


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The name of a backend; the test runs inside `use_backend(name)`."""
    reason = _available(request.param)
    if reason:
        pytest.skip(reason)
    with tinyattn.use_backend(request.param):
        yield request.param


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
