"""Version counters: a value changed in place after the forward makes backward refuse, as PyTorch.

Each case runs the same program on tinyattn and on PyTorch: where PyTorch raises "modified by an
inplace operation", tinyattn raises a RuntimeError naming the op and the tensor; where PyTorch
computes (the op's backward reads only shapes), tinyattn gives PyTorch's gradient.
"""
import re

import numpy as np
import pytest

import tinyattn
import tinyattn.functional as F
from tinyattn import nn, optim

STALE = r"backward: .* of {op} \(a tensor of shape {shape}, float\d+\) is needed to compute the gradient, " \
        r"but it was changed in place after the forward"


def leaf(lib, values):
    """A float64 leaf that requires grad, in tinyattn or torch."""
    if lib is tinyattn:
        return tinyattn.tensor(values, dtype="float64", requires_grad=True)
    return lib.tensor(values, dtype=lib.float64, requires_grad=True)


def constant(lib, values):
    if lib is tinyattn:
        return tinyattn.tensor(values, dtype="float64")
    return lib.tensor(values, dtype=lib.float64)


def run(lib, program):
    """program(lib) -> ("raised", message) or ("grad", array)."""
    try:
        return "grad", program(lib)
    except RuntimeError as e:
        return "raised", str(e)


def both(torch, program):
    return run(tinyattn, program), run(torch, program)


# -- what PyTorch refuses, tinyattn refuses ----------------------------------------------------------
def test_an_optimiser_step_between_forward_and_backward_is_refused(torch):
    """PyTorch: "one of the variables needed for gradient computation has been modified by an
    inplace operation". Before version counters tinyattn gave w.grad from the stepped weights."""
    def program(lib):
        w = leaf(lib, [1.0, -2.0, 3.0])
        opt = (optim if lib is tinyattn else lib.optim).SGD([w], lr=0.1)
        loss = (w * w).sum()
        (w * 1.0).sum().backward()          # any earlier gradient, so the step moves w
        opt.step()
        loss.backward()
        return w.grad
    (ours, message), (theirs, _) = both(torch, program)
    assert ours == theirs == "raised"
    assert re.search(STALE.format(op="Mul", shape=r"\(3,\)"), message), message


@pytest.mark.parametrize("make_optimizer", [lambda p: optim.Adam(p), lambda p: optim.AdamW(p)],
                         ids=["Adam", "AdamW"])
def test_every_optimiser_counts_its_step_as_a_write(make_optimizer):
    w = tinyattn.randn(4, dtype="float64", requires_grad=True)
    opt = make_optimizer([w])
    (w * 1.0).sum().backward()
    before = w._version
    loss = w.exp().sum()                    # Exp saves its output, not w ...
    y = (w * w).sum()                       # ... Mul saves w
    opt.step()
    assert w._version > before
    loss.backward()                         # Exp's output was not written: allowed
    with pytest.raises(RuntimeError, match=STALE.format(op="Mul", shape=r"\(4,\)")):
        y.backward()


def test_a_write_into_a_saved_constant_is_refused(torch):
    """y = (w * c).sum(); c[0] = 5; y.backward(): PyTorch refuses (Mul saved c for w's gradient)."""
    def program(lib):
        w, c = leaf(lib, [1.0, 2.0, 3.0]), constant(lib, [4.0, 5.0, 6.0])
        y = (w * c).sum()
        c[0] = 5.0
        y.backward()
        return w.grad
    (ours, message), (theirs, _) = both(torch, program)
    assert ours == theirs == "raised"
    assert re.search(STALE.format(op="Mul", shape=r"\(3,\)"), message) and "input 1" in message


@pytest.mark.parametrize("write", ["+=", "-=", "*=", "/=", "setitem", "mask"])
def test_every_in_place_write_counts(torch, write):
    def program(lib):
        w, c = leaf(lib, [[1.0, 2.0], [3.0, 4.0]]), constant(lib, [[0.5, 1.5], [2.5, 3.5]])
        y = (w @ c).sum()
        if write == "+=":
            c += 1.0
        elif write == "-=":
            c -= 1.0
        elif write == "*=":
            c *= 2.0
        elif write == "/=":
            c /= 2.0
        elif write == "setitem":
            c[1, :] = 0.0
        else:
            c[c > 1.0] = 0.0
        y.backward()
        return w.grad
    (ours, message), (theirs, _) = both(torch, program)
    assert ours == theirs == "raised", message
    assert re.search(STALE.format(op="Matmul", shape=r"\(2, 2\)"), message), message


def test_a_write_into_an_output_that_backward_reads_is_refused(torch):
    """Exp's backward is g * exp(x), read from its output: PyTorch refuses a write into it."""
    def program(lib):
        w = leaf(lib, [0.0, 1.0])
        y = w.exp()
        with (tinyattn if lib is tinyattn else lib).no_grad():
            y[0] = 7.0
        y.sum().backward()
        return w.grad
    (ours, message), (theirs, _) = both(torch, program)
    assert ours == theirs == "raised"
    assert "the output of Exp" in message


