"""Every differentiable Function of tinyattn must be gradient-checked by some test.

conftest.py routes `tinyattn.gradcheck` through `recording_gradcheck`, which notes the Function
classes in each graph it checks. After a run of the whole suite, `unchecked()` names every
Function subclass of the package that no gradcheck saw, and the run fails for it. (A PyTorch
comparison is not detectable this way; tests/oracle.py's check_op runs gradcheck as well.)
"""
import importlib
import pkgutil

from graphs import node_kinds

import tinyattn
from tinyattn.engine.autograd import Function
from tinyattn.engine.extra_ops import FloorDivide
from tinyattn.engine.ops.elementwise import Binary

_real_gradcheck = tinyattn.gradcheck
CHECKED = set()
# Not differentiable, or a base class: floor division has no gradient (PyTorch has none either).
EXEMPT = {Binary, FloorDivide}


def recording_gradcheck(fn, *inputs, **kwargs):
    """tinyattn.gradcheck, noting which Function classes the checked graph holds."""
    def traced(*args):
        out = fn(*args)
        if out.requires_grad:
            CHECKED.update(node_kinds(out))
        return out
    return _real_gradcheck(traced, *inputs, **kwargs)


def all_functions():
    """Every Function subclass defined in the package (all its modules imported first)."""
    for module in pkgutil.walk_packages(tinyattn.__path__, "tinyattn."):
        importlib.import_module(module.name)
    found, stack = set(), [Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__module__.startswith("tinyattn.") and sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


def unchecked():
    return sorted(f"{c.__module__}.{c.__name__}" for c in all_functions() - CHECKED - EXEMPT)
