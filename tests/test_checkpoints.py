"""Resuming training: optimiser and schedule state_dicts, PyTorch-shaped.

The central test trains a small model N steps, takes a checkpoint (model, optimiser, schedule),
and restores it into freshly made objects: the next M steps must give exactly (bit for bit) the
weights of a run that never stopped. Without the optimiser's state, Adam would restart from zero
moments and SGD from an empty momentum buffer, and the weights would differ.
"""
import copy

import numpy as np
import pytest

import tinyattn
from tinyattn import nn, optim

N_STEPS, M_STEPS = 4, 5


def _model(seed):
    tinyattn.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3))


def _data():
    rng = np.random.default_rng(7)
    return (tinyattn.tensor(rng.standard_normal((6, 4)).astype("float32")),
            tinyattn.tensor(rng.standard_normal((6, 3)).astype("float32")))


def _sgd(model):
    return optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)


def _adam(model):
    return optim.Adam(model.parameters(), lr=1e-2)


def _adamw(model):
    # two groups, as in a real recipe: decay the matrices, not the biases
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    return optim.AdamW([{"params": weights, "weight_decay": 0.1},
                        {"params": biases, "weight_decay": 0.0}], lr=1e-2)


OPTIMIZERS = {"sgd_momentum": _sgd, "adam": _adam, "adamw": _adamw}


def _setup(make_opt, seed=0):
    model = _model(seed)
    opt = make_opt(model)
    schedule = optim.WarmupCosine(opt, warmup_steps=2, total_steps=N_STEPS + M_STEPS, min_lr=1e-3)
    return model, opt, schedule


def _train(model, opt, schedule, steps):
    """`steps` steps of a mean-squared-error fit; returns each step's loss."""
    x, y = _data()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def _weights(model):
    return {name: np.array(p.numpy()) for name, p in model.named_parameters()}


def _checkpoint(model, opt, schedule):
    """What a user saves: copies, so that training on afterwards cannot change them."""
    return {"model": {k: np.array(v.numpy()) for k, v in model.state_dict().items()},
            "optimizer": opt.state_dict(), "schedule": schedule.state_dict()}


@pytest.mark.parametrize("where", ["memory", "file"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_resuming_from_a_checkpoint_matches_the_uninterrupted_run_bit_for_bit(tmp_path, backend, name, where):
    model, opt, schedule = _setup(OPTIMIZERS[name])
    uninterrupted_losses = _train(model, opt, schedule, N_STEPS + M_STEPS)
    uninterrupted = _weights(model)

    model, opt, schedule = _setup(OPTIMIZERS[name])
    _train(model, opt, schedule, N_STEPS)
    saved = _checkpoint(model, opt, schedule)
    if where == "file":     # tinyattn.save takes the nested dict a user gives torch.save
        tinyattn.save(dict(saved, step=N_STEPS), tmp_path / "run.npz")
    _train(model, opt, schedule, M_STEPS)             # the checkpoint must not follow these steps

    model, opt, schedule = _setup(OPTIMIZERS[name], seed=1)   # other weights, zero state
    if where == "file":
        saved = tinyattn.load(tmp_path / "run.npz")
        assert saved["step"] == N_STEPS
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    resumed_losses = _train(model, opt, schedule, M_STEPS)
    resumed = _weights(model)
    assert resumed_losses == uninterrupted_losses[N_STEPS:]         # every step, bit for bit
    for key in uninterrupted:
        np.testing.assert_array_equal(resumed[key], uninterrupted[key], err_msg=key)


def test_the_state_dict_names_parameters_by_index_across_groups():
    model, opt, _ = _setup(_adamw)
    _train(model, opt, optim.LambdaLR(opt, lambda step: 1.0), 1)
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2, 3]]
    assert [g["weight_decay"] for g in state["param_groups"]] == [0.1, 0.0]
    assert sorted(state["state"]) == [0, 1, 2, 3]
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert state["state"][0]["step"] == 1
    assert state["state"][0]["exp_avg"].shape == (8, 4)


def test_loading_refuses_mismatched_groups_and_shapes_and_changes_nothing():
    model, opt, schedule = _setup(_adam)
    _train(model, opt, schedule, 1)
    state = opt.state_dict()
    two_groups = _adamw(_model(0)).state_dict()
    with pytest.raises(ValueError, match="1 parameter groups, this optimizer 2"):
        _adamw(_model(0)).load_state_dict(state)
    with pytest.raises(ValueError, match="groups, this optimizer 1"):
        opt.load_state_dict(two_groups)
    smaller = optim.Adam(nn.Linear(4, 8).parameters())
    with pytest.raises(ValueError, match=r"group sizes differ: checkpoint \[4\], this optimizer \[2\]"):
        smaller.load_state_dict(state)
    other = optim.Adam(nn.Sequential(nn.Linear(4, 5), nn.GELU(), nn.Linear(5, 3)).parameters())
    with pytest.raises(ValueError, match=r"'exp_avg' has shape \(8, 4\), but the parameter has "
                                         r"shape \(5, 4\)"):
        other.load_state_dict(state)
    assert not other.state                          # the refused load left it untouched
    with pytest.raises(ValueError, match="expected a dict with keys 'state' and 'param_groups'"):
        opt.load_state_dict(model.state_dict())


