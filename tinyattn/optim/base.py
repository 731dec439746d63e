"""The optimiser base class: parameter groups, per-parameter state, zero_grad, state_dict.

Subclasses (optimizers.py) implement `step`. See `Optimizer` for how groups and tied weights work.
"""
import warnings
from collections import defaultdict

from ..backend import backend_of
from ..engine.autograd import enable_grad
from ..engine.tensor import Tensor
from ..nn.module import _as_array


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

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self):
        """Everything needed to resume training, shaped as PyTorch's:

            {"state": {index: {"exp_avg": Tensor, ..., "step": n}},
             "param_groups": [{"lr": ..., "betas": ..., "params": [0, 1, ...]}, ...]}

        Parameters are named by their position across all groups (0, 1, ... in group order),
        not by object, so the dict can be loaded into a fresh optimiser over a fresh model.
        Parameters that have not been updated yet have no entry in "state".

        The arrays are copies (PyTorch hands out references): every step updates the moments in
        place, so a checkpoint held in memory would otherwise keep changing after it was taken.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(saved)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if self.state.get(p):
                    state[index[id(p)]] = {name: _copy(value) for name, value in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what `state_dict` returned (from this optimiser or a fresh one over the same
        kind of model): the hyper-parameters of every group and each parameter's state.

        Arrays may be tensors, NumPy arrays (from `tinyattn.load`) or arrays of any backend;
        they are copied onto each parameter's current backend and dtype, so a dict saved before
        `model.to(...)` loads after it. Group count, group sizes and array shapes must match;
        any mismatch raises before anything changes.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and "
                             f"'param_groups' (from Optimizer.state_dict()), got {keys}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the checkpoint has {len(saved_groups)} "
                             f"parameter groups, this optimizer {len(self.param_groups)}")
        sizes = [len(g["params"]) for g in self.param_groups]
        saved_sizes = [len(g["params"]) for g in saved_groups]
        if sizes != saved_sizes:
            raise ValueError(f"{name}.load_state_dict: parameter group sizes differ: checkpoint "
                             f"{saved_sizes}, this optimizer {sizes}")
        # the checkpoint's index -> our parameter, pairing the groups' lists in order
        params = {i: p for saved, group in zip(saved_groups, self.param_groups)
                  for i, p in zip(saved["params"], group["params"])}
        new_state = {}
        for i, saved in state_dict["state"].items():
            i = int(i)                  # JSON-like round trips turn keys into strings
            if i not in params:
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, which no "
                                 f"group lists")
            p = params[i]
            entry = {}
            for key, value in saved.items():
                if key == "step":
                    entry[key] = int(value)
                    continue
                if tuple(value.shape) != p.shape:
                    raise ValueError(f"{name}.load_state_dict: parameter {i}'s {key!r} has shape "
                                     f"{tuple(value.shape)}, but the parameter has shape {p.shape}")
                entry[key] = _as_array(value, p)
            new_state[p] = entry
        # everything checked: now change the optimizer
        for saved, group in zip(saved_groups, self.param_groups):
            for key, value in saved.items():
                if key != "params":
                    # a list from a JSON file where the group holds a tuple (betas)
                    group[key] = tuple(value) if isinstance(group.get(key), tuple) else value
        self.state = defaultdict(dict, new_state)

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


def _copy(value):
    """A state entry as it goes into a state_dict: arrays become detached Tensors of their own."""
    if isinstance(value, (int, float, bool)):
        return value
    return Tensor._make(backend_of(value).copy(value), False, None)


def _check(condition, message):
    if not condition:
        raise ValueError(message)


def _closure_loss(closure):
    if closure is None:
        return None
    with enable_grad():
        return closure()
