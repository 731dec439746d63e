"""CuPy: the same code on an NVIDIA GPU. Importing this module needs no CuPy; making the backend does."""
import numpy as np

from .base import Backend, BackendUnavailable, complete_namespace, drawn_dtype


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self, modules=None):
        """modules: (cupy, cupyx); by default CuPy's, imported and probed. Tests without a GPU
        pass stand-ins that behave as CuPy does (tests/cupy_double.py)."""
        cupy, self._cupyx = modules or _import_cupy()
        super().__init__(complete_namespace(cupy))
        self.dtype_names.update({np.dtype(n): n for n in self.dtypes})   # arrays' own spelling

    def to_numpy(self, array):
        return array.get() if hasattr(array, "get") else np.asarray(array)

    def seed(self, seed):
        super().seed(seed)
        self.device_rng = self.xp.random.default_rng(seed)

    def randn(self, shape, dtype):
        # CuPy's generator refuses float16 (and mis-filled it before 13.4): draw in float32, as
        # the NumPy backend does, and round
        return self.xp.astype(self.device_rng.standard_normal(shape, dtype=drawn_dtype(dtype)), dtype)

    def rand(self, shape, dtype):
        return self.xp.astype(self.device_rng.random(shape, dtype=drawn_dtype(dtype)), dtype)

    def index_add(self, shape, index, values):
        out = self.xp.zeros(shape, dtype=values.dtype)
        self._cupyx.scatter_add(out, index, values)
        return out

    def synchronize(self):
        self.xp.cuda.Device().synchronize()


def _import_cupy():
    """Import CuPy and prove that a kernel, cupyx and the random generator work, turning each way
    it fails into one plain sentence. Returns (cupy, cupyx)."""
    try:
        import cupy
    except ImportError as e:
        if getattr(e, "name", None) == "cupy":
            raise BackendUnavailable(
                "backend 'cupy': CuPy is not installed (" + str(e) + "). Install it with "
                "`pip install 'tinyattn[gpu]'` (CUDA 12) or `pip install cupy-cuda13x` (CUDA 13).") from None
        raise BackendUnavailable(                  # CuPy re-raises a broken install as ImportError
            f"backend 'cupy': CuPy is installed but failed to import ({e}). Reinstall one CuPy wheel "
            "only (pip uninstall every cupy-* package first), matching your CUDA version.") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        raise BackendUnavailable(
            f"backend 'cupy': CuPy is installed but sees no usable CUDA driver or device ({e}): no "
            "NVIDIA GPU, or a driver older than the CUDA version of this CuPy wheel (12 for "
            "cupy-cuda12x, 13 for cupy-cuda13x). Check `nvidia-smi`; on a machine without an NVIDIA "
            "GPU use the numpy backend.") from None
    if count == 0:
        raise BackendUnavailable("backend 'cupy': CuPy is installed but no CUDA device is visible.")
    try:
        cupy.arange(3).sum().item()
    except Exception as e:
        raise BackendUnavailable(
            f"backend 'cupy': a CUDA device is present but running a kernel failed ({e}). This is "
            "usually a CuPy wheel built for a newer CUDA than the driver supports: a driver runs "
            "wheels of its CUDA version and older (a CUDA 13 driver runs cupy-cuda12x), so "
            "cupy-cuda13x needs a CUDA 13 driver.") from None
    try:
        import cupyx
        cupy.random.default_rng(0).standard_normal((1,), dtype=cupy.float32)
    except Exception as e:
        raise BackendUnavailable(f"backend 'cupy': CuPy runs a kernel, but cupyx or its random "
                                 f"generator failed ({e}); reinstall CuPy.") from None
    return cupy, cupyx
