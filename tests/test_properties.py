"""Property tests: broadcasting and shape ops on random shapes (hypothesis), each forward checked
against NumPy and each gradient, for a random upstream gradient, against what it must be.

They run on the active backend: numpy in the plain run, array_api_strict in CI's
TINYATTN_BACKEND=array_api_strict run. Values come from a drawn seed (continuous, so maximum
never ties). Float64 throughout: ours and NumPy differ only by summation order, hence 1e-12.
"""
import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyattn

SETTINGS = settings(max_examples=50, deadline=None)
seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


def leaf(values):
    return tinyattn.tensor(values, requires_grad=True)


def grad_of(x):
    assert x.grad is not None, "no gradient reached the input"
    return x.backend.to_numpy(x.grad)


def assert_close(actual, expected):
    assert actual.shape == expected.shape, f"shape {actual.shape}, expected {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def sum_into(upstream, shape):
    """The gradient of an input of `shape` that was broadcast to upstream's shape: for each
    element, the sum of the upstream gradients of all its copies. Found without knowing which
    axes were broadcast: broadcast the elements' numbers and add each upstream value to its
    element's bin (an independent computation from the engine's `unbroadcast`)."""
    size = int(np.prod(shape))
    source = np.broadcast_to(np.arange(size).reshape(shape), np.shape(upstream))
    return np.bincount(source.ravel(), weights=np.ravel(upstream), minlength=size).reshape(shape)


# name: (ours, NumPy's forward, local derivatives (d out/d a, d out/d b))
BINARY = {
    "add": (lambda a, b: a + b, np.add, lambda a, b: (1.0, 1.0)),
    "sub": (lambda a, b: a - b, np.subtract, lambda a, b: (1.0, -1.0)),
    "mul": (lambda a, b: a * b, np.multiply, lambda a, b: (b, a)),
    "div": (lambda a, b: a / b, np.divide, lambda a, b: (1 / b, -a / b**2)),
    "maximum": (tinyattn.maximum, np.maximum, lambda a, b: (a > b, b > a)),
}


@SETTINGS
@given(op=st.sampled_from(sorted(BINARY)), shapes=hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=4, max_side=3), seed=seeds)
def test_binary_op_gradient_sums_over_the_broadcast_axes(op, shapes, seed):
    ours, forward, derivatives = BINARY[op]
    rng = np.random.default_rng(seed)
    (shape_a, shape_b), out_shape = shapes
    a = rng.uniform(-2, 2, shape_a)
    b = rng.choice([-1.0, 1.0], shape_b) * rng.uniform(0.5, 2, shape_b)      # a safe divisor
    upstream = rng.standard_normal(out_shape)
    x, y = leaf(a), leaf(b)
    out = ours(x, y)
    out.backward(tinyattn.tensor(upstream, dtype="float64"))
    assert_close(out.numpy(), forward(a, b))
    da, db = derivatives(a, b)
    assert_close(grad_of(x), sum_into(upstream * da, shape_a))
    assert_close(grad_of(y), sum_into(upstream * db, shape_b))


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=seeds)
def test_where_gradient_goes_to_the_chosen_side_summed_over_broadcast_axes(shapes, seed):
    rng = np.random.default_rng(seed)
    (shape_c, shape_a, shape_b), out_shape = shapes
    cond = rng.random(shape_c) < 0.5
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    upstream = rng.standard_normal(out_shape)
    x, y = leaf(a), leaf(b)
    out = tinyattn.where(tinyattn.tensor(cond), x, y)
    out.backward(tinyattn.tensor(upstream, dtype="float64"))
    assert_close(out.numpy(), np.where(cond, a, b))
    assert_close(grad_of(x), sum_into(upstream * cond, shape_a))
    assert_close(grad_of(y), sum_into(upstream * ~cond, shape_b))


@st.composite
def broadcast_pairs(draw):
    """(shape, target): shape broadcasts to target (trailing axes kept or made 1)."""
    target = draw(shapes)
    kept = draw(st.integers(0, len(target)))
    shape = tuple(n if draw(st.booleans()) else 1 for n in target[len(target) - kept:])
    return shape, target


@SETTINGS
@given(pair=broadcast_pairs(), seed=seeds)
def test_broadcast_to_gradient_sums_the_copies(pair, seed):
    shape, target = pair
    rng = np.random.default_rng(seed)
    values, upstream = rng.standard_normal(shape), rng.standard_normal(target)
    x = leaf(values)
    out = x.broadcast_to(target)
    out.backward(tinyattn.tensor(upstream, dtype="float64"))
    assert_close(out.numpy(), np.broadcast_to(values, target))
    assert_close(grad_of(x), sum_into(upstream, shape))


def run(fn, values, upstream_seed):
    """x = leaf(values); out = fn(x); backpropagate a random upstream gradient.
    Returns (x, out as NumPy, the upstream gradient)."""
    x = leaf(values)
    out = fn(x)
    upstream = np.random.default_rng(upstream_seed).standard_normal(out.shape)
    out.backward(tinyattn.tensor(upstream, dtype="float64"))
    return x, out.numpy(), upstream


