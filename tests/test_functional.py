"""The composite functions (softmax, log_softmax, logsumexp, cross_entropy, layer_norm, gelu,
dropout): each fused Function equals its composite twin, passes gradcheck, and equals PyTorch."""
import math

import numpy as np
import pytest

import tinyattn
import tinyattn.functional as F
import tinyattn.functional.reference as C
from tinyattn.functional import fused

# float64 results of the same formula computed in a different order differ by a few ulps
# (1e-16 relative), amplified a little by exp/log; 1e-10 leaves room for that and nothing else.
F64 = dict(rtol=1e-10, atol=1e-12)


def _leaves(rng, *shapes, dtype="float64"):
    return [tinyattn.tensor(rng.standard_normal(s) * 2, dtype=dtype, requires_grad=True) for s in shapes]


def _forward_backward(fn, arrays, upstream_seed=7):
    """fn applied to fresh leaves made from host arrays; returns (output, grads) as NumPy."""
    leaves = [tinyattn.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    upstream = np.random.default_rng(upstream_seed).standard_normal(out.shape)
    out.backward(upstream)
    return out.numpy(), [leaf.backend.to_numpy(leaf.grad) for leaf in leaves]


def _fused(fn):
    """fn on the fused path, also when the suite runs in reference mode (where F.* would take
    the composite, and a fused-against-composite test could not fail)."""
    return tinyattn.reference_mode(False)(fn)


# (name, fused, composite, input shapes)
PAIRS = [
    ("softmax last axis", _fused(lambda x: F.softmax(x)), lambda x: C.softmax(x), [(4, 7)]),
    ("softmax axis 1 of 3", _fused(lambda x: F.softmax(x, dim=1)), lambda x: C.softmax(x, 1),
     [(2, 3, 5)]),
    ("log_softmax", _fused(lambda x: F.log_softmax(x)), lambda x: C.log_softmax(x), [(3, 6)]),
    ("log_softmax axis 0", _fused(lambda x: F.log_softmax(x, 0)), lambda x: C.log_softmax(x, 0),
     [(3, 6)]),
    ("logsumexp", _fused(lambda x: F.logsumexp(x)), lambda x: C.logsumexp(x), [(2, 3, 4)]),
    ("logsumexp keepdims", _fused(lambda x: F.logsumexp(x, 1, keepdims=True)),
     lambda x: C.logsumexp(x, 1, keepdims=True), [(2, 3, 4)]),
    ("layer_norm", _fused(lambda x, w, b: F.layer_norm(x, 5, w, b)),
     lambda x, w, b: C.layer_norm(x, 5, w, b), [(2, 3, 5), (5,), (5,)]),
    ("layer_norm two trailing axes", _fused(lambda x, w, b: F.layer_norm(x, (3, 4), w, b)),
     lambda x, w, b: C.layer_norm(x, (3, 4), w, b), [(2, 3, 4), (3, 4), (3, 4)]),
    ("layer_norm without affine", _fused(lambda x: F.layer_norm(x, 6)), lambda x: C.layer_norm(x, 6),
     [(4, 6)]),
    ("gelu exact", _fused(lambda x: F.gelu(x)), lambda x: C.gelu(x), [(3, 7)]),
    ("gelu tanh", _fused(lambda x: F.gelu(x, "tanh")), lambda x: C.gelu(x, "tanh"), [(3, 7)]),
]


@pytest.mark.parametrize("name,fused,composite,shapes", PAIRS, ids=[p[0] for p in PAIRS])
def test_fused_equals_composite(backend, rng, name, fused, composite, shapes):
    arrays = [rng.standard_normal(s) * 2 for s in shapes]
    out_f, grads_f = _forward_backward(fused, arrays)
    out_c, grads_c = _forward_backward(composite, arrays)
    np.testing.assert_allclose(out_f, out_c, **F64)
    for gf, gc in zip(grads_f, grads_c):
        np.testing.assert_allclose(gf, gc, **F64)


@pytest.mark.parametrize("name,fused,composite,shapes", PAIRS, ids=[p[0] for p in PAIRS])
def test_fused_passes_gradcheck(backend, rng, name, fused, composite, shapes):
    assert tinyattn.gradcheck(fused, *_leaves(rng, *shapes))


CE_CASES = [
    dict(),
    dict(label_smoothing=0.1),
    dict(ignore_index=2),
    dict(ignore_index=2, label_smoothing=0.2),
]


@pytest.mark.parametrize("kwargs", CE_CASES, ids=str)
def test_cross_entropy_fused_equals_composite_and_gradchecks(backend, rng, kwargs):
    target = tinyattn.tensor([[1, 2, 0], [3, 2, 4]])
    logits = rng.standard_normal((2, 3, 5))
    fused = _fused(lambda x: F.cross_entropy(x, target, **kwargs))
    out_f, (g_f,) = _forward_backward(fused, [logits])
    out_c, (g_c,) = _forward_backward(lambda x: C.cross_entropy(x, target, **kwargs), [logits])
    np.testing.assert_allclose(out_f, out_c, **F64)
    np.testing.assert_allclose(g_f, g_c, **F64)
    assert tinyattn.gradcheck(fused, *_leaves(rng, (2, 3, 5)))


def test_cross_entropy_ignored_positions_get_no_gradient(rng):
    target = tinyattn.tensor([0, 5, 1, 5])
    logits = tinyattn.tensor(rng.standard_normal((4, 6)), requires_grad=True)
    F.cross_entropy(logits, target, ignore_index=5).backward()
    grad = logits.backend.to_numpy(logits.grad)
    assert np.all(grad[[1, 3]] == 0) and np.all(grad[[0, 2]] != 0)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_with_every_position_ignored_is_nan_with_zero_gradients_as_pytorch(
        backend, torch, rng, label_smoothing):
    logits = rng.standard_normal((4, 6))
    ours = tinyattn.tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    with np.errstate(invalid="ignore"):                    # 0/0, as torch's mean over nothing
        loss = F.cross_entropy(ours, tinyattn.tensor([-100] * 4), label_smoothing=label_smoothing)
    their_loss = torch.nn.functional.cross_entropy(theirs, torch.full((4,), -100),
                                                   label_smoothing=label_smoothing)
    loss.backward()
    their_loss.backward()
    assert math.isnan(loss.item()) and math.isnan(their_loss.item())
    np.testing.assert_array_equal(ours.backend.to_numpy(ours.grad), theirs.grad.numpy())


# PyTorch 2.13: logits [[nan, nan], [1, 2]] with targets [-100, 1] give 0.3133 (label_smoothing
# 0.1: 0.3633; "none": [0, 0.3133]) and the counted row's gradient [0.2689, -0.2689] (0.1:
# [0.2189, -0.2189]); the same with [inf, -inf] or [inf, 0] in the ignored row. PyTorch's gradient
# at the ignored row is nan (0 times nan); here it is 0: an ignored position contributes nothing.
# PyTorch prints no warning; neither may tinyattn (the fused forward used to warn about inf - inf).
@pytest.mark.parametrize("bad_row", [[math.nan, math.nan], [math.inf, -math.inf], [math.inf, 0.0]],
                         ids=["nan", "inf -inf", "inf 0"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reference", [False, True], ids=["fused", "reference"])
@pytest.mark.filterwarnings("error")
def test_cross_entropy_ignores_non_finite_logits_at_ignored_positions_without_a_warning(
        backend, torch, bad_row, reduction, label_smoothing, reference):
    values = [bad_row, [1.0, 2.0]]
    ours = tinyattn.tensor(values, requires_grad=True)
    theirs = torch.tensor(values, requires_grad=True)
    with tinyattn.reference_mode(reference):
        loss = F.cross_entropy(ours, tinyattn.tensor([-100, 1]), reduction=reduction,
                               label_smoothing=label_smoothing)
        loss.sum().backward()
    their_loss = torch.nn.functional.cross_entropy(theirs, torch.tensor([-100, 1]), reduction=reduction,
                                                   label_smoothing=label_smoothing)
    their_loss.sum().backward()
    np.testing.assert_allclose(loss.numpy(), their_loss.detach().numpy(), rtol=1e-6)
    grad = ours.backend.to_numpy(ours.grad)
    np.testing.assert_array_equal(grad[0], [0.0, 0.0])
    np.testing.assert_allclose(grad[1], theirs.grad.numpy()[1], rtol=1e-6)


# PyTorch 2.13, measured: with no counted position the mean is nan, the sum 0 and "none" zeros,
# gradients zero and of the logits' shape: logits (2, 3) with targets [-100, -100], logits (0, 3)
# (N = 0), and C = 0 classes, logits (2, 0) with targets [-100, -100] or (0, 0). A counted target
# with C = 0 is out of range (IndexError "Target 0 is out of bounds"; test_bad_input.py has ours).
# tinyattn failed on C = 0 ("cannot reshape"), and NumPy warned about 0/0 in the fused mean.
@pytest.mark.parametrize("shape, target, ignore_index", [
    ((2, 3), [-100, -100], -100), ((0, 3), [], -100), ((0, 3), [], None), ((2, 0), [-100, -100], -100),
    ((0, 0), [], -100), ((2, 2, 0), [[-100, -100], [-100, -100]], -100),
], ids=["all ignored", "N = 0", "N = 0, no ignore_index", "C = 0", "N = C = 0", "C = 0, (B, T, C)"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("reference", [False, True], ids=["fused", "reference"])
@pytest.mark.filterwarnings("error")
def test_cross_entropy_with_no_counted_position_or_no_classes_is_pytorchs_nan_0_or_zeros(
        backend, torch, shape, target, ignore_index, reduction, reference):
    ours = tinyattn.zeros(*shape, requires_grad=True)
    with tinyattn.reference_mode(reference):
        loss = F.cross_entropy(ours, tinyattn.tensor(target, dtype="int64"), ignore_index=ignore_index,
                               reduction=reduction)
        loss.sum().backward()
    theirs = torch.zeros(*shape, requires_grad=True)
    their_loss = torch.nn.functional.cross_entropy(  # classes on axis -1, as ours (see cross_entropy)
        theirs.reshape(math.prod(shape[:-1]), shape[-1]), torch.tensor(target, dtype=torch.long).reshape(-1),
        ignore_index=-100 if ignore_index is None else ignore_index, reduction=reduction)
    their_loss.sum().backward()
    np.testing.assert_array_equal(loss.numpy(), their_loss.detach().reshape(loss.shape).numpy())
    assert loss.dtype == "float32"
    np.testing.assert_array_equal(ours.backend.to_numpy(ours.grad), theirs.grad.numpy())


@pytest.mark.parametrize("kwargs", CE_CASES, ids=str)
def test_cross_entropy_matches_pytorch(torch, rng, kwargs):
    logits = rng.standard_normal((6, 5))
    target = np.array([1, 2, 0, 4, 2, 3])
    ours, (g_ours,) = _forward_backward(lambda x: F.cross_entropy(x, tinyattn.tensor(target), **kwargs),
                                        [logits])
    x = torch.tensor(logits, requires_grad=True)
    torch_kwargs = dict(kwargs, ignore_index=kwargs.get("ignore_index", -100))
    theirs = torch.nn.functional.cross_entropy(x, torch.tensor(target), **torch_kwargs)
    upstream = np.random.default_rng(7).standard_normal(())
    theirs.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), **F64)
    np.testing.assert_allclose(g_ours, x.grad.numpy(), **F64)


@pytest.mark.parametrize("reduction", ["sum", "none"])
@pytest.mark.parametrize("kwargs", CE_CASES, ids=str)
def test_cross_entropy_reductions_match_pytorch(backend, torch, rng, kwargs, reduction):
    logits = rng.standard_normal((2, 3, 5))
    target = np.array([[1, 2, 0], [4, 2, 3]])
    loss = lambda x: F.cross_entropy(x, tinyattn.tensor(target), reduction=reduction, **kwargs)  # noqa: E731
    ours, (g_ours,) = _forward_backward(loss, [logits])
    x = torch.tensor(logits, requires_grad=True)
    torch_kwargs = dict(kwargs, ignore_index=kwargs.get("ignore_index", -100), reduction=reduction)
    # torch takes classes on axis 1: (B, C, T) logits for (B, T) targets
    theirs = torch.nn.functional.cross_entropy(x.permute(0, 2, 1), torch.tensor(target), **torch_kwargs)
    theirs.backward(torch.tensor(np.random.default_rng(7).standard_normal(theirs.shape)))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), **F64)
    np.testing.assert_allclose(g_ours, x.grad.numpy(), **F64)
    assert tinyattn.gradcheck(loss, *_leaves(rng, (2, 3, 5)))


TORCH_TWINS = [
    ("softmax", lambda x: F.softmax(x, dim=-1), lambda t, x: t.softmax(x, dim=-1), [(3, 5)]),
    ("log_softmax", lambda x: F.log_softmax(x, dim=0), lambda t, x: t.log_softmax(x, dim=0), [(3, 5)]),
    ("logsumexp", lambda x: F.logsumexp(x, dim=1), lambda t, x: t.logsumexp(x, dim=1), [(2, 4, 3)]),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b),
     lambda t, x, w, b: t.nn.functional.layer_norm(x, (4,), w, b), [(2, 3, 4), (4,), (4,)]),
    ("gelu", lambda x: F.gelu(x), lambda t, x: t.nn.functional.gelu(x), [(4, 5)]),
    ("gelu tanh", lambda x: F.gelu(x, "tanh"),
     lambda t, x: t.nn.functional.gelu(x, approximate="tanh"), [(4, 5)]),
]


