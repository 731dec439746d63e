"""Reference mode: inside tinyattn.reference_mode() (or with TINYATTN_REFERENCE=1) every F.*
function and multi-head attention run their readable compositions of the engine's primitives,
and compute what the fused paths compute.

Each test sets the mode it needs explicitly, so it means the same whether the suite runs in the
default mode or with TINYATTN_REFERENCE=1.
"""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from graphs import node_kinds

import tinyattn
import tinyattn.functional as F
from tinyattn import nn
from tinyattn.engine.autograd import Function
from tinyattn.functional import fused
from tinyattn.functional.mode import is_reference_mode


def _is_primitive(kind):
    """A Function defined among the engine's primitives: engine/ops/, or an engine/*ops*.py."""
    module = kind.__module__
    return issubclass(kind, Function) and (module.startswith("tinyattn.engine.ops.") or (
        module.startswith("tinyattn.engine.") and "ops" in module.rsplit(".", 1)[-1]))


def _gpt(dtype="float32"):
    tinyattn.manual_seed(0)
    return nn.GPT(vocab_size=11, d_model=16, num_heads=4, num_layers=2, max_len=8, dtype=dtype)


def _transformer(dtype="float32", dropout=0.0):
    tinyattn.manual_seed(0)
    return nn.Transformer(9, 11, 16, 4, 2, 2, 32, dropout=dropout, max_len=8, activation="gelu",
                          dtype=dtype)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return (tinyattn.tensor(rng.integers(1, 9, (2, 7))), tinyattn.tensor(rng.integers(1, 11, (2, 6))),
            tinyattn.tensor(rng.integers(0, 11, (2, 6))))


# the loss of each model: a GPT's next-token loss with label smoothing; the Transformer's with
# padding (id 0) ignored and a causal decoder mask
def _gpt_loss(model):
    src, _, _ = _batch()
    return F.cross_entropy(model(src[:, :-1]), src[:, 1:], label_smoothing=0.1)


def _transformer_loss(model):
    src, tgt, labels = _batch()
    return F.cross_entropy(model(src, tgt, tgt_mask=tinyattn.causal_mask(6)), labels, ignore_index=0)


MODELS = [("GPT", _gpt, _gpt_loss), ("Transformer", _transformer, _transformer_loss)]


@pytest.mark.parametrize("name, make, loss_of", MODELS, ids=[m[0] for m in MODELS])
def test_a_training_step_in_reference_mode_records_only_primitive_nodes(name, make, loss_of):
    model = make()
    with tinyattn.reference_mode():
        kinds = node_kinds(loss_of(model))
    assert kinds and all(_is_primitive(kind) for kind in kinds), \
        f"{name}: not primitives: {sorted(k.__qualname__ for k in kinds if not _is_primitive(k))}"
    with tinyattn.reference_mode(False):          # the check can fail: the default graph is fused
        fused_kinds = node_kinds(loss_of(model))
    assert {fused.CrossEntropy, fused.LayerNorm, fused.Linear, fused.Gelu} <= fused_kinds


def test_dropout_in_reference_mode_records_only_primitive_nodes():
    model = _transformer(dropout=0.1).train()
    with tinyattn.reference_mode():
        kinds = node_kinds(_transformer_loss(model))
    assert all(_is_primitive(kind) for kind in kinds)


def _one_step(make, loss_of, reference):
    """The loss and every parameter's gradient of one training step, in float64."""
    model = make("float64")
    with tinyattn.reference_mode(reference):
        loss = loss_of(model)
    loss.backward()
    return loss.item(), {name: p.backend.to_numpy(p.grad) for name, p in model.named_parameters()}


