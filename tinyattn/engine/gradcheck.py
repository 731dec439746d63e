"""Check a backward against finite differences: the test every differentiable op must pass.

For a function f and a random upstream gradient u (not all ones, which hides transposed or
mis-summed gradients), define the scalar L(x) = sum(f(x) * u). Backward gives dL/dx for every
input; central differences give the same thing numerically:

    dL/dx_i  ~=  (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)        error O(eps^2)

Everything runs in float64: in float32 the rounding error of L, about 1e-7 * |L| / eps, would be
larger than the differences being measured. In float64, with eps = 1e-6, a difference is off by
L's rounding, 1.1e-16 * |L| / eps ~ 1e-10 |L|, plus the truncation eps^2 |f'''| / 6 ~ 1e-13: the
defaults atol = 1e-7 and rtol = 1e-6 hold for |L| up to about 1,000, while a wrong gradient (off
by a factor, a sign, a transposition) misses them by orders of magnitude.

The bookkeeping (perturbing one element, summing L) happens on host NumPy copies, which every
backend can give and take; fn itself runs on the inputs' own backend.
"""
import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """A gradient disagrees with finite differences; the message says where and by how much."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-7, rtol=1e-6, directional=False, seed=0):
    """Compare fn's analytic gradients with central differences, for every input that requires grad.

    fn:          takes the inputs (Tensors or other values, passed through) and returns a Tensor
    directional: instead of one pair of evaluations per element, compare one random direction
                 per input: (L(x + eps d) - L(x - eps d)) / 2 eps  vs  <dL/dx, d>. Two evaluations
                 per input whatever its size: cheap for large inputs, less precise in what it names.
    Returns True, or raises GradcheckError naming the input and its worst element.
    """
    rng = np.random.default_rng(seed)
    # floating tensors become float64 copies; integer ids, boolean masks and the rest pass through
    inputs = [x.detach().double().requires_grad_(x.requires_grad)
              if isinstance(x, Tensor) and x.dtype.startswith("float") else x for x in inputs]
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")

    out = fn(*inputs)
    upstream = rng.standard_normal(out.shape)
    out.backward(out.backend.asarray(upstream, "float64"))
    analytic = {i: _grad_or_zeros(inputs[i]) for i in checked}

    def loss(values):
        with no_grad():
            y = fn(*[Tensor(values[i], backend=x.backend) if i in values else x
                     for i, x in enumerate(inputs)])
        return float(np.sum(y.numpy() * upstream))

    for i in checked:
        x0 = inputs[i].numpy().astype(np.float64)
        if directional:
            d = rng.standard_normal(x0.shape)
            numeric = (loss({i: x0 + eps * d}) - loss({i: x0 - eps * d})) / (2 * eps)
            expected = float(np.sum(analytic[i] * d))
            if not abs(numeric - expected) <= atol + rtol * abs(numeric):
                raise GradcheckError(f"gradcheck: input {i} (shape {x0.shape}): directional derivative "
                                     f"from backward {expected:.6g} vs finite differences {numeric:.6g}")
            continue
        numeric = np.zeros_like(x0)
        for j in range(x0.size):
            step = np.zeros(x0.size)
            step[j] = eps
            step = step.reshape(x0.shape)
            numeric.flat[j] = (loss({i: x0 + step}) - loss({i: x0 - step})) / (2 * eps)
        _compare(i, analytic[i], numeric, atol, rtol)
    return True


def _grad_or_zeros(x):
    """The input's gradient on the host; zeros where backward sent none (it was not used)."""
    if x.grad is None:
        return np.zeros(x.shape)
    return x.backend.to_numpy(x.grad)


def _compare(i, analytic, numeric, atol, rtol):
    if analytic.shape != numeric.shape:
        raise GradcheckError(f"gradcheck: input {i}: backward gave a gradient of shape {analytic.shape}, "
                             f"the input has shape {numeric.shape}")
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if np.all(excess <= 0):
        return
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    bad = int(np.sum(excess > 0))
    raise GradcheckError(
        f"gradcheck: input {i} (shape {numeric.shape}): {bad} of {numeric.size} elements disagree; "
        f"worst at index {tuple(int(k) for k in worst)}: backward {analytic[worst]:.6g}, "
        f"finite differences {numeric[worst]:.6g} (atol={atol}, rtol={rtol})")
