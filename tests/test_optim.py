"""Optimisers, gradient clipping and learning-rate schedules, against PyTorch on every backend.

Trajectory tests train the same small model in both libraries from identical starting weights
for 20 steps, each library computing its gradients with its own autograd, and compare the
weights after every step. The model is loss = sum((tanh(X @ W + b) - Y)^2), smooth and with
gradients far from zero, so rounding differences are never amplified by a sign change.
"""
import math

import numpy as np
import pytest

import tinyattn
from tinyattn import optim

STEPS = 20
# float64: both libraries apply the same formulas, differing by a few ulps per operation (our
# Adam folds sqrt(1 - beta2^t) into the step size; the gradients come from two autograds).
# Observed over 20 steps: absolute differences <= 3e-15 on weights of size ~1, i.e. relative
# 1e-13 at worst on weights that pass near 1e-4. rtol 1e-12 with atol 1e-14 keeps a margin of
# 3-10x, and any wrong formula is off by far more: even eps inside vs outside the bias
# correction moves a weight by ~lr * eps = 5e-10.
F64 = dict(rtol=1e-12, atol=1e-14)
# float32 (eps = 6e-8) is run on one fixed sequence of gradients fed to both libraries, so the
# only differences are the optimizers' own roundings: we round lr * g before subtracting where
# PyTorch fuses p + (-lr) g, and fold Adam's bias correction differently. Each step's update then
# differs by about an ulp of the update, and the weights (kept below 4 in size, ulp 4.8e-7) by at
# most ~1 ulp after 20 steps (observed: 4.8e-7 for SGD, 1.2e-7 for Adam). atol 1e-6 is two
# ulps at the largest weights; a wrong formula is off by ~lr = 1e-2.
F32 = dict(rtol=1e-6, atol=1e-6)


def _problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrays = dict(W=rng.standard_normal((3, 4)), b=rng.standard_normal(4) * 0.1,
                  X=rng.standard_normal((5, 3)), Y=rng.uniform(-0.9, 0.9, (5, 4)))
    return {k: v.astype(dtype) for k, v in arrays.items()}


def _loss(W, b, X, Y):
    return (((X @ W + b).tanh() - Y) ** 2).sum()


def _train(make_opt, params, data, steps=STEPS):
    """Run `steps` updates; return the weights after each step as float64 NumPy arrays."""
    opt = make_opt(params)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(*params, *data).backward()
        opt.step()
        history.append([np.array(p.detach().numpy(), dtype=np.float64) for p in params])
    return history


def _ours_and_torch(torch, dtype, seed=0):
    arrays = _problem(dtype, seed)
    ours = [tinyattn.tensor(arrays[k], requires_grad=True) for k in "Wb"]
    theirs = [torch.tensor(arrays[k], requires_grad=True) for k in "Wb"]
    our_data = [tinyattn.tensor(arrays[k]) for k in "XY"]
    return (ours, our_data), (theirs, [torch.tensor(arrays[k]) for k in "XY"])


def _assert_same_trajectory(ours, theirs, tol):
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for name, x, y in zip("Wb", a, b):
            np.testing.assert_allclose(x, y, **tol, err_msg=f"{name} after step {step + 1}")


# (test id, optimizer class name in both libraries, keyword arguments shared by both)
CASES = [
    ("sgd default lr", "SGD", dict()),
    ("sgd", "SGD", dict(lr=0.1)),
    ("sgd momentum", "SGD", dict(lr=0.1, momentum=0.9)),
    ("sgd momentum dampening", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("sgd nesterov", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd weight decay", "SGD", dict(lr=0.1, weight_decay=0.05)),
    ("sgd momentum weight decay", "SGD", dict(lr=0.1, momentum=0.8, weight_decay=0.05)),
    ("adam", "Adam", dict(lr=0.05)),
    ("adam l2 weight decay", "Adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("adamw default decay", "AdamW", dict(lr=0.05)),
    ("adamw", "AdamW", dict(lr=0.05, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.3)),
]


@pytest.mark.parametrize("name,cls,kwargs", CASES, ids=[c[0] for c in CASES])
def test_float64_trajectory_matches_pytorch(backend, torch, name, cls, kwargs):
    (ours, our_data), (theirs, their_data) = _ours_and_torch(torch, "float64")
    got = _train(lambda ps: getattr(optim, cls)(ps, **kwargs), ours, our_data)
    want = _train(lambda ps: getattr(torch.optim, cls)(ps, **kwargs), theirs, their_data)
    _assert_same_trajectory(got, want, F64)


F32_CASES = [
    ("sgd momentum", "SGD", dict(lr=0.03, momentum=0.9)),
    ("sgd nesterov weight decay", "SGD", dict(lr=0.03, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("adam l2 weight decay", "Adam", dict(lr=0.05, weight_decay=0.1)),
    ("adamw", "AdamW", dict(lr=0.05, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.3)),
]


@pytest.mark.parametrize("name,cls,kwargs", F32_CASES, ids=[c[0] for c in F32_CASES])
def test_float32_updates_on_the_same_gradients_match_pytorch_and_stay_float32(backend, torch, name, cls,
                                                                               kwargs):
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4)).astype(np.float32)
    ours, theirs = tinyattn.tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    our_opt, their_opt = getattr(optim, cls)([ours], **kwargs), getattr(torch.optim, cls)([theirs], **kwargs)
    for step in range(STEPS):
        grad = rng.standard_normal((3, 4)).astype(np.float32)
        ours.grad, theirs.grad = ours.backend.asarray(grad), torch.tensor(grad)
        our_opt.step()
        their_opt.step()
        assert ours.dtype == "float32"
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **F32, err_msg=f"step {step + 1}")
    for key, value in our_opt.state[ours].items():
        if key != "step":
            assert tinyattn.Tensor(value).dtype == "float32", key


NUMPY_HYPERPARAMETERS = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.1)),
    ("Adam", dict(lr=0.1, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.1, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1)),
]