@pytest.mark.parametrize("name, make, loss_of", MODELS, ids=[m[0] for m in MODELS])
def test_a_training_step_in_reference_mode_equals_the_default_one(backend, name, make, loss_of):
    reference_loss, reference_grads = _one_step(make, loss_of, reference=True)
    default_loss, default_grads = _one_step(make, loss_of, reference=False)
    # The same math, its float64 operations in another order (chunked kernels, hand-derived
    # backwards, fused attention): the two differ by rounding, a few ulps (1e-16 relative) per
    # operation through a few hundred operations; measured at most 3e-16 absolute. Some
    # gradients are 0 in exact arithmetic (the key projection's bias: softmax ignores a shift)
    # and come out as rounding noise around 0, so the tolerance is absolute as well as relative.
    # 1e-9 leaves room for rounding; a wrong term or scale would differ by far more.
    tolerance = dict(rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(reference_loss, default_loss, **tolerance)
    assert reference_grads.keys() == default_grads.keys()
    for parameter, grad in default_grads.items():
        np.testing.assert_allclose(reference_grads[parameter], grad, err_msg=parameter, **tolerance)


def _takes_the_reference_path():
    x = tinyattn.randn(2, 3, requires_grad=True)
    return not isinstance(F.softmax(x).creator, fused.Softmax)


def test_reference_mode_is_a_context_manager_that_nests_and_restores():
    with tinyattn.reference_mode(False):
        assert not is_reference_mode() and not _takes_the_reference_path()
        with tinyattn.reference_mode():
            assert is_reference_mode() and _takes_the_reference_path()
            with tinyattn.reference_mode():
                assert _takes_the_reference_path()
            assert _takes_the_reference_path()
            with tinyattn.reference_mode(False):              # the fused path, inside
                assert not is_reference_mode() and not _takes_the_reference_path()
            assert _takes_the_reference_path()
        assert not _takes_the_reference_path()


def test_reference_mode_is_restored_after_an_exception():
    with tinyattn.reference_mode(False):
        with pytest.raises(ValueError), tinyattn.reference_mode():
            raise ValueError("inside")
        assert not is_reference_mode()


def test_reference_mode_works_as_a_decorator_also_on_a_function_that_calls_itself():
    @tinyattn.reference_mode()
    def readable(depth):
        inner = readable(depth - 1) if depth else True
        return inner and _takes_the_reference_path()

    @tinyattn.reference_mode(False)
    def fast():
        return not _takes_the_reference_path()

    with tinyattn.reference_mode(False):
        assert readable(3) and not is_reference_mode()
    with tinyattn.reference_mode():
        assert fast() and is_reference_mode()


@pytest.mark.parametrize("value, expected", [("1", True), ("0", False), (None, False)])
def test_tinyattn_reference_set_to_1_switches_it_on_at_import(value, expected):
    env = {k: v for k, v in os.environ.items() if k != "TINYATTN_REFERENCE"}
    if value is not None:
        env["TINYATTN_REFERENCE"] = value
    env["PYTHONPATH"] = str(Path(tinyattn.__file__).parents[1])
    program = ("import tinyattn, tinyattn.functional as F\n"
               "y = F.softmax(tinyattn.randn(2, 3, requires_grad=True))\n"
               "print(tinyattn.functional.mode.is_reference_mode(), type(y.creator).__name__)")
    result = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ([str(expected), "Div"] if expected else [str(expected), "Softmax"])


@pytest.mark.parametrize("row", [[-math.inf, -math.inf], [math.inf, 0.0]], ids=["all -inf", "+inf"])
def test_reference_logsumexp_of_a_row_with_infinities_matches_pytorch(backend, torch, row):
    # as the fused one's test, but the gradient of the finite row comes through exp and log
    # (exp(x - m) / sum) instead of exp(x - y): equal to PyTorch's up to float64 rounding
    values = [row, [1.0, 2.0]]
    x = tinyattn.tensor(values, dtype="float64", requires_grad=True)
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    with tinyattn.reference_mode(), np.errstate(divide="ignore", invalid="ignore"):
        y = F.logsumexp(x, dim=1)
        y.sum().backward()
    expected = torch.logsumexp(t, 1)
    expected.sum().backward()
    np.testing.assert_array_equal(y.numpy(), expected.detach().numpy())
    np.testing.assert_allclose(x.backend.to_numpy(x.grad), t.grad.numpy(), rtol=1e-15, atol=0)


def test_reference_float32_exact_gelu_is_within_the_error_bound_of_erf(backend):
    """The reference exact GELU takes Phi(x) = (1 + erf(x / sqrt 2)) / 2 from Tensor.erf, whose
    float32 error is below 2.5e-7 (test_erf_matches_math_erf), and 1 + erf rounds by eps / 2
    more: Phi is off by at most 1.25e-7 + eps / 4 (the fused kernel's erfc avoids that sum, and
    its bound is 7.5e-8). y within that times |x| plus 8 eps |y| (measured 8.3e-8 |x|), the
    slope within the fused one's bound, 7.5e-8 + 4 eps (measured 1.6 eps)."""
    x = np.linspace(-12, 12, 20001).astype(np.float32)
    results = {}
    with tinyattn.reference_mode():
        for dtype in ("float32", "float64"):
            t = tinyattn.tensor(x.astype(dtype), requires_grad=True)
            y = F.gelu(t)
            y.backward(tinyattn.ones(*x.shape, dtype=dtype))
            results[dtype] = y.numpy().astype(np.float64), t.backend.to_numpy(t.grad).astype(np.float64)
    (y32, s32), (y64, s64) = results["float32"], results["float64"]
    eps = float(np.finfo(np.float32).eps)
    assert np.all(np.abs(y32 - y64) <= (1.25e-7 + eps / 4) * np.abs(x) + 8 * eps * np.abs(y64) + 1e-38)
    assert np.all(np.abs(s32 - s64) <= 7.5e-8 + 4 * eps)


def test_both_paths_raise_the_same_errors():
    calls = [lambda: F.linear(tinyattn.randn(2, 4), tinyattn.randn(4)),
             lambda: F.linear(tinyattn.randn(2, 4), tinyattn.randn(3, 5)),
             lambda: F.linear(tinyattn.randn(2, 4), tinyattn.randn(3, 4), tinyattn.randn(2, 2, 3)),
             lambda: F.layer_norm(tinyattn.randn(2, 4), 4, tinyattn.randn(3)),
             lambda: F.softmax(tinyattn.randn(2, 4), axis=2),
             lambda: F.cross_entropy(tinyattn.randn(2, 3), tinyattn.tensor([0, 3])),
             lambda: F.gelu(tinyattn.randn(2), approximate="fast")]
    for call in calls:
        errors = []
        for reference in (False, True):
            with tinyattn.reference_mode(reference), pytest.raises(Exception) as caught:
                call()
            errors.append((type(caught.value), str(caught.value)))
        assert errors[0] == errors[1]
