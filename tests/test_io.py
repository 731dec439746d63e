"""Checkpoints: round trips across backends, metadata, and refusal of anything that is not one."""
import pickle

import numpy as np
import pytest

import tinyattn
import tinyattn.nn as nn


def _model():
    return nn.GPT(vocab_size=11, d_model=8, num_heads=2, num_layers=1, max_len=6)


def test_save_then_load_round_trips_weights_and_metadata(tmp_path, backend):
    model = _model()
    tinyattn.save(model, tmp_path / "m.npz", metadata={"config": {"d_model": 8}, "step": 42})
    state = tinyattn.load(tmp_path / "m.npz")
    assert state.metadata == {"config": {"d_model": 8}, "step": 42}
    assert list(state) == list(model.state_dict())
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(state[name], value.numpy())


def test_a_model_saved_on_one_backend_loads_on_another(tmp_path):
    with tinyattn.use_backend("array_api_strict"):
        tinyattn.manual_seed(1)
        source = _model()
        tinyattn.save(source, tmp_path / "m.npz")
    tinyattn.manual_seed(2)
    target = _model()
    target.load_state_dict(tinyattn.load(tmp_path / "m.npz"))
    idx = [[1, 2, 3]]
    with tinyattn.use_backend("array_api_strict"):
        expected = source(tinyattn.tensor(idx)).numpy()
    np.testing.assert_allclose(target(tinyattn.tensor(idx)).numpy(), expected, rtol=1e-6)


def test_a_pickle_is_refused_without_being_unpickled(tmp_path):
    class Bomb:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps({"weight": Bomb()}))
    with pytest.raises(ValueError, match="is a pickle; tinyattn never unpickles"):
        tinyattn.load(path)


def test_an_npz_with_object_arrays_is_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, __tinyattn_checkpoint__=np.array(1), weight=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="holds pickled objects"):
        tinyattn.load(path)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a tinyattn checkpoint"):
        tinyattn.load(text)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weight=np.zeros(3))
    with pytest.raises(ValueError, match="no __tinyattn_checkpoint__ record"):
        tinyattn.load(foreign)


def test_loading_a_checkpoint_with_wrong_keys_leaves_the_model_unchanged(tmp_path):
    model = _model()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    state.pop("final_norm.bias")
    state["head.weight"] = np.zeros((3, 3), np.float32)
    state["extra"] = np.zeros(2)
    tinyattn.save(state, tmp_path / "bad.npz")
    with pytest.raises(RuntimeError, match="missing keys: final_norm.bias.*unexpected keys: extra"):
        model.load_state_dict(tinyattn.load(tmp_path / "bad.npz"))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[name])


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        tinyattn.save(_model(), tmp_path / "m.npz", metadata={"when": object()})


@pytest.mark.parametrize("value", [[[0.0] * 4] * 3, "weights", 1.5, np.array([["a"] * 4] * 3)])
def test_load_state_dict_names_the_key_of_a_value_that_is_no_numeric_array(value):
    # PyTorch 2.13 raises RuntimeError 'While copying the parameter named "weight", expected
    # torch.Tensor or Tensor-like object from checkpoint but received <class 'list'>' (or 'str',
    # 'float'); for the string array, torch.from_numpy refuses its dtype before loading
    model = nn.Linear(4, 3)
    before = model.weight.numpy().copy()
    with pytest.raises(RuntimeError, match=r"values that are not numeric arrays: weight: a"):
        model.load_state_dict({"weight": value, "bias": np.zeros(3)})
    np.testing.assert_array_equal(model.weight.numpy(), before)