@pytest.mark.parametrize("view", ["reshape", "transpose", "slice", "detach"])
def test_a_write_through_a_view_counts_for_the_array_it_shows(torch, view):
    """Views share their base's counter (PyTorch too): writing through the view, or into the base
    under a view that an op saved, is the same write into one array."""
    def program(lib):
        w, c = leaf(lib, [[1.0, 2.0], [3.0, 4.0]]), constant(lib, [[0.5, 1.5], [2.5, 3.5]])
        y = (w * c).sum()
        seen = {"reshape": lambda: c.reshape(4), "transpose": lambda: c.transpose(0, 1),
                "slice": lambda: c[1:], "detach": lambda: c.detach()}[view]()
        seen[0] = 9.0                       # through the view, into c's array
        y.backward()
        return w.grad
    (ours, message), (theirs, _) = both(torch, program)
    assert ours == theirs == "raised", message


def test_a_write_into_the_base_of_a_saved_view_is_refused(torch):
    def program(lib):
        w, c = leaf(lib, [1.0, 2.0, 3.0, 4.0]), constant(lib, [[0.5, 1.5], [2.5, 3.5]])
        y = (w * c.reshape(4)).sum()        # Mul saved the view
        c[0, 0] = 9.0
        y.backward()
        return w.grad
    (ours, message), (theirs, _) = both(torch, program)
    assert ours == theirs == "raised", message


def test_a_second_backward_after_a_write_is_refused(torch):
    def program(lib):
        w = leaf(lib, [1.0, 2.0])
        y = (w * w).sum()
        y.backward(retain_graph=True)
        with (tinyattn if lib is tinyattn else lib).no_grad():
            w += 1.0
        y.backward()
        return w.grad
    (ours, _), (theirs, _) = both(torch, program)
    assert ours == theirs == "raised"


# -- what PyTorch computes, tinyattn computes (the same gradient) ---------------------------------
@pytest.mark.parametrize("expr", ["w + c", "c - w", "(w + c).sum(0)", "w.reshape(4) + c.reshape(4)",
                                  "(w + c).mean()", "w[0] + c[1]"])
def test_ops_that_keep_only_shapes_allow_a_later_write(torch, expr):
    """Add, Sub, Sum, Mean, Reshape and slicing read no values in backward: PyTorch computes,
    and so must tinyattn, with the same gradient (it does not depend on c)."""
    def program(lib):
        w, c = leaf(lib, [[1.0, 2.0], [3.0, 4.0]]), constant(lib, [[0.5, 1.5], [2.5, 3.5]])
        y = eval(expr)
        c[0, 0] = 9.0
        y.sum().backward()
        return w.backend.to_numpy(w.grad) if lib is tinyattn else w.grad.numpy()
    (ours, g), (theirs, expected) = both(torch, program)
    assert ours == theirs == "grad", g
    np.testing.assert_array_equal(g, expected)


def test_a_write_before_the_forward_or_after_the_backward_is_fine():
    model = nn.Linear(3, 2, dtype="float64")
    opt = optim.AdamW(model.parameters(), lr=0.1)
    x = tinyattn.randn(5, 3, dtype="float64")
    for _ in range(3):                      # forward, backward, step: the steps fall in between
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.weight._version == 3


def test_the_version_counts_writes_as_pytorch_does(torch):
    ours, theirs = tinyattn.zeros(2, 3), torch.zeros(2, 3)
    counts = []
    for x in (ours, theirs):
        seen = [x._version]
        x += 1.0
        seen.append(x._version)
        x[0] = 2.0
        seen.append(x._version)
        v = x.reshape(6)
        v *= 3.0                            # through a view
        seen += [x._version, v._version]
        _ = x * 2.0 + x.sum()               # reading is not writing
        seen.append(x._version)
        counts.append(seen)
    assert counts[0] == counts[1] == [0, 1, 2, 3, 3, 3]


def test_reading_a_tensors_data_stays_a_plain_attribute():
    """The counters sit beside the array: `x.data` is a slot, not a property that checks."""
    assert type(tinyattn.Tensor.__dict__["data"]).__name__ == "member_descriptor"



# -- ids and masks: kept as copies, so backward computes what the forward computed ------------------
def _grad_of(w):
    return w.backend.to_numpy(w.grad)


@pytest.mark.parametrize("case", ["embedding ids", "where mask", "masked_fill mask", "targets"])
def test_ids_and_masks_written_after_the_forward_do_not_change_the_gradient(case):
    """PyTorch refuses these (embedding, where and nll_loss save them); tinyattn's ops keep their
    own copy, so the gradient is the one of the loss the forward computed, as if nothing was written."""
    def program(write):
        tinyattn.manual_seed(0)
        w = tinyattn.randn(5, 3, dtype="float64", requires_grad=True)
        ids = tinyattn.tensor([[0, 2, 2], [4, 1, 0]])
        mask = tinyattn.tensor([[True, False, True], [False, True, True]])
        if case == "embedding ids":
            loss, held = (F.embedding(ids, w) ** 2).sum(), ids
        elif case == "where mask":
            loss, held = (tinyattn.where(mask, w[:2], 0.0) ** 2).sum(), mask
        elif case == "masked_fill mask":
            loss, held = (w[:2].masked_fill(mask, 0.0) ** 2).sum(), mask
        else:
            targets = tinyattn.tensor([2, 0, 1, 1, 0])
            loss = F.cross_entropy(w, targets, ignore_index=None)
            held = targets
        if write:
            held[...] = held[::-1] if held.dtype == "bool" else 1
        loss.backward()
        return _grad_of(w)
    np.testing.assert_array_equal(program(write=True), program(write=False))