@pytest.mark.parametrize("dtype,tol", [("float64", F64),
                                       # float32 rounding (6e-8) through exp, sums and erf's
                                       # 1.2e-7 approximation: a few units of 1e-7
                                       ("float32", dict(rtol=2e-5, atol=2e-6))], ids=["f64", "f32"])
@pytest.mark.parametrize("name,ours,theirs,shapes", TORCH_TWINS, ids=[p[0] for p in TORCH_TWINS])
def test_matches_pytorch(torch, backend, rng, name, ours, theirs, shapes, dtype, tol):
    arrays = [(rng.standard_normal(s) * 2).astype(dtype) for s in shapes]
    out, grads = _forward_backward(ours, arrays)
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = theirs(torch, *leaves)
    expected.backward(torch.tensor(np.random.default_rng(7).standard_normal(out.shape).astype(dtype)))
    np.testing.assert_allclose(out, expected.detach().numpy(), **tol)
    for g, leaf in zip(grads, leaves):
        np.testing.assert_allclose(g, leaf.grad.numpy(), **tol)


def test_softmax_is_stable_for_huge_logits():
    x = tinyattn.tensor([[1000.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(F.softmax(x).numpy(), [[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(F.log_softmax(x).numpy()[0, :2], [-math.log(2)] * 2, rtol=1e-6)


@pytest.mark.parametrize("dtype,tol", [("float64", 3e-15), ("float32", 2.5e-7)])
def test_erf_matches_math_erf(backend, dtype, tol):
    xs = np.linspace(-7, 7, 2001)
    ours = tinyattn.tensor(xs, dtype=dtype).erf().numpy().astype(np.float64)
    expected = np.array([math.erf(v) for v in xs.astype(dtype).astype(np.float64)])
    assert np.max(np.abs(ours - expected)) <= tol


def test_dropout_zeros_a_fraction_p_and_keeps_the_mean(backend):
    tinyattn.manual_seed(3)
    y = F.dropout(tinyattn.ones(200, 500), p=0.3).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    # 100,000 Bernoulli(0.3) draws: the fraction's standard deviation is 0.0014; allow 4 of them
    assert abs(np.mean(y == 0) - 0.3) < 0.006
    assert abs(np.mean(y) - 1.0) < 0.01


def test_dropout_is_reproducible_by_seed_and_identity_in_eval():
    x = tinyattn.randn(4, 8)
    tinyattn.manual_seed(11)
    a = F.dropout(x, 0.5).numpy()
    tinyattn.manual_seed(11)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert F.dropout(x, 0.5, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), np.zeros((4, 8)))


def test_dropout_gradient_is_the_mask(rng):
    x = tinyattn.tensor(rng.standard_normal((5, 6)), requires_grad=True)
    tinyattn.manual_seed(5)
    y = F.dropout(x, 0.4)
    y.sum().backward()
    kept = y.numpy() != 0
    np.testing.assert_allclose(x.backend.to_numpy(x.grad), kept / 0.6)


def test_erf_primitive_passes_gradcheck(backend, rng):
    assert tinyattn.gradcheck(lambda x: x.erf(), *_leaves(rng, (4, 5)))


def test_erf_primitive_matches_pytorch(torch, backend, rng):
    x = rng.standard_normal((3, 4)) * 2
    out, (grad,) = _forward_backward(lambda t: t.erf(), [x])
    leaf = torch.tensor(x, requires_grad=True)
    expected = torch.erf(leaf)
    expected.backward(torch.tensor(np.random.default_rng(7).standard_normal(out.shape)))
    np.testing.assert_allclose(out, expected.detach().numpy(), **F64)
    np.testing.assert_allclose(grad, leaf.grad.numpy(), **F64)


LINEAR_SHAPES = [[(4, 3), (5, 3), (5,)], [(2, 3, 4), (6, 4), (6,)], [(2, 2, 3, 4), (1, 4), (1,)],
                 [(2, 3, 4), (6, 4), (1, 6)], [(2, 3, 4), (6, 4), ()]]


@pytest.mark.parametrize("shapes", LINEAR_SHAPES, ids=str)
def test_linear_fused_equals_composite_gradcheck_and_pytorch(torch, backend, rng, shapes):
    arrays = [rng.standard_normal(s) for s in shapes]
    out_f, grads_f = _forward_backward(_fused(F.linear), arrays)
    out_c, grads_c = _forward_backward(C.linear, arrays)
    np.testing.assert_allclose(out_f, out_c, **F64)
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch.nn.functional.linear(*leaves)
    expected.backward(torch.tensor(np.random.default_rng(7).standard_normal(out_f.shape)))
    np.testing.assert_allclose(out_f, expected.detach().numpy(), **F64)
    for ours, twin, leaf in zip(grads_f, grads_c, leaves):
        np.testing.assert_allclose(ours, twin, **F64)
        np.testing.assert_allclose(ours, leaf.grad.numpy(), **F64)
    assert tinyattn.gradcheck(_fused(F.linear), *_leaves(rng, *shapes))
    assert tinyattn.gradcheck(_fused(lambda x, w: F.linear(x, w)), *_leaves(rng, *shapes[:2]))


@pytest.mark.parametrize("dtype, approximate",
                         [("float32", "none"), ("float64", "none"), ("float32", "tanh")],
                         ids=["exact float32", "exact float64", "tanh"])
def test_gelu_without_a_gradient_skips_the_slope_and_gives_the_same_values(backend, monkeypatch, dtype,
                                                                          approximate):
    """Under no_grad, or on an input that needs no gradient, GELU fills y alone (6 to 10 passes
    fewer), by the same operations: the values are equal bit for bit."""
    with tinyattn.reference_mode(False):      # the fused GELU's kernel passes
        x_values = np.random.default_rng(0).standard_normal((5, 7)) * 3
        outputs = []
        chunked = fused.map_row_chunks
        monkeypatch.setattr(fused, "map_row_chunks",
                            lambda *a, **k: outputs.append(k["outputs"]) or chunked(*a, **k))
        with_slope = F.gelu(tinyattn.tensor(x_values, dtype=dtype, requires_grad=True), approximate)
        with tinyattn.no_grad():
            inference = F.gelu(tinyattn.tensor(x_values, dtype=dtype, requires_grad=True), approximate)
        constant = F.gelu(tinyattn.tensor(x_values, dtype=dtype), approximate)
        assert outputs == [2, 1, 1]
        np.testing.assert_array_equal(inference.numpy(), with_slope.numpy())
        np.testing.assert_array_equal(constant.numpy(), with_slope.numpy())


def test_float32_exact_gelu_is_within_its_error_bound(backend):
    """float32 exact GELU takes erfc from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, so
    Phi is off by < 7.5e-8; PyTorch's float32 erf is the same formula). Against the float64
    GELU (series erf, ~1e-15) on a dense grid: y within 7.5e-8 |x| plus float32 rounding of
    its ~20 operations (8 eps |y|; measured 3.4), the slope within 7.5e-8 plus 4 eps (measured
    1.8)."""
    with tinyattn.reference_mode(False):      # the fused kernel's erfc (A&S)
        x = np.linspace(-12, 12, 20001).astype(np.float32)
        results = {}
        for dtype in ("float32", "float64"):
            t = tinyattn.tensor(x.astype(dtype), requires_grad=True)
            y = F.gelu(t)
            y.backward(tinyattn.ones(*x.shape, dtype=dtype))
            results[dtype] = y.numpy().astype(np.float64), t.backend.to_numpy(t.grad).astype(np.float64)
        (y32, s32), (y64, s64) = results["float32"], results["float64"]
        eps = float(np.finfo(np.float32).eps)
        assert np.all(np.abs(y32 - y64) <= 7.5e-8 * np.abs(x) + 8 * eps * np.abs(y64) + 1e-38)
        assert np.all(np.abs(s32 - s64) <= 7.5e-8 + 4 * eps)


@pytest.mark.parametrize("row", [[-math.inf, -math.inf], [math.inf, 0.0]], ids=["all -inf", "+inf"])
def test_logsumexp_of_a_row_with_infinities_matches_pytorch(backend, torch, row):
    with tinyattn.reference_mode(False):      # bit for bit: the fused backward is torch's exp(x - y)
        # a fully masked row is -inf, not nan
        values = [row, [1.0, 2.0]]
        x = tinyattn.tensor(values, dtype="float64", requires_grad=True)
        t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = F.logsumexp(x, dim=1)
            y.sum().backward()
        expected = torch.logsumexp(t, 1)
        expected.sum().backward()
        np.testing.assert_array_equal(y.numpy(), expected.detach().numpy())
        np.testing.assert_array_equal(x.backend.to_numpy(x.grad), t.grad.numpy())       # nan where torch's is


# -- edge cases the fuzz suite (test_fuzz_functional.py) found -----------------------------------
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_softmaxes_of_a_0d_tensor_follow_pytorch(name, backend):
    """PyTorch: softmax(tensor(2.), 0) is 1, log_softmax 0, logsumexp 2 (ours: tuple index out of range)."""
    assert getattr(F, name)(tinyattn.tensor(2.0), dim=0).item() == {"softmax": 1.0, "log_softmax": 0.0,
                                                                     "logsumexp": 2.0}[name]


def test_logsumexp_of_integers_is_float32_and_of_an_empty_axis_minus_inf(backend):
    """PyTorch: logsumexp of uint8 is float32 (NumPy's exp gave float16), of nothing -inf."""
    out = F.logsumexp(tinyattn.tensor(np.array([1, 2], dtype="uint8")), dim=0)
    assert out.dtype == "float32" and abs(out.item() - math.log(math.e + math.e ** 2)) < 1e-6
    assert F.logsumexp(tinyattn.zeros(2, 0), dim=1).tolist() == [-math.inf, -math.inf]


def test_logsumexp_over_dim_empty_tuple_reduces_every_axis(backend):
    """As sum(dim=()) (PyTorch's own logsumexp fails on dim=() with a broadcast error)."""
    assert F.logsumexp(tinyattn.zeros(2, 2), dim=()).item() == pytest.approx(math.log(4.0))


@pytest.mark.parametrize("mode", ["fused", "reference"])
def test_cross_entropy_with_no_classes_names_the_target(mode, backend):
    """PyTorch: IndexError "Target -1 is out of bounds"; ours reshaped with an ambiguous -1."""
    with tinyattn.reference_mode(mode == "reference"), \
            pytest.raises(IndexError, match=r"cross_entropy: target 0 is out of range"):
        F.cross_entropy(tinyattn.zeros(2, 0), tinyattn.tensor([0, 0]))


def test_layer_norm_over_no_axes_is_refused_naming_layer_norm(backend):
    """PyTorch: "Expected normalized_shape to be at least 1-dimensional"."""
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape must name at least one axis"):
        F.layer_norm(tinyattn.ones(3), ())


def test_linear_of_masks_is_refused_and_of_empty_rows_works(backend):
    """PyTorch has no boolean matrix product; an empty batch reshaped with -1 was ambiguous."""
    with pytest.raises(TypeError, match="linear: no matrix product of boolean tensors"):
        F.linear(tinyattn.tensor([True]), tinyattn.tensor([[True]]))
    x = tinyattn.zeros(0, 0, dtype="float64", requires_grad=True)
    w = tinyattn.zeros(2, 0, dtype="float64", requires_grad=True)
    F.linear(x, w).sum().backward()
    assert F.linear(x, w).shape == (0, 2) and w.grad.shape == (2, 0)


def test_embedding_errors_name_embedding(backend):
    """The errors named "indexing", which the user never called; PyTorch refuses boolean ids."""
    weight = tinyattn.zeros(3, 2)
    with pytest.raises(TypeError, match="embedding: ids must be integers, got bool"):
        F.embedding(tinyattn.tensor([True]), weight)
    with pytest.raises(IndexError, match=r"embedding: index 3 is out of range .*ids must be in \[0, 3\)"):
        F.embedding(tinyattn.tensor([3]), weight)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_no_classes_and_every_target_ignored_follows_pytorch(reduction, backend):
    """PyTorch: a mean of no position is nan, a sum 0, each position 0."""
    loss = F.cross_entropy(tinyattn.zeros(2, 0), tinyattn.tensor([-100, -100]), reduction=reduction)
    expected = {"mean": [math.nan], "sum": [0.0], "none": [0.0, 0.0]}[reduction]
    np.testing.assert_array_equal(loss.numpy().reshape(-1), expected)


def test_cross_entropy_takes_uint8_targets_with_a_negative_ignore_index(backend):
    """Comparing uint8 targets with -100 failed on array_api_strict (OverflowError)."""
    loss = F.cross_entropy(tinyattn.zeros(2, 3), tinyattn.tensor(np.array([1, 2], dtype="uint8")))
    assert loss.item() == pytest.approx(math.log(3.0))


def test_dropout_in_training_refuses_integers(backend):
    """Keeping values scaled by 1 / (1 - p) needs floats (ours turned a mask into float32)."""
    with pytest.raises(TypeError, match="dropout: the input must be floating point, got bool"):
        F.dropout(tinyattn.tensor([True]), 1.0)
    assert F.dropout(tinyattn.tensor([True]), 0.5, training=False).dtype == "bool"