@st.composite
def reshapes(draw):
    """(shape, new shape with the same number of elements, maybe one -1 in it)."""
    shape = draw(shapes)
    new = list(draw(st.permutations(shape)))
    for _ in range(draw(st.integers(0, 2))):
        new.insert(draw(st.integers(0, len(new))), 1)
    if new and draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    return shape, tuple(new)


@SETTINGS
@given(shapes=reshapes(), seed=seeds)
def test_reshape_gradient_is_the_upstream_reshaped_back(shapes, seed):
    shape, new = shapes
    values = np.random.default_rng(seed).standard_normal(shape)
    x, out, upstream = run(lambda t: t.reshape(new), values, seed + 1)
    assert_close(out, values.reshape(new))
    assert_close(grad_of(x), upstream.reshape(shape))


@st.composite
def permutations(draw):
    shape = draw(shapes)
    return shape, tuple(draw(st.permutations(range(len(shape)))))


@SETTINGS
@given(case=permutations(), seed=seeds)
def test_permute_gradient_is_the_inverse_permutation_of_the_upstream(case, seed):
    shape, dims = case
    values = np.random.default_rng(seed).standard_normal(shape)
    x, out, upstream = run(lambda t: t.permute(*dims), values, seed + 1)
    assert_close(out, np.transpose(values, dims))
    assert_close(grad_of(x), np.transpose(upstream, np.argsort(dims)))


@st.composite
def axis_pairs(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    axes = st.integers(-len(shape), len(shape) - 1)
    return shape, draw(axes), draw(axes)


@SETTINGS
@given(case=axis_pairs(), seed=seeds)
def test_transpose_gradient_swaps_the_same_axes_back(case, seed):
    shape, d0, d1 = case
    values = np.random.default_rng(seed).standard_normal(shape)
    x, out, upstream = run(lambda t: t.transpose(d0, d1), values, seed + 1)
    assert_close(out, np.swapaxes(values, d0, d1))
    assert_close(grad_of(x), np.swapaxes(upstream, d0, d1))


@st.composite
def unsqueezes(draw):
    shape = draw(shapes)
    return shape, draw(st.integers(-len(shape) - 1, len(shape)))


@SETTINGS
@given(case=unsqueezes(), seed=seeds)
def test_unsqueeze_then_squeeze_is_the_identity_and_passes_the_gradient_through(case, seed):
    shape, axis = case
    values = np.random.default_rng(seed).standard_normal(shape)
    x, out, upstream = run(lambda t: t.unsqueeze(axis), values, seed + 1)
    assert_close(out, np.expand_dims(values, axis))
    assert_close(grad_of(x), np.squeeze(upstream, axis))
    assert_close(tinyattn.tensor(out).squeeze(axis).numpy(), values)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=1, max_side=2), seed=seeds)
def test_squeeze_removes_every_size_1_axis_and_reshapes_the_gradient_back(shape, seed):
    values = np.random.default_rng(seed).standard_normal(shape)
    x, out, upstream = run(lambda t: t.squeeze(), values, seed + 1)
    assert_close(out, np.squeeze(values))
    assert_close(grad_of(x), upstream.reshape(shape))


@st.composite
def pieces_along_an_axis(draw):
    """(shape of the whole, axis, sizes of the pieces along that axis)."""
    shape = list(draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    shape[axis] = sum(sizes)
    return tuple(shape), axis, sizes


@SETTINGS
@given(case=pieces_along_an_axis(), seed=seeds)
def test_concat_gradient_is_the_upstream_cut_into_the_pieces(case, seed):
    shape, axis, sizes = case
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(sizes)[:-1]
    values = np.split(rng.standard_normal(shape), cuts, axis)
    upstream = rng.standard_normal(shape)
    xs = [leaf(v) for v in values]
    out = tinyattn.concat(xs, axis)
    out.backward(tinyattn.tensor(upstream, dtype="float64"))
    assert_close(out.numpy(), np.concatenate(values, axis))
    for x, expected in zip(xs, np.split(upstream, cuts, axis)):
        assert_close(grad_of(x), expected)


@SETTINGS
@given(case=pieces_along_an_axis(), as_int=st.booleans(), seed=seeds)
def test_split_pieces_gradients_reassemble_into_the_whole(case, as_int, seed):
    shape, axis, sizes = case
    if as_int:                      # an int size: equal pieces, the last one possibly smaller
        size = sizes[0]
        sizes = [min(size, shape[axis] - s) for s in range(0, shape[axis], size)]
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape)
    expected = np.split(values, np.cumsum(sizes)[:-1], axis)
    upstreams = [rng.standard_normal(e.shape) for e in expected]
    x = leaf(values)
    pieces = x.split(size if as_int else sizes, axis)
    assert len(pieces) == len(sizes)
    loss = 0.0
    for piece, piece_expected, upstream in zip(pieces, expected, upstreams):
        assert_close(piece.numpy(), piece_expected)
        loss = loss + (piece * tinyattn.tensor(upstream, dtype="float64")).sum()
    loss.backward()
    assert_close(grad_of(x), np.concatenate(upstreams, axis))
