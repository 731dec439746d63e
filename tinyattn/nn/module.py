"""Module and Parameter: how a model keeps its weights, as in PyTorch.

A Module registers what is assigned to it: a Parameter (a weight to train), another Module (a
layer inside it), or, through `register_buffer`, a tensor that is state but not trained (a
positional table, a mask). From these it knows its parameters in a fixed order, can save and
load them by name (`state_dict`), switch dropout on and off (`train` / `eval`), and move
everything to another backend (`to`).
"""
from collections import OrderedDict, namedtuple

import numpy as np

from ..backend import DTYPE_NAMES, backend_of
from ..engine.tensor import Tensor


class Parameter(Tensor):
    """A tensor that is a weight of a module: it requires grad and is returned by parameters()."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


class Module:
    """Base class of every layer and model: subclasses set attributes in __init__ and define forward."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning "
                                 "attributes")
        home = self._parameters if isinstance(value, Parameter) else \
            self._modules if isinstance(value, Module) else None
        if name in self._buffers and home is None:
            # as in PyTorch, assigning to a buffer's name updates the buffer (self.steps = ...)
            _check_assignment(self, name, value, Tensor, "buffer", "a Tensor")
            self._buffers[name] = value
            return
        if name in self._parameters and home is None:
            # a plain tensor in a parameter's place would silently leave parameters(),
            # state_dict() and the optimiser
            _check_assignment(self, name, value, Parameter, "parameter", "nn.Parameter")
        for table in (self._parameters, self._buffers, self._modules):
            if table is not home:
                table.pop(name, None)
        if home is None:
            object.__setattr__(self, name, value)
            return
        # replacing keeps the old entry's place, as in PyTorch: tying `head.weight = emb.weight`
        # must not move head.weight after head.bias in parameters() and state_dict()
        home[name] = value
        self.__dict__.pop(name, None)

    def __getattr__(self, name):      # only called when normal lookup fails
        for table in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(table, {})
            if name in found:
                return found[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor, persistent=True):
        """Keep `tensor` as state that is not trained: moved by `to`, and saved in state_dict
        unless persistent=False."""
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._persistent.add(name)
        else:
            self._persistent.discard(name)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- walking the tree ---------------------------------------------------------------------
    def named_modules(self, prefix="", remove_duplicate=True):
        """(name, module) for this module and every module inside it, depth first; a module
        reachable under two names comes once, unless remove_duplicate=False (as in PyTorch)."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        """(name, module) for the modules directly inside this one; one assigned under two names
        comes once, under its first (as PyTorch)."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, table, prefix, recurse):
        """(dotted name, tensor) from the `table` ("_parameters" or "_buffers") of this module and,
        if recurse, every module inside it; a tensor held twice (tied weights) comes once."""
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        seen = set()
        for module_prefix, module in modules:
            for name, t in getattr(module, table).items():
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    yield (f"{module_prefix}.{name}" if module_prefix else name), t

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, parameter) in registration order; a parameter shared by two modules
        (tied weights) appears once, under its first name, so an optimiser updates it once.
        prefix goes before every name; recurse=False gives this module's own parameters only."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix="", recurse=True):
        """(dotted name, buffer), like named_parameters, persistent or not."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    # -- modes and gradients -------------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active) for this module and all inside it."""
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: mode must be True or False, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Evaluation mode: dropout off. (Gradients are still recorded: use tinyattn.no_grad().)"""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of every parameter before the next backward (which accumulates).

        set_to_none=True (PyTorch's default) drops the arrays and frees their memory; False fills
        them with zeros of the same shape and dtype instead, as Optimizer.zero_grad does.
        """
        for p in self.parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else p.backend.xp.zeros_like(p.grad)

    def requires_grad_(self, requires_grad=True):
        """Switch gradient collection on or off for every parameter (freezing a layer: its
        parameters stop getting .grad, so the optimiser leaves them alone); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn):
        """Call fn(module) on every module inside this one, then on this one (children first, as
        PyTorch), e.g. to initialise weights by layer type; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, target=None, dtype=None):
        """Move every parameter and buffer to a backend and/or dtype, in place; returns self.
        Parameters stay the same objects, so an optimiser made before still updates them, and
        their gradients move with them. Integer buffers keep their dtype (as PyTorch): only
        floating-point state is cast."""
        if target in DTYPE_NAMES:       # m.to("float64"): a dtype, not a backend
            target, dtype = None, target
        for m in self.modules():
            for p in m._parameters.values():
                if p.grad is not None:
                    p.grad = Tensor._make(p.grad, False, None).to(target, dtype).data
                p.data = p.to(target, dtype).data
            for name, b in m._buffers.items():
                if b is not None:
                    floating = b.dtype.startswith("float")
                    m._buffers[name] = b.to(target, dtype if floating else None).detach()
        return self

    # -- saving and loading --------------------------------------------------------------------
    def state_dict(self):
        """Every parameter and persistent buffer by dotted name (tied weights and shared modules
        under each of their names, as PyTorch), as detached tensors sharing the module's arrays."""
        state = OrderedDict()
        for prefix, module in self.named_modules(remove_duplicate=False):
            dot = f"{prefix}." if prefix else ""
            for name, p in module._parameters.items():
                state[dot + name] = p.detach()
            for name, b in module._buffers.items():
                if name in module._persistent and b is not None:
                    state[dot + name] = b.detach()
        return state

    def load_state_dict(self, state, strict=True):
        """Copy values into the parameters and buffers of the same names.

        Values may be tensors, NumPy arrays or arrays of any backend; they are converted to
        each parameter's backend and dtype. Every problem (missing keys, unexpected keys, values
        that are not arrays of numbers, wrong shapes, floats an integer buffer cannot hold
        exactly) is reported in one error, and nothing is changed unless everything fits.
        Returns (missing_keys, unexpected_keys), both empty unless strict=False let them pass.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        # a list, a string or a number is no array (PyTorch, too, refuses them, naming the key)
        reasons = {k: _not_an_array(state[k]) for k in own if k in state}
        not_arrays = [f"{k}: {reason}" for k, reason in reasons.items() if reason]
        wrong = [f"{k}: checkpoint {tuple(_shape(state[k]))}, model {own[k].shape}"
                 for k, reason in reasons.items() if not reason and _shape(state[k]) != own[k].shape]
        inexact = [f"{k}: {reason}" for k in reasons
                   if not reasons[k] and (reason := _not_whole_numbers(state[k], own[k]))]
        problems = []
        if not_arrays:
            problems.append("values that are not numeric arrays: " + "; ".join(not_arrays))
        if inexact:
            problems.append("floats that an integer tensor cannot hold: " + "; ".join(inexact))
        if missing and strict:
            problems.append("missing keys: " + ", ".join(missing))
        if unexpected and strict:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if wrong:
            problems.append("shape mismatches: " + "; ".join(wrong))
        if problems:
            raise RuntimeError(f"load_state_dict into {type(self).__name__}: " + " | ".join(problems))
        # Everything fits: copy the values in one at a time, dropping our own reference to each
        # old array as its copy arrives, so that it can be freed (converting them all first would
        # hold two models at once: for GPT-2 124M, 500 MB more).
        for prefix, module in self.named_modules(remove_duplicate=False):
            dot = f"{prefix}." if prefix else ""
            for name, p in module._parameters.items():
                if dot + name in state:
                    p.data = _as_array(state[dot + name], own.pop(dot + name))
            for name in module._buffers:
                if dot + name in state:
                    value = _as_array(state[dot + name], own.pop(dot + name))
                    module._buffers[name] = Tensor._make(value, False, None)
        return IncompatibleKeys(missing, unexpected)

    # -- printing --------------------------------------------------------------------------------
    def extra_repr(self):
        """What to show in parentheses after the class name (sizes, options)."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        count = self.num_parameters()
        return head + "\n  " + "\n  ".join(lines) + f"\n)  # {count:,} parameters"


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _check_assignment(module, name, value, kind, what, expected):
    """PyTorch's rule: a registered parameter or buffer name takes only its own kind, or None."""
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{type(module).__name__}: cannot assign {type(value).__name__} as {what} "
                        f"{name!r} ({expected} or None expected)")


