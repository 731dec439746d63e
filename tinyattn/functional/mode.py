"""Reference mode: run the readable compositions instead of the fused and fast paths.

By default F.softmax, F.cross_entropy, F.layer_norm, F.gelu, F.linear and multi-head
attention's causal self-attention run fused Functions (one node each, a hand-derived backward,
kernels/ underneath). Inside `reference_mode()` they run their twins from
functional/reference.py and attention/scaled_dot_product.py instead: compositions of the
engine's primitives, the code a learner reads, now the code that runs. Both compute the same
numbers (the tests hold them to it).

    with tinyattn.reference_mode():            # or @tinyattn.reference_mode() on a function,
        loss = F.cross_entropy(model(x), y)    # or TINYATTN_REFERENCE=1 for a whole run
    loss.backward()                            # the graph holds primitive nodes only

`reference_mode(False)` switches it off again inside a block.
"""
import contextlib
import os

_reference = os.environ.get("TINYATTN_REFERENCE", "0") not in ("", "0")


def is_reference_mode():
    """True inside reference_mode(): functional and attention take their readable paths."""
    return _reference


class reference_mode(contextlib.ContextDecorator):   # noqa: N801  (used like no_grad())
    """Context manager (and decorator): within it, every fused or fast path takes its readable
    composition of primitives (enabled=True, the default) or, with enabled=False, does not."""

    def __init__(self, enabled=True):
        self.enabled = bool(enabled)
        self.previous = []      # a stack: a decorated function may call itself

    def __enter__(self):
        global _reference
        self.previous.append(_reference)
        _reference = self.enabled
        return self

    def __exit__(self, *exc):
        global _reference
        _reference = self.previous.pop()
