"""Indexing the way PyTorch code does it: writing through masks and index arrays (x[mask] = 0),
0-d integer tensors and NumPy integers as plain ints, float indices refused, and writes that
autograd would need to track refused under grad mode but allowed as plain writes under no_grad().

Each write is compared with the same write in PyTorch on the same values."""
import numpy as np
import pytest

import tinyattn


def values():
    return np.arange(12.0).reshape(4, 3)


def write_both(torch, key, torch_key, value):
    """x[key] = value in ours and x[torch_key] = value in torch, from the same values: both arrays."""
    ours, theirs = tinyattn.tensor(values()), torch.tensor(values())
    ours[key] = value
    theirs[torch_key] = value
    return ours.numpy(), theirs.numpy()


MASK = np.array([True, False, True, False])
WRITES = {                                  # name: (our key, torch's key), written with 7.0
    "x[mask]": (lambda: tinyattn.tensor(MASK), lambda torch: torch.tensor(MASK)),
    "x[mask2d]": (lambda: tinyattn.tensor(values() > 5), lambda torch: torch.tensor(values() > 5)),
    "x[1]": (lambda: 1, lambda torch: 1),
    "x[tensor(1), :]": (lambda: (tinyattn.tensor(1), slice(None)),
                        lambda torch: (torch.tensor(1), slice(None))),
    "x[np.int64(2), 1:]": (lambda: (np.int64(2), slice(1, None)), lambda torch: (2, slice(1, None))),
}


@pytest.mark.parametrize("name", WRITES)
def test_writing_through_a_mask_or_an_int_matches_torch(name, backend, torch):
    ours, theirs = WRITES[name]
    np.testing.assert_array_equal(*write_both(torch, ours(), theirs(torch), 7.0))


INTEGER_ARRAY_WRITES = {
    "x[tensor([0, 2])]": (lambda: tinyattn.tensor([0, 2]), lambda torch: torch.tensor([0, 2])),
    "x[[0, 2]]": (lambda: [0, 2], lambda torch: [0, 2]),
    "x[[0, -1], [2, 0]]": (lambda: ([0, -1], [2, 0]), lambda torch: ([0, -1], [2, 0])),
}


@pytest.mark.parametrize("name", INTEGER_ARRAY_WRITES)
def test_writing_through_integer_arrays_matches_torch(name, backend, torch):
    if backend == "array_api_strict":
        pytest.skip("the array API standard has no integer-array setitem: see the next test")
    ours, theirs = INTEGER_ARRAY_WRITES[name]
    np.testing.assert_array_equal(*write_both(torch, ours(), theirs(torch), 7.0))


def test_writing_through_integer_arrays_where_the_backend_cannot_says_so():
    with tinyattn.use_backend("array_api_strict"):
        x = tinyattn.zeros(4, 3)
        with pytest.raises(IndexError, match=r"setitem: writing through integer index arrays .* "
                                             r"not supported on the array_api_strict backend"):
            x[tinyattn.tensor([0, 2])] = 1.0


def test_a_mask_write_takes_a_tensor_of_values_in_order(backend, torch):
    rows = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x, t = tinyattn.tensor(values()), torch.tensor(values())
    x[tinyattn.tensor(MASK)] = tinyattn.tensor(rows, dtype="float64")
    t[torch.tensor(MASK)] = torch.tensor(rows)
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_a_mask_that_does_not_fit_is_named(backend):
    x = tinyattn.zeros(4, 3)
    with pytest.raises(IndexError, match=r"setitem: a mask of shape \(3,\) does not fit .* \(4, 3\)"):
        x[tinyattn.tensor([True, False, True])] = 0.0


@pytest.mark.parametrize("make", [lambda: tinyattn.tensor(1), lambda: np.int64(1), lambda: np.array(1)],
                         ids=["tensor(1)", "np.int64(1)", "np.array(1)"])
def test_a_0d_integer_index_reads_as_an_int(make, backend, torch):
    x = tinyattn.tensor(values())
    np.testing.assert_array_equal(x[make(), :].numpy(), torch.tensor(values())[1, :].numpy())
    np.testing.assert_array_equal(x[:, make()].numpy(), values()[:, 1])


class _ArrayWithoutIndex(np.ndarray):
    """A 0-d array as CuPy's are: no __index__ (it would wait for the device)."""

    def __index__(self):
        raise TypeError("no __index__")


def test_a_0d_integer_array_without_index_still_indexes_and_a_float_one_is_refused():
    x = tinyattn.tensor(values())
    np.testing.assert_array_equal(x[np.array(3).view(_ArrayWithoutIndex)].numpy(), values()[3])
    with pytest.raises(IndexError, match="not a valid index"):
        x[np.array(1.5).view(_ArrayWithoutIndex)]


def test_a_0d_index_from_argmax_picks_the_row(backend):
    x = tinyattn.tensor(values())
    np.testing.assert_array_equal(x[x.sum(dim=1).argmax()].numpy(), values()[3])