@pytest.mark.parametrize("cls,kwargs", NUMPY_HYPERPARAMETERS, ids=[c[0] for c in NUMPY_HYPERPARAMETERS])
def test_numpy_float64_hyperparameters_give_the_same_float32_arithmetic(backend, cls, kwargs):
    """A NumPy float64 scalar (say an lr from np.cos) must not turn the float32 update into a
    float64 one (slower, and rounded differently): the result is bit for bit the Python-float one."""
    def run(to_number):
        rng = np.random.default_rng(0)
        w = tinyattn.tensor(rng.standard_normal(1000).astype(np.float32), requires_grad=True)
        hyper = {k: tuple(map(to_number, v)) if isinstance(v, tuple) else to_number(v)
                 for k, v in kwargs.items()}
        opt = getattr(optim, cls)([w], **hyper)
        for _ in range(3):
            w.grad = w.backend.asarray(rng.standard_normal(1000), "float32")
            opt.step()
        return w.numpy()
    np.testing.assert_array_equal(run(np.float64), run(float))


def test_param_groups_with_different_lr_and_weight_decay_match_pytorch(backend, torch):
    (ours, our_data), (theirs, their_data) = _ours_and_torch(torch, "float64", seed=3)

    def groups(ps):
        return [{"params": [ps[0]], "weight_decay": 0.2},
                {"params": [ps[1]], "lr": 0.01, "weight_decay": 0.0}]
    got = _train(lambda ps: optim.AdamW(groups(ps), lr=0.05), ours, our_data)
    want = _train(lambda ps: torch.optim.AdamW(groups(ps), lr=0.05), theirs, their_data)
    _assert_same_trajectory(got, want, F64)