def _not_an_array(value):
    """Why `value` cannot be loaded into a parameter or buffer, or None if it can: a Tensor, an
    array of booleans or real numbers (NumPy's, CuPy's), or an array of another backend."""
    if isinstance(value, Tensor):
        return None
    kind = getattr(getattr(value, "dtype", None), "kind", None)    # NumPy and CuPy dtypes
    if kind is not None:
        return None if kind in "biuf" else f"an array of {value.dtype}"
    try:
        backend_of(value)
    except TypeError:
        return f"a {type(value).__name__}, not an array"
    return None


def _not_whole_numbers(value, like):
    """Why float `value` would not load exactly into integer tensor `like`, or None if it would.
    PyTorch's copy_ truncates (1.7 -> 1, -2.5 -> -2, nan -> -2**63) without a word; here a
    whole number (a counter saved as float, 3.0) loads, anything else is refused. Loading is no
    training step, so reading the values on the host costs nothing that matters."""
    if not like.dtype.startswith(("int", "uint")):
        return None
    values = value if isinstance(value, Tensor) else Tensor(value)
    if not values.dtype.startswith("float"):
        return None
    host = values.numpy()
    limits = np.iinfo(like.dtype)
    exact = np.isfinite(host) & (host == np.trunc(host)) & (host >= limits.min) & (host <= limits.max)
    if exact.all():
        return None
    example = host[~exact][0]
    return f"{values.dtype} values such as {example} are not whole numbers an {like.dtype} tensor holds"


def _shape(value):
    return tuple(value.shape)


def _as_array(value, like):
    """`value` as an array of the backend and dtype of tensor `like`, always a copy of its own
    (as PyTorch's copy_: a model must not share arrays with the dict it was loaded from)."""
    return like.backend.copy(Tensor(value, dtype=like.dtype, backend=like.backend).data)