@pytest.mark.parametrize("key", [1.5, 1.0, (0, 1.0), True, np.float64(1.0)], ids=str)
def test_a_float_or_bool_index_is_refused_rather_than_truncated(key, backend):
    x = tinyattn.tensor(values())
    with pytest.raises(IndexError, match="indexing: .* is not a valid index; indices are integers"):
        x[key]
    with pytest.raises(IndexError, match="is not a valid index"):
        x[key] = 0.0


def test_a_0d_float_tensor_index_is_refused(backend):
    with pytest.raises(IndexError, match=r"a 0-d float32 tensor is not a valid index"):
        tinyattn.tensor(values())[tinyattn.tensor(1.0)]


# -- writes and autograd ----------------------------------------------------------------------
def test_writing_a_value_that_requires_grad_is_refused_under_grad_mode(backend):
    w = tinyattn.tensor([1.0, 2.0], requires_grad=True)
    buf = tinyattn.zeros(3)
    with pytest.raises(RuntimeError, match="setitem: the value requires grad.*tinyattn.stack / concat"):
        buf[0] = (w * 2).sum()
    np.testing.assert_array_equal(buf.numpy(), [0, 0, 0])


def test_under_no_grad_a_value_from_a_graph_is_written_as_values(backend):
    w = tinyattn.tensor([1.0, 2.0], requires_grad=True)
    buf = tinyattn.zeros(3)
    with tinyattn.no_grad():
        buf[0] = (w * 2).sum()
    np.testing.assert_array_equal(buf.numpy(), [6, 0, 0])
    assert not buf.requires_grad


def test_building_the_tensor_with_stack_keeps_the_graph_torch_s_write_keeps(backend, torch):
    w, tw = tinyattn.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    buf = tinyattn.stack([(w * 2).sum(), tinyattn.tensor(0.0), tinyattn.tensor(0.0)])
    tbuf = torch.zeros(3)
    tbuf[0] = (tw * 2).sum()
    (buf * tinyattn.tensor([3.0, 1.0, 1.0])).sum().backward()
    (tbuf * torch.tensor([3.0, 1.0, 1.0])).sum().backward()
    np.testing.assert_array_equal(w.backend.to_numpy(w.grad), tw.grad.numpy())


def test_writing_into_a_tensor_that_requires_grad_is_refused_under_grad_mode(backend):
    w = tinyattn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="setitem: cannot assign into a tensor that requires grad"):
        w[0] = 5.0
    with pytest.raises(RuntimeError, match="setitem: cannot assign into a tensor that requires grad"):
        (w * 2)[tinyattn.tensor([True, False])] = 0.0


def test_under_no_grad_a_tensor_that_requires_grad_takes_the_write(backend, torch):
    w, tw = tinyattn.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    with tinyattn.no_grad():
        w[0] = 5.0
    with torch.no_grad():
        tw[0] = 5.0
    np.testing.assert_array_equal(w.detach().numpy(), tw.detach().numpy())
    assert w.requires_grad
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.backend.to_numpy(w.grad), [10.0, 4.0])


def test_a_value_on_another_backend_is_named():
    with tinyattn.use_backend("numpy"):
        x = tinyattn.zeros(3)
    with tinyattn.use_backend("array_api_strict"):
        value = tinyattn.tensor(1.0)
    with pytest.raises(TypeError, match="setitem: the tensor lives on backend 'numpy', the value on "
                                        "'array_api_strict'"):
        x[0] = value


def test_writing_a_value_that_does_not_fit_names_setitem(backend):
    """PyTorch: "shape mismatch: value tensor of shape [2] cannot be broadcast to indexing result
    of shape [3]"; NumPy's words named neither setitem nor the tensor."""
    x = tinyattn.zeros(3)
    with pytest.raises(ValueError, match=r"setitem: a value of shape \(2,\) cannot be broadcast"):
        x[:] = tinyattn.ones(2)


def test_writing_through_a_key_with_none_works_on_every_backend(backend):
    """x[None, 1] = v as in PyTorch; the array API standard's setitem takes no None."""
    x = tinyattn.zeros(3)
    x[None, 1] = 5.0
    assert x.tolist() == [0.0, 5.0, 0.0]


def test_integer_arrays_into_an_empty_tensor_work_on_every_backend(backend):
    """x[i, j] merges the indexed axes with reshape(-1, ...), ambiguous for an empty x."""
    x = tinyattn.zeros(0, 0, 3)
    empty = tinyattn.zeros(0, dtype="int64")
    assert x[empty, empty].shape == (0, 3)


def test_a_mask_write_of_a_value_with_two_dims_names_setitem(backend):
    """PyTorch drops the value's leading 1s; NumPy's mask writes take at most 1 dim and raised a
    TypeError in their own words. tinyattn refuses it with a message naming setitem."""
    x = tinyattn.zeros(2, 2)
    with pytest.raises(ValueError, match=r"setitem: a value of shape \(1, 4\) cannot be broadcast"):
        x[tinyattn.ones(2, 2) > 0] = tinyattn.ones(1, 4)