def test_groups_fill_missing_hyperparameters_from_defaults(backend):
    a, b = tinyattn.ones(2, requires_grad=True), tinyattn.ones(2, requires_grad=True)
    opt = optim.SGD([{"params": [a], "lr": 0.5}, {"params": [b]}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]


def _one_sgd_step(params_or_groups, w):
    opt = optim.SGD(params_or_groups, lr=0.1)
    w.grad = w.backend.asarray([1.0, 2.0], "float32")
    opt.step()
    return w.numpy()


def test_tensor_listed_twice_in_a_group_is_updated_once(backend):
    w = tinyattn.zeros(2, requires_grad=True)
    np.testing.assert_allclose(_one_sgd_step([w, w], w), [-0.1, -0.2], rtol=1e-6)


def test_tensor_in_two_groups_is_updated_once_with_the_first_groups_settings(backend):
    w = tinyattn.zeros(2, requires_grad=True)
    with pytest.warns(UserWarning, match="already in parameter group 0"):
        after = _one_sgd_step([{"params": [w]}, {"params": [w], "lr": 5.0}], w)
    np.testing.assert_allclose(after, [-0.1, -0.2], rtol=1e-6)


@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW"])
def test_parameters_without_gradient_are_skipped(backend, cls):
    used, unused = tinyattn.ones(2, requires_grad=True), tinyattn.ones(2, requires_grad=True)
    opt = getattr(optim, cls)([used, unused], lr=0.1, weight_decay=0.1)
    (used * 3.0).sum().backward()
    opt.step()
    np.testing.assert_array_equal(unused.numpy(), [1.0, 1.0])
    assert unused not in opt.state and not np.allclose(used.numpy(), 1.0)


@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW"])
def test_step_updates_the_parameter_array_in_place(backend, cls):
    w = tinyattn.ones(4, requires_grad=True)
    array = w.data
    opt = getattr(optim, cls)([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w.data is array and not np.allclose(w.numpy(), 1.0)


def test_optimizer_accepts_a_generator_of_parameters(backend):
    ws = [tinyattn.ones(2, requires_grad=True) for _ in range(3)]
    opt = optim.Adam(w for w in ws)
    assert opt.param_groups[0]["params"] == ws and opt.param_groups[0]["lr"] == 1e-3


def test_step_with_a_closure_evaluates_it_and_returns_the_loss(backend):
    w = tinyattn.ones(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss
    with tinyattn.no_grad():                    # step re-enables grad for the closure
        assert opt.step(closure).item() == 2.0
    np.testing.assert_allclose(w.numpy(), [0.8, 0.8], rtol=1e-6)


def test_zero_grad_sets_gradients_to_none(backend):
    w = tinyattn.ones(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad()
    assert w.grad is None


def test_zero_grad_without_set_to_none_fills_zeros(backend):
    w = tinyattn.ones(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.backend.to_numpy(w.grad), [0.0, 0.0])


@pytest.mark.parametrize("make, message", [
    (lambda w: optim.SGD(w, lr=0.1), "wrap it in a list"),
    (lambda w: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda w: optim.SGD([w], lr=-1.0), "invalid learning rate"),
    (lambda w: optim.SGD([w], lr=0.1, nesterov=True), "Nesterov momentum needs momentum > 0"),
    (lambda w: optim.Adam([w], betas=(0.9, 1.0)), "invalid beta2"),
    (lambda w: optim.SGD([w.numpy()], lr=0.1), "can only optimize Tensors"),
], ids=["one tensor", "empty", "negative lr", "nesterov without momentum", "beta2 = 1", "numpy array"])
def test_bad_optimizer_arguments_raise_a_clear_error(backend, make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make(tinyattn.ones(2, requires_grad=True))


# -- gradient clipping ---------------------------------------------------------------------------
def _grads_ours_and_torch(torch, scale, seed=5):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s) * scale for s in [(3, 4), (4,), (2, 2, 2)]]
    ours = [tinyattn.zeros(g.shape, dtype="float64", requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for o, t, g in zip(ours, theirs, grads):
        o.grad, t.grad = o.backend.asarray(g), torch.tensor(g)
    return ours, theirs, grads


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_matches_pytorch_when_above_max_norm(backend, torch, norm_type):
    ours, theirs, _ = _grads_ours_and_torch(torch, scale=10.0)
    total = optim.clip_grad_norm_(ours, 1.0, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type)
    np.testing.assert_allclose(total.item(), want.item(), **F64)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.backend.to_numpy(o.grad), t.grad.numpy(), **F64)


def test_clip_grad_norm_leaves_gradients_unchanged_below_max_norm(backend, torch):
    ours, theirs, grads = _grads_ours_and_torch(torch, scale=0.01)
    total = optim.clip_grad_norm_(ours, 1.0)
    np.testing.assert_allclose(total.item(), torch.nn.utils.clip_grad_norm_(theirs, 1.0).item(), **F64)
    for o, g in zip(ours, grads):
        np.testing.assert_array_equal(o.backend.to_numpy(o.grad), g)


def test_clip_grad_norm_takes_a_generator_and_returns_a_0d_tensor(backend):
    ws = [tinyattn.ones(3, requires_grad=True) for _ in range(2)] + [tinyattn.ones(2, requires_grad=True)]
    for w in ws[:2]:
        (w * 2.0).sum().backward()                   # grads of 2 each: total norm sqrt(6 * 4)
    total = optim.clip_grad_norm_((w for w in ws), 1.0)
    assert isinstance(total, tinyattn.Tensor) and total.shape == () and total.backend.name == backend
    assert math.isclose(total.item(), math.sqrt(24.0), rel_tol=1e-6)
    clipped = np.sqrt(sum((w.backend.to_numpy(w.grad) ** 2).sum() for w in ws[:2]))
    assert math.isclose(clipped, 1.0, rel_tol=1e-5) and ws[2].grad is None


def test_clip_grad_norm_keeps_float32_gradients_float32(backend):
    w = tinyattn.ones(3, requires_grad=True)
    (w * 10.0).sum().backward()
    optim.clip_grad_norm_([w], 1.0)
    assert tinyattn.Tensor(w.grad).dtype == "float32"


def test_clip_grad_norm_scales_float32_and_float64_gradients_each_in_its_own_dtype(backend):
    # the factor is a device array: multiplying a float32 gradient by a float64 one in place is
    # refused by the array API, so each dtype gets the factor in its own
    w32, w64 = tinyattn.ones(3, requires_grad=True), tinyattn.ones(3, dtype="float64", requires_grad=True)
    for w in (w32, w64):
        (w * 10.0).sum().backward()
    total = optim.clip_grad_norm_([w64, w32], 1.0)       # the norm, and factor, in float64
    assert math.isclose(total.item(), math.sqrt(600.0), rel_tol=1e-6)
    for w, dtype in ((w32, "float32"), (w64, "float64")):
        assert tinyattn.Tensor(w.grad).dtype == dtype
        np.testing.assert_allclose(w.backend.to_numpy(w.grad), 10.0 / math.sqrt(600.0), rtol=1e-5)


def test_clip_grad_norm_with_a_nan_norm_makes_every_gradient_nan_as_pytorch(backend, torch):
    ours, theirs, _ = _grads_ours_and_torch(torch, scale=1.0)
    for o, t in zip(ours[:1], theirs[:1]):
        o.grad[0, 0], t.grad[0, 0] = float("nan"), float("nan")
    total = optim.clip_grad_norm_(ours, 1.0)
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isnan(total.item())
    for o, t in zip(ours, theirs):
        assert np.isnan(o.backend.to_numpy(o.grad)).all() and t.grad.isnan().all().item()


# -- learning-rate schedules ---------------------------------------------------------------------
def _lrs(schedule, steps):
    """The lr of each group used by updates 1..steps (the first is set on construction)."""
    lrs = []
    for _ in range(steps):
        lrs.append(schedule.get_last_lr())
        schedule.optimizer.step()
        schedule.step()
    return lrs


def _torch_lrs(torch, lrs, lr_lambda, steps):
    params = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    opt = torch.optim.SGD(params, lr=lrs[0])
    return _lrs(torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda), steps)


def _our_opt(lrs):
    return optim.SGD([{"params": [tinyattn.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs], lr=lrs[0])


def test_lambda_lr_matches_pytorch_for_every_group(torch):
    def fn(step):
        return 0.95 ** step + (step % 3) * 0.1
    got = _lrs(optim.LambdaLR(_our_opt([0.1, 0.02]), fn), 30)
    np.testing.assert_allclose(got, _torch_lrs(torch, [0.1, 0.02], fn, 30), rtol=1e-15)


def test_warmup_inverse_sqrt_matches_the_papers_formula_in_pytorch(torch):
    d_model, warmup, factor = 512, 10, 2.0

    def paper(step):        # eq. 3 with n = step + 1
        return factor * d_model ** -0.5 * min((step + 1) ** -0.5, (step + 1) * warmup ** -1.5)
    got = _lrs(optim.WarmupInverseSqrt(_our_opt([1.0]), d_model, warmup, factor=factor), 40)
    np.testing.assert_allclose(got, _torch_lrs(torch, [1.0], paper, 40), rtol=1e-15)


def test_warmup_inverse_sqrt_peaks_at_update_warmup_with_the_papers_value():
    d_model, warmup = 64, 25
    lrs = [lr for (lr,) in _lrs(optim.WarmupInverseSqrt(_our_opt([0.5]), d_model, warmup), 100)]
    assert lrs.index(max(lrs)) + 1 == warmup            # update number n == warmup
    assert math.isclose(max(lrs), d_model ** -0.5 * warmup ** -0.5, rel_tol=1e-15)


def test_warmup_cosine_matches_nanogpts_get_lr_in_pytorch(torch):
    warmup, total, min_lr = 5, 30, 0.01

    def get_lr_multiplier(it, base):     # nanoGPT's get_lr divided by the base lr
        if it < warmup:
            return (it + 1) / (warmup + 1)
        if it > total:
            return min_lr / base
        coeff = 0.5 * (1.0 + math.cos(math.pi * (it - warmup) / (total - warmup)))
        return (min_lr + coeff * (base - min_lr)) / base
    bases = [0.1, 0.05]
    got = _lrs(optim.WarmupCosine(_our_opt(bases), warmup, total, min_lr=min_lr), 40)
    want = _torch_lrs(torch, bases, [lambda s, b=b: get_lr_multiplier(s, b) for b in bases], 40)
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_warmup_cosine_reaches_base_lr_after_warmup_and_min_lr_at_the_end():
    lrs = [lr for (lr,) in _lrs(optim.WarmupCosine(_our_opt([0.3]), 4, 20, min_lr=0.03), 25)]
    assert lrs[0] == pytest.approx(0.3 / 5) and lrs[4] == pytest.approx(0.3)
    assert all(a < b for a, b in zip(lrs[:4], lrs[1:5])) and all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[20:] == pytest.approx([0.03] * 5)


def test_schedule_sets_the_step_0_lr_in_the_optimizer_on_construction():
    opt = _our_opt([0.3])
    optim.WarmupCosine(opt, 4, 20)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.3 / 5)
    assert opt.param_groups[0]["initial_lr"] == 0.3