def test_a_state_dict_of_numpy_arrays_loads_onto_the_parameters_backend(backend):
    """What tinyattn.load gives back is NumPy: the moments must land on the model's backend, and
    the next step must be the one the optimiser that saved them would have taken."""
    model, opt, schedule = _setup(_adam)
    _train(model, opt, schedule, 3)
    uninterrupted = _weights(model)

    model, opt, schedule = _setup(_adam)
    _train(model, opt, schedule, 2)
    state = copy.deepcopy(opt.state_dict())
    for entry in state["state"].values():
        for key, value in entry.items():
            entry[key] = np.int64(value) if key == "step" else value.numpy()
    fresh = _adam(model)
    fresh.load_state_dict(state)
    for p in model.parameters():
        assert fresh.state[p]["step"] == 2 and type(fresh.state[p]["step"]) is int
        assert tinyattn.backend.backend_of(fresh.state[p]["exp_avg"]) is p.backend
    _train(model, fresh, schedule, 1)                 # at the saved lr: the schedule's
    resumed = _weights(model)
    for key in uninterrupted:
        np.testing.assert_array_equal(resumed[key], uninterrupted[key], err_msg=key)


def test_loading_after_module_to_follows_the_new_backend_and_dtype():
    pytest.importorskip("array_api_strict")
    model, opt, schedule = _setup(_adam)
    _train(model, opt, schedule, 3)
    uninterrupted = _weights(model)                 # float32 on NumPy throughout

    model, opt, schedule = _setup(_adam)
    _train(model, opt, schedule, 2)
    saved = opt.state_dict()
    model.to("array_api_strict", dtype="float64")
    opt.load_state_dict(saved)
    for p in model.parameters():
        moment = tinyattn.Tensor._make(opt.state[p]["exp_avg"], False, None)
        assert moment.backend is p.backend and moment.dtype == "float64"
    with tinyattn.use_backend("array_api_strict"):
        _train(model, opt, schedule, 1)
    # The third step, in float64 from the float32 values, differs from the float32 run only by
    # float32 rounding (~1e-7 of a gradient, times lr 1e-2); a step from lost moments (Adam's
    # first step, lr * sign) would move the weights by ~1e-3 from there.
    for key, value in _weights(model).items():
        np.testing.assert_allclose(value, uninterrupted[key], rtol=0, atol=1e-6, err_msg=key)


def test_schedule_state_dict_restores_the_step_and_the_lr():
    model, opt, schedule = _setup(_sgd)
    _train(model, opt, schedule, 3)
    state = schedule.state_dict()
    assert state["last_epoch"] == 3 and state["base_lrs"] == [0.1]
    fresh_opt = _sgd(model)                          # lr back at 0.1, no schedule applied
    fresh = optim.WarmupCosine(fresh_opt, warmup_steps=2, total_steps=N_STEPS + M_STEPS, min_lr=1e-3)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 3
    assert fresh_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == schedule.get_last_lr()[0]
    schedule.step()
    fresh.step()
    assert fresh.get_last_lr() == schedule.get_last_lr()


def test_lambda_lr_state_dict_leaves_out_the_functions():
    schedule = optim.LambdaLR(_sgd(_model(0)), lambda step: 0.5 ** step)
    assert "lr_lambdas" not in schedule.state_dict() and "optimizer" not in schedule.state_dict()
    with pytest.raises(ValueError, match="not a LambdaLR state_dict"):
        schedule.load_state_dict({"momentum": 3})


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_layout_matches_pytorch(torch, name):
    model, opt, schedule = _setup(OPTIMIZERS[name])
    _train(model, opt, schedule, 2)
    ours, our_schedule = opt.state_dict(), schedule.state_dict()

    layers = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    params = dict(layers.named_parameters())
    if name == "sgd_momentum":
        theirs = torch.optim.SGD(layers.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    elif name == "adam":
        theirs = torch.optim.Adam(layers.parameters(), lr=1e-2)
    else:
        theirs = torch.optim.AdamW([
            {"params": [params["0.weight"], params["2.weight"]], "weight_decay": 0.1},
            {"params": [params["0.bias"], params["2.bias"]], "weight_decay": 0.0}], lr=1e-2)
    their_schedule = torch.optim.lr_scheduler.LambdaLR(theirs, lambda step: 1.0)
    for _ in range(2):
        theirs.zero_grad()
        layers(torch.ones(6, 4)).square().mean().backward()
        theirs.step()
        their_schedule.step()
    theirs = theirs.state_dict()

    assert len(ours["param_groups"]) == len(theirs["param_groups"])
    for our_group, their_group in zip(ours["param_groups"], theirs["param_groups"]):
        assert set(our_group) <= set(their_group), set(our_group) - set(their_group)
        assert our_group["params"] == their_group["params"]
        for key in our_group:
            if key not in ("params", "lr", "initial_lr"):
                assert our_group[key] == their_group[key], key
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for i in ours["state"]:
        assert set(ours["state"][i]) == set(theirs["state"][i])
    their_schedule_state = their_schedule.state_dict()
    for key in ("last_epoch", "base_lrs", "_last_lr"):
        assert key in our_schedule and key in their_schedule_state
    for key in ("last_epoch", "base_lrs"):        # _last_lr differs: ours is a warmup-cosine schedule
        assert our_schedule[key] == their_schedule_state[key], key
