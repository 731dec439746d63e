"""array_api_strict on its emulated device: the CPU-side proof that the engine would run on CuPy."""
import numpy as np

from ..kernels.fast_numpy import with_out_keywords
from .base import Backend, complete_namespace


class StrictBackend(Backend):
    """array_api_strict on its emulated device: the CPU-side proof that the engine would run on CuPy."""

    name = "array_api_strict"
    chunk_elements = 32768           # chunked like NumPy, so CI runs the chunked loops on a device

    def __init__(self):
        import array_api_strict as xps
        super().__init__(complete_namespace(xps, with_out_keywords(xps)), device=xps.Device("device1"))
        self.host = xps.Device("CPU_DEVICE")

    def to_numpy(self, array):
        return np.asarray(self.xp.asarray(array, device=self.host))

    def asarray(self, data, dtype=None):
        if isinstance(data, np.ndarray) or isinstance(data, np.generic):
            data = self.xp.asarray(data)         # host NumPy -> strict on the host device first
        return super().asarray(data, dtype)

    def copy(self, array):
        return self.xp.asarray(array, copy=True)
