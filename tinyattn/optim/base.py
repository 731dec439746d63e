"""The optimiser base class: parameter groups, per-parameter state, zero_grad.

Subclasses (optimizers.py) implement `step`. See `Optimizer` for how groups and tied weights work.
"""
import warnings
from collections import defaultdict

from ..autograd import enable_grad
from ..tensor import Tensor


class Optimizer:
    """Base class: holds parameter groups and per-parameter state; subclasses define `step`.

    params: an iterable of tensors (e.g. `model.parameters()`, a generator is fine), or a list of
        dicts, each with "params" and any hyper-parameters that differ from `defaults`:
            [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    param_groups: list of dicts, each holding "params" (a list of tensors) and every
        hyper-parameter ("lr", ...). Schedules change a group's "lr" between steps.
    state: dict from parameter to its own state (Adam's moments, SGD's momentum buffer).

    A tensor listed twice (tied weights) is updated once: repeats within a group are dropped, and
    a tensor already in an earlier group is dropped from a later one with a warning (PyTorch
    raises there), keeping the hyper-parameters of the first group it appears in.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("optimizer: params must be an iterable of tensors or of dicts, got one "
                            "Tensor; wrap it in a list: [tensor]")
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = defaultdict(dict)      # as PyTorch: opt.state[p] is {} before p's first step
        groups = list(params)
        if not groups:
            raise ValueError("optimizer: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group (a dict with "params"); missing hyper-parameters come from `defaults`."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"optimizer: a parameter group must be a dict with a 'params' key, got {group!r}")
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen_before = {id(p): i for i, g in enumerate(self.param_groups) for p in g["params"]}
        unique, seen = [], set()
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer: can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if id(p) in seen:
                continue                    # listed twice in this group: update it once
            seen.add(id(p))
            if id(p) in seen_before:
                warnings.warn(f"optimizer: a parameter of shape {p.shape} is already in parameter "
                              f"group {seen_before[id(p)]}; it stays there only and is updated once",
                              stacklevel=3)
                continue
            unique.append(p)
        group["params"] = unique
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients before the next backward (backward accumulates into `.grad`).

        set_to_none=True (PyTorch's default) drops the arrays, which also frees their memory;
        False fills them with zeros instead.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else p.backend.xp.zeros_like(p.grad)

    def step(self, closure=None):
        """One update of every parameter that has a gradient (those whose `.grad` is None are
        skipped). `closure`, if given, re-evaluates the model and returns the loss (PyTorch's
        protocol); step returns that loss."""
        raise NotImplementedError

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {hyper}")
        return "\n".join(lines + [")"])


def _check(condition, message):
    if not condition:
        raise ValueError(message)


def _closure_loss(closure):
    if closure is None:
        return None
    with enable_grad():
        return closure()
