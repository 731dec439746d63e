"""Optimisers: SGD (with momentum), Adam and AdamW, PyTorch's formulas and signatures.

    opt = AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

An update changes each parameter's `.data` array in place: no graph is recorded, the Tensor
objects stay the same (so a model and anything else holding them see the new values), and the
dtype stays what it was. Hyper-parameters are Python floats on purpose: a Python float takes the
array's dtype, while a NumPy float64 scalar would promote a float32 update to float64 (and cost
several times as much).

Speed: an update is a handful of whole-array operations per parameter, in place where the
array API allows it (`a *= c`, `a += b`). NumPy's `out=` buffers were tried and bought nothing
measurable (NumPy's allocator reuses the freed temporaries), so the portable code is the fast code.
"""
import math

from ..engine.versions import count_write
from .base import Optimizer, _check, _closure_loss


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay.

    PyTorch's exact rule, per parameter p with gradient g:
        g = g + weight_decay * p                              (if weight_decay)
        b = g                             on the first step   (if momentum)
        b = momentum * b + (1 - dampening) * g   afterwards
        g = g + momentum * b  if nesterov  else  b
        p = p - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        _check(lr >= 0.0, f"SGD: invalid learning rate {lr}; it must be >= 0")
        _check(momentum >= 0.0, f"SGD: invalid momentum {momentum}; it must be >= 0")
        _check(weight_decay >= 0.0, f"SGD: invalid weight_decay {weight_decay}; it must be >= 0")
        _check(not nesterov or (momentum > 0 and dampening == 0),
               "SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            # float(): a NumPy scalar lr (from a schedule, say) must not promote float32 updates
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if weight_decay != 0.0:
                    g = p.data * weight_decay       # a new array: p.grad itself stays untouched
                    g += p.grad
                if momentum != 0.0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:                 # first step: the buffer is the gradient
                        buf = state["momentum_buffer"] = p.backend.xp.zeros_like(p.data)
                        buf += g
                    else:
                        buf *= momentum
                        buf += g if dampening == 0.0 else g * (1.0 - dampening)
                    if group["nesterov"]:
                        nesterov_g = buf * momentum
                        nesterov_g += g
                        g = nesterov_g
                    else:
                        g = buf
                p.data -= g * lr                    # `p.data -=` (not a local name): works even
                                                    # when the array is an immutable 0-d scalar
                count_write(p)                      # a graph that saved p refuses backward now
        return loss


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with PyTorch's bias correction and L2 weight decay.

    Per parameter p with gradient g, at step t = 1, 2, ...:
        g = g + weight_decay * p                          (L2: the decay goes through the moments)
        m = beta1 * m + (1 - beta1) * g                   m, v start at zero
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    eps sits outside the square root of the bias-corrected v, as in PyTorch. The code computes
    the same quantity with sqrt(1 - beta2^t) moved into the step size, which saves one pass:
        p = p - (lr * sqrt(1 - beta2^t) / (1 - beta1^t)) * m / (sqrt(v) + eps * sqrt(1 - beta2^t))
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = type(self).__name__
        _check(lr >= 0.0, f"{name}: invalid learning rate {lr}; it must be >= 0")
        _check(eps >= 0.0, f"{name}: invalid eps {eps}; it must be >= 0")
        for i, beta in enumerate(betas):
            _check(0.0 <= beta < 1.0, f"{name}: invalid beta{i + 1} {beta}; it must be in [0, 1)")
        _check(weight_decay >= 0.0, f"{name}: invalid weight_decay {weight_decay}; it must be >= 0")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                state = self.state.setdefault(p, {})
                if not state:
                    xp = p.backend.xp
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(p.data)       # m, in the parameter's dtype
                    state["exp_avg_sq"] = xp.zeros_like(p.data)    # v
                state["step"] += 1
                t = state["step"]
                if weight_decay != 0.0:
                    if self.decoupled_weight_decay:
                        p.data *= 1.0 - lr * weight_decay          # AdamW: shrink p directly
                    else:
                        g = p.data * weight_decay                  # Adam: L2 term in the gradient
                        g += p.grad
                m, v = state["exp_avg"], state["exp_avg_sq"]
                # m += (1 - beta1) (g - m): PyTorch's lerp, the same as beta1 m + (1 - beta1) g
                tmp = g - m
                tmp *= 1.0 - beta1
                m += tmp
                # v = beta2 v + (1 - beta2) g^2
                v *= beta2
                tmp = g * g
                tmp *= 1.0 - beta2
                v += tmp
                # bias corrections in Python floats (exact powers, no NumPy scalars)
                bias1, bias2_sqrt = 1.0 - beta1 ** t, math.sqrt(1.0 - beta2 ** t)
                denom = p.backend.xp.sqrt(v)
                denom += eps * bias2_sqrt
                tmp = m / denom
                tmp *= lr * bias2_sqrt / bias1
                p.data -= tmp
                count_write(p)          # a graph that saved p's old values refuses backward now
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as PyTorch's AdamW.

    Before the Adam update of the step, the parameter shrinks directly:
        p = p * (1 - lr * weight_decay)
    instead of the decay being added to the gradient (where Adam's scaling would weaken it for
    parameters with large gradients). The rest is `Adam` with weight_decay=0. Default
    weight_decay=1e-2, as PyTorch.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
