"""The oracle check every primitive goes through: ours against PyTorch on identical inputs.

    check_op(torch, [(3, 1, 4), (5, 4)], lambda a, b: a * b)

builds the inputs with NumPy, runs the expression on tinyattn tensors of the active backend and
on torch tensors holding the same values, backpropagates the same random upstream gradient
through both, and compares the output and the gradient of every input (values, shapes, dtypes,
and that ours stayed on the backend). In float64 it also runs `tinyattn.gradcheck`, so one line
checks an op all three ways when the test runs under the `backend` fixture.

The expression is written once when both libraries spell it the same (`x.exp()`, `a @ b`);
otherwise pass torch's and ours separately. Not a conftest: other test files import it.
"""
import numpy as np

import tinyattn
from tinyattn.backend import backend_of

# Default tolerances for ours vs PyTorch. Both compute the same formula in the same precision,
# so they differ only by rounding in another order (summation order in reductions, matmul and
# broadcast gradients; sigmoid via tanh): a few ulps of the terms involved, never a wrong formula.
#   float64: eps 1.1e-16; inputs are O(1) and at most ~40 terms are summed, so 1e-10 relative
#            leaves a margin of 1e4 while any wrong formula is off by far more; atol 1e-12 for
#            results that cancel to ~0.
#   float32: eps 6e-8; elementwise results agree to 1-2 ulps (2e-7), sums over a broadcast
#            batch and matmul (<= 10 terms of size <= 4) to ~1e-6 on these inputs. 1e-5 relative
#            keeps a 10x margin; atol 1e-6 for results that cancel to ~0.
TOLERANCE = {"float64": (1e-10, 1e-12), "float32": (1e-5, 1e-6)}


def uniform(shape, low=-2.0, high=2.0, seed=1):
    """Random values in [low, high): smooth ops are tested away from any special point."""
    return np.asarray(np.random.default_rng(seed).uniform(low, high, shape))


def away_from_zero(shape, seed=1):
    """Random values of either sign with 0.5 <= |v| < 2: divisors and negative powers."""
    rng = np.random.default_rng(seed)
    return np.asarray(rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape))


def positive(shape, seed=1):
    """Random values in [0.5, 2): for log, sqrt and fractional powers."""
    return uniform(shape, 0.5, 2.0, seed)


def check_op(torch, inputs, torch_fn, our_fn=None, *, dtype="float64", rtol=None, atol=None,
             gradcheck=True, gradcheck_eps=1e-6, gradcheck_tol=None, seed=0):
    """Compare `our_fn` (default: `torch_fn`) with PyTorch's `torch_fn`, forward and backward.

    inputs:    one entry per argument: a shape (filled with uniform values in [-2, 2)) or a
               NumPy array of values. Every input requires grad.
    dtype:     "float64" or "float32"; tolerances default to TOLERANCE[dtype].
    gradcheck: also run tinyattn.gradcheck (float64 only); turn off only at kinks (ties of
               max/maximum, relu at 0), where finite differences have no single answer.
    gradcheck_eps, gradcheck_tol: its step, and a dict of atol/rtol where the function itself
               rounds (a cast to float32) and gradcheck's float64 defaults cannot hold.
    Returns our output.
    """
    our_fn = our_fn or torch_fn
    default_rtol, default_atol = TOLERANCE[dtype]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(rng.uniform(-2.0, 2.0, x) if isinstance(x, tuple) else x, dtype=dtype)
              for x in inputs]

    ours = [tinyattn.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = our_fn(*ours), torch_fn(*theirs)
    upstream = rng.standard_normal(tuple(expected.shape))
    out.backward(tinyattn.tensor(upstream, dtype=out.dtype))
    expected.backward(torch.tensor(upstream, dtype=expected.dtype))

    backend = tinyattn.get_backend()
    _compare("forward", out.data, expected, backend, rtol, atol)
    for i, (x, t) in enumerate(zip(ours, theirs)):
        grad = x.grad if x.grad is not None else backend.zeros(x.shape, x.data.dtype)
        _compare(f"grad of input {i}", grad, t.grad if t.grad is not None else torch.zeros_like(t),
                 backend, rtol, atol)

    if gradcheck and dtype == "float64":
        tinyattn.gradcheck(our_fn, *[tinyattn.tensor(a, requires_grad=True) for a in arrays],
                           eps=gradcheck_eps, **(gradcheck_tol or {}))
    return out


def _compare(what, array, expected, backend, rtol, atol):
    """One array of ours against torch's: same backend (and device), shape, dtype and values."""
    assert backend_of(array) is backend, f"{what}: ended up on {backend_of(array).name}, not {backend.name}"
    if backend.device is not None:
        assert array.device == backend.device, f"{what}: on device {array.device}, not {backend.device}"
    assert tuple(array.shape) == tuple(expected.shape), \
        f"{what}: shape {tuple(array.shape)}, torch has {tuple(expected.shape)}"
    torch_dtype = str(expected.dtype).removeprefix("torch.")
    assert backend.dtype_names[array.dtype] == torch_dtype, \
        f"{what}: dtype {backend.dtype_names[array.dtype]}, torch has {torch_dtype}"
    np.testing.assert_allclose(backend.to_numpy(array), expected.detach().numpy(),
                               rtol=rtol, atol=atol, err_msg=what)
