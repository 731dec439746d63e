"""Version counters: backward refuses a value that was changed in place after the forward saved it.

    w = tinyattn.randn(3, requires_grad=True)
    loss = (w * w).sum()            # Mul saves w: its backward is 2 w
    with tinyattn.no_grad():
        w -= 0.1                    # an optimiser's step, say
    loss.backward()                 # RuntimeError: input 0 of Mul ... was changed in place

Backward computes with arrays the forward kept (Mul keeps both operands, Exp its output). A write
into one of them between the forward and the backward (`x += 1`, `x[k] = v`, an optimiser's step)
would silently change the gradient. As in PyTorch, every tensor counts the writes into its array
(`x._version`); a node notes the counts of the tensors its backward reads, and backward compares
them before it uses the node. A Function says what its backward reads with two class attributes,
`saves_inputs` (True unless it keeps only shapes, as Add and Sum) and `saves_output` (Exp, Tanh).

Tensors that share one array (a view: reshape, transpose, x[1:], x.detach()) share one counter,
so a write through either is seen through both; that is why the counter is a one-element list
and not an int. Writes are counted where they happen: inplace.py (`+=`, `x[k] = v`) and the
optimisers' steps. A write through `x.data` itself is not seen, as PyTorch does not see one.

Integer ids and boolean masks are kept differently: ops that read them in backward (Where's mask,
Gather's ids, CrossEntropy's targets) keep a copy, small beside the values they select, so a later
write into them cannot change the gradient, and backward computes what the forward computed.
"""


def new_counter():
    """The counter of a tensor with an array of its own: no write yet."""
    return [0]


def version(x):
    """How many times x's array was written in place (PyTorch's `x._version`)."""
    return x._counter[0]


def count_write(x):
    """Note one write into x's array: every tensor sharing the array sees the new count."""
    x._counter[0] += 1


def share_counter(view, base):
    """`view` shows `base`'s array: writes through either count for both. Returns view."""
    view._counter = base._counter
    return view


def snapshot(fn, inputs, output):
    """The counts of what fn's backward will read: its inputs and/or its output."""
    counts = [x._counter[0] for x in inputs] if fn.saves_inputs else []
    if fn.saves_output:
        counts.append(output._counter[0])
    return counts


def check(fn, output):
    """Raise if a tensor fn's backward reads was written since the forward (see the module)."""
    if fn.versions == snapshot(fn, fn.inputs, output):
        return
    op = type(fn).__name__
    read = [(f"input {i} of {op}", x) for i, x in enumerate(fn.inputs)] if fn.saves_inputs else []
    if fn.saves_output:
        read.append((f"the output of {op}", output))
    for (what, x), before in zip(read, fn.versions):
        if x._counter[0] != before:
            raise RuntimeError(
                f"backward: {what} (a tensor of shape {x.shape}, {x.dtype}) is needed to compute "
                f"the gradient, but it was changed in place after the forward (version "
                f"{x._counter[0]}, expected {before}): by an optimiser step, `+=` or `x[k] = v`. "
                f"Call backward() before changing it, or change a copy (`x = x + ...`) instead")
