"""Reverse-mode automatic differentiation: Function nodes, grad mode, and the backward pass.

A `Function` is a forward and a backward on raw backend arrays. `Function.apply(*tensors)` runs
the forward and, when grad mode is on and some input requires grad, records the node on the
output tensor, so the graph is built as the program runs ("define by run").

`backward(root)` then visits the nodes in reverse topological order, hands each node the gradient
of the root with respect to the node's output, and receives the gradients with respect to its
inputs (the chain rule, one node at a time). Gradients of leaf tensors accumulate in `.grad`.
"""
import contextlib

from . import versions
from .errors import check_same_backend, same_kind

_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager (and decorator) that sets grad mode on entry and restores it on exit."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.previous = []      # a stack: a function decorated with @no_grad() may call itself

    def __enter__(self):
        global _grad_enabled
        self.previous.append(_grad_enabled)
        _grad_enabled = self.enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.previous.pop()


def no_grad():
    """Within the block no graph is recorded: for evaluation and for optimiser updates."""
    return _GradMode(False)


def enable_grad():
    """Within the block graphs are recorded again, even inside `no_grad()`."""
    return _GradMode(True)


class Function:
    """One differentiable operation. Subclasses define `forward` and `backward` on arrays.

    forward(*arrays, **params) -> array     keeps what backward needs in `self.saved`
    backward(grad) -> one gradient per input (or None where no gradient is needed)

    `self.needs_grad[i]` tells backward whether input i wants a gradient, so it can skip work.
    The node is small on purpose (`__slots__`): a training step creates hundreds of them.
    What backward reads, and so must not be written before it runs, is declared (versions.py).
    """

    __slots__ = ("inputs", "saved", "needs_grad", "versions")
    saves_inputs = True     # backward reads the inputs' values (False: only their shapes)
    saves_output = False    # backward reads the output's values (exp, tanh, softmax)
    view = False            # the output may share the first input's array (reshape, x[1:])

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the forward on the inputs' arrays; record the node when a gradient will be needed."""
        fn = cls()
        arrays = [t.data for t in inputs]
        if len(arrays) > 1:
            check_same_backend(cls.__name__.lower(), arrays)
        try:
            out = fn.forward(*arrays, **params)
        except Exception as e:
            cls.explain_failure(e, *inputs, **params)
            raise
        # The output is made by the first input's `_make` (always a plain Tensor): autograd sits
        # below tensor.py and never imports it, so the engine's imports go one way, with no cycle.
        needs = [t.requires_grad for t in inputs]
        recorded = _grad_enabled and True in needs
        result = inputs[0]._make(out, recorded, fn if recorded else None)
        if cls.view:
            versions.share_counter(result, inputs[0])
        if recorded:
            fn.inputs, fn.needs_grad = inputs, needs
            if cls.saves_inputs or cls.saves_output:
                fn.versions = versions.snapshot(cls, inputs, result)
        return result

    @classmethod
    def explain_failure(cls, error, *inputs, **params):
        """Called when the forward raised: raise a clearer error naming the op, shapes and dtypes.

        Checks live here, on the failure path, so a call that works pays nothing for them.
        The default describes the inputs; ops with a rule of their own (matmul) override it.
        """
        described = ", ".join(f"{t.shape} {t.dtype}" for t in inputs)
        raise same_kind(error, f"{cls.__name__.lower()}: failed on inputs {described}: {error}") from error

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


def backward(root, grad, retain_graph=False):
    """Backpropagate from `root`: fill `.grad` of every leaf tensor that requires grad.

    grad: the gradient of some scalar with respect to root, an array of root's shape and dtype
    (Tensor.backward checks what the user passed and makes it one; 1 for a scalar root). The
    graph's saved arrays are released afterwards unless `retain_graph=True`, so memory does
    not grow across training steps.
    """
    if root.creator is None:             # a leaf: its gradient is the given one
        _accumulate_leaf(root, grad)
        return
    grads = {id(root): grad}
    for t in _topological_order(root):
        fn = t.creator
        g = grads.pop(id(t), None)
        if g is None:                    # no gradient flows to this node
            continue
        if fn.inputs is None:
            raise RuntimeError(f"backward: the graph through {type(fn).__name__} was already freed by an "
                               "earlier backward(); pass retain_graph=True to the first backward() "
                               "to backpropagate through the same graph twice")
        if fn.saves_inputs or fn.saves_output:
            versions.check(fn, t)
        input_grads = fn.backward(g)
        for inp, ig in zip(fn.inputs, input_grads):
            if ig is None or not inp.requires_grad:
                continue
            if ig.dtype is not inp.data.dtype and ig.dtype != inp.data.dtype:
                # an input's gradient has the input's dtype, at every edge (as PyTorch): a float64
                # operand must not turn the gradients of a float32 graph into float64
                ig = inp.backend.xp.astype(ig, inp.data.dtype)
            if inp.creator is None:
                _accumulate_leaf(inp, ig)
            else:
                key = id(inp)
                grads[key] = ig if key not in grads else grads[key] + ig
        if not retain_graph:
            fn.inputs = fn.saved = None


def _accumulate_leaf(leaf, grad):
    # The first gradient is copied: backward may hand out views (a broadcast, the same array to
    # both inputs of an add), and `.grad` must be an array of its own that optimisers may change.
    # Later gradients are added in place into that array (as PyTorch accumulates).
    if leaf.grad is None:
        leaf.grad = leaf.backend.copy(grad)
    else:
        leaf.grad += grad


def _topological_order(root):
    """Non-leaf tensors reachable from root, each before the tensors it was computed from.

    Iterative depth-first search: a recursive one would hit Python's recursion limit on a graph
    a few thousand ops deep. A tensor is emitted after all its inputs (post-order); reversing
    gives an order where every tensor comes before its inputs.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        inputs = t.creator.inputs
        if inputs is None:               # freed graph: backward() reports it when it gets here
            continue
        for inp in inputs:
            if inp.creator is not None and id(inp) not in visited:
                stack.append((inp, False))
    order.reverse()
    return order

