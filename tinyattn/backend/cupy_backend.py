"""CuPy: the same code on an NVIDIA GPU. Importing this module needs no CuPy; making the backend does."""
import numpy as np

from .base import Backend, BackendUnavailable, complete_namespace, drawn_dtype


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
