"""The two checks every op shares: its inputs live on one backend, and a failure keeps its kind.

Function.apply calls them (autograd.py): arrays of two backends cannot meet in one op (NumPy would
convert a CuPy array silently, or CuPy refuse with a message about devices), and when a forward
fails, the clearer message it gets keeps the exception's kind, so `except ValueError` still works.
"""
from ..backend import backend_of


def check_same_backend(op, arrays):
    """Raise a TypeError naming the op and the backends when the arrays belong to different ones."""
    first = backend_of(arrays[0])
    for a in arrays[1:]:
        if backend_of(a) is not first:
            names = ", ".join(backend_of(x).name for x in arrays)
            raise TypeError(f"{op}: inputs live on different backends ({names}); "
                            "move them to one with `.to(backend)` first")


def same_kind(error, message):
    """An exception of error's type carrying `message`; of its nearest built-in base type (e.g.
    TypeError) when that type cannot be made from a message alone, as NumPy's casting errors."""
    try:
        return type(error)(message)
    except TypeError:
        return next(kind for kind in type(error).__mro__ if kind.__module__ == "builtins")(message)
