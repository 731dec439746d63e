"""The CuPy backend's own code, run without a GPU on a stand-in for CuPy (tests/cupy_double.py):
the ways CuPy differs from NumPy and from array_api_strict, each met by the path that handles it,
and compared with the NumPy backend on the same numbers.

The two sides sum in different orders (whole arrays here, NumPy's chunks and vecdot there), so
float32 results agree to rounding, not bit for bit: rtol 1e-5.
"""
import operator

import numpy as np
import pytest
from cupy_double import ABSENT_IN_CUPY_13, GeneratorWithoutFloat16, cupy_module, make_cupy_double

import tinyattn
import tinyattn.backend
import tinyattn.functional as F
from tinyattn import nn, optim

CLOSE = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture
def cupy_double(monkeypatch):
    """The test runs inside use_backend of a CupyBackend on the stand-ins (registered for it only)."""
    monkeypatch.setitem(tinyattn.backend._FACTORIES, "cupy_double", make_cupy_double)
    with tinyattn.use_backend("cupy_double") as backend:
        yield backend


def test_the_stand_in_fails_as_cupy_does(cupy_double):
    xp = cupy_double.xp
    assert cupy_double.name == "cupy" and cupy_double.chunk_elements is None
    assert not any(hasattr(cupy_module(), name) for name in ABSENT_IN_CUPY_13)
    with pytest.raises(TypeError):
        operator.index(xp.argmax(xp.asarray([1, 3, 2])))
    with pytest.raises(TypeError, match="float16"):
        GeneratorWithoutFloat16(0).standard_normal((2,), np.float16)
    assert type(xp.sum(xp.ones(3))) is cupy_double.array_type          # a 0-d array, no scalar


def on_both(fn, *arrays):
    """fn's result and its inputs' gradients, on the stand-in backend and on NumPy's, as NumPy
    arrays. The upstream gradient is not all ones, so a wrong transpose or sum shows."""
    results = []
    for backend in ("cupy_double", "numpy"):
        with tinyattn.use_backend(backend):
            inputs = [tinyattn.tensor(a, requires_grad=True) for a in arrays]
            out = fn(*inputs)
            upstream = np.linspace(-1.0, 1.0, out.numel()).reshape(out.shape).astype(np.float32)
            (out * tinyattn.tensor(upstream)).sum().backward()
            results.append([out.numpy()] + [x.backend.to_numpy(x.grad) for x in inputs])
    return results


def assert_same_on_both(fn, *arrays):
    ours, numpys = on_both(fn, *arrays)
    for got, want in zip(ours, numpys):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, **CLOSE)


def test_a_0d_index_from_argmax_picks_the_row(cupy_double):
    rows = np.arange(12, dtype=np.float32).reshape(4, 3) % 5
    x = tinyattn.tensor(rows)
    np.testing.assert_array_equal(x[x.sum(dim=1).argmax()].numpy(), rows[np.argmax(rows.sum(1))])


@pytest.mark.parametrize("draw", [tinyattn.randn, tinyattn.rand], ids=["randn", "rand"])
def test_float16_random_numbers_are_drawn_in_float32_and_rounded(cupy_double, draw):
    x = draw(1000, dtype="float16")
    assert x.dtype == "float16" and np.isfinite(x.numpy()).all() and x.numpy().std() > 0.2


def test_masks_have_a_bool_dtype(cupy_double):
    x = tinyattn.tensor([1.0, -2.0, 3.0])
    assert (x > 0).dtype == "bool"
    np.testing.assert_array_equal(x.masked_fill(x < 0, 0.0).numpy(), [1.0, 0.0, 3.0])


def _rows(*shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


SHAPES = [(2, 5, 8), (0, 5, 8), (2, 0, 8)]
SHAPE_IDS = ["normal", "B = 0", "T = 0"]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_layer_norm_without_vecdot_and_in_whole_arrays(cupy_double, shape):
    assert_same_on_both(lambda x, w, b: F.layer_norm(x, (8,), w, b),
                        _rows(*shape), _rows(8) + 1.0, _rows(8))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_gelu_in_whole_arrays(cupy_double, shape, approximate):
    assert_same_on_both(lambda x: F.gelu(x, approximate=approximate), _rows(*shape) * 3.0)


@pytest.mark.parametrize("shape", [(2, 2, 5, 4), (0, 2, 5, 4), (2, 2, 0, 4)], ids=SHAPE_IDS)
def test_fused_causal_attention_in_whole_arrays(cupy_double, shape):
    assert_same_on_both(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                        _rows(*shape), _rows(*shape) * 0.5, _rows(*shape))


def test_an_embedding_backward_sums_repeated_ids_with_scatter_add(cupy_double):
    ids = np.array([[1, 3, 1], [3, 3, 0]])
    ours, numpys = [], []
    for backend, out in (("cupy_double", ours), ("numpy", numpys)):
        with tinyattn.use_backend(backend):
            table = tinyattn.tensor(_rows(5, 4), requires_grad=True)
            (F.embedding(tinyattn.tensor(ids), table) * tinyattn.tensor(_rows(2, 3, 4))).sum().backward()
            out.append(table.backend.to_numpy(table.grad))
    np.testing.assert_allclose(ours[0], numpys[0], **CLOSE)


def _gpt_step(backend, ids, targets):
    """One training step (forward, loss, backward, clipping, AdamW) of the same GPT; the loss,
    the gradients and the weights after it, as NumPy arrays."""
    with tinyattn.use_backend(backend):
        tinyattn.manual_seed(0)
        model = nn.GPT(vocab_size=11, d_model=8, num_heads=2, num_layers=2, max_len=16)
        model.load_state_dict({k: v.numpy() for k, v in _numpy_gpt().state_dict().items()})
        opt = optim.AdamW(model.parameters(), lr=1e-2)
        loss = F.cross_entropy(model(tinyattn.tensor(ids)), tinyattn.tensor(targets))
        loss.backward()
        grads = [np.array(p.backend.to_numpy(p.grad)) for p in model.parameters()]   # copies: clipping
        # scales the gradients in place
        optim.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        return [np.asarray(loss.item())] + grads + [p.numpy() for p in model.parameters()]


def _numpy_gpt():
    with tinyattn.use_backend("numpy"):
        tinyattn.manual_seed(0)
        return nn.GPT(vocab_size=11, d_model=8, num_heads=2, num_layers=2, max_len=16)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # no positions: a mean of nan, as PyTorch
@pytest.mark.parametrize("shape", [(2, 6), (0, 6), (2, 0)], ids=["normal", "B = 0", "T = 0"])
def test_a_gpt_training_step_agrees_with_numpy(cupy_double, shape):
    ids = np.random.default_rng(1).integers(0, 11, size=(shape[0], shape[1] + 1))
    x, y = ids[:, :-1], ids[:, 1:]
    ours, numpys = _gpt_step("cupy_double", x, y), _gpt_step("numpy", x, y)
    assert len(ours) == len(numpys)
    for got, want in zip(ours, numpys):
        np.testing.assert_allclose(got, want, **CLOSE)
