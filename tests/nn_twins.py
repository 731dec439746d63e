"""Helpers for the nn tests: copy a tinyattn module's weights into its PyTorch twin, compare
gradients parameter by parameter, make the same random inputs and upstream gradients for both,
and call a module with its parameters swapped for other tensors (gradcheck_module). Not a
conftest: the nn test files import it.

Names. Ours follow PyTorch's wherever PyTorch has one module per weight. The exceptions:
  - MultiHeadAttention has q_proj, k_proj and v_proj; torch.nn.MultiheadAttention packs the
    three into in_proj_weight (3 d, d) and in_proj_bias (3 d,), in that order (q, k, v);
  - our layers keep the feed-forward in a FeedForward module (feed_forward.linear1), torch's
    Transformer layers hold linear1 and linear2 directly;
  - the decoder's cross-attention is cross_attn here, multihead_attn in torch.
A twin without in_proj_weight (one written in a test with our names) is copied name for name.
Shapes. A weight may be laid out as ours but shaped otherwise: PatchEmbedding's proj.weight
(d, C * ph * pw) is torch.nn.Conv2d's (d, C, ph, pw) flattened. Such weights are copied, and
their gradients compared, reshaped.
"""
import numpy as np

import tinyattn

QKV = ("q_proj", "k_proj", "v_proj")

# Tolerances of ours vs PyTorch, as issue 4 demands. Both compute the same formulas in the same
# precision, differing only in the order of roundings (summations in matmuls and in the
# gradients of broadcasts, softmax/layer-norm implementations): float64 results agree to about
# 1e-14 relative, so 1e-9 has a wide margin and still catches any wrong formula; float32 to
# about 1e-6, so 1e-4 likewise. atol covers entries that cancel to nearly 0 (a gradient summed
# from terms of size ~1): a few hundred roundings of the terms.
TOLERANCE = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-5)}


def torch_name(name):
    """Our parameter name -> (PyTorch's name, which third of a packed in_proj it is, or None)."""
    name = name.replace("feed_forward.", "").replace("cross_attn.", "multihead_attn.")
    for third, proj in enumerate(QKV):
        if f"{proj}." in name:
            return name.replace(f"{proj}.", "in_proj_"), third
    return name, None


def torch_state(module, torch, packed_qkv=True):
    """Our module's state_dict as a state_dict for its PyTorch twin (q/k/v packed if asked)."""
    state, thirds = {}, {}
    for name, value in module.state_dict().items():
        target, third = torch_name(name) if packed_qkv else (name, None)
        if third is None:
            state[target] = torch.tensor(value.numpy())
        else:
            thirds.setdefault(target, [None] * 3)[third] = value.numpy()
    state.update({name: torch.tensor(np.concatenate(parts)) for name, parts in thirds.items()})
    return state


def copy_into_torch(module, twin, torch):
    """Load our weights into `twin` (strictly: every torch weight must have come from ours)."""
    shapes = {name: value.shape for name, value in twin.state_dict().items()}
    state = torch_state(module, torch, packed_qkv=_packs_qkv(twin))
    twin.load_state_dict({name: value.reshape(shapes.get(name, value.shape))
                          for name, value in state.items()})
    return twin


def assert_grads_match(module, twin, dtype):
    """Every parameter gradient of ours equals that of its PyTorch twin."""
    packed = _packs_qkv(twin)
    theirs = dict(twin.named_parameters(remove_duplicate=False))
    for name, p in module.named_parameters():
        target, third = torch_name(name) if packed else (name, None)
        expected = theirs[target].grad
        if third is not None:
            expected = expected.chunk(3)[third]
        expected = expected.reshape(p.shape)
        assert p.grad is not None, f"{name}: no gradient"
        np.testing.assert_allclose(p.backend.to_numpy(p.grad), expected.numpy(), err_msg=name,
                                   **TOLERANCE[dtype])


def assert_close(ours, theirs, dtype, what=""):
    """A tinyattn tensor (or its gradient array) equals a torch tensor within TOLERANCE[dtype]."""
    ours = ours.numpy() if isinstance(ours, tinyattn.Tensor) else tinyattn.get_backend().to_numpy(ours)
    np.testing.assert_allclose(ours, theirs.detach().numpy(), err_msg=what, **TOLERANCE[dtype])


def _packs_qkv(twin):
    return any(name.endswith("in_proj_weight") for name, _ in twin.named_parameters())


def functional_call(module, params, *args, **kwargs):
    """module(*args, **kwargs) computed with `params` (one tensor per entry of
    module.parameters(), in order) in place of its parameters, so that gradients flow into
    `params`; like torch.func.functional_call. Tied weights stay tied. The module's own
    parameters are put back afterwards."""
    order = {id(p): i for i, p in enumerate(module.parameters())}
    slots = [(m, name, p) for m in module.modules() for name, p in m._parameters.items()]
    try:
        for owner, name, p in slots:       # _parameters directly: setattr would unregister it
            owner._parameters[name] = params[order[id(p)]]
        return module(*args, **kwargs)
    finally:
        for owner, name, p in slots:
            owner._parameters[name] = p


def randomise(module, seed=3):
    """Add N(0, 0.1) to every parameter, so that norms are not exactly 1, biases not exactly 0,
    and a gradient that forgot a weight or bias cannot pass by accident."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data = (p + tinyattn.tensor(rng.normal(0.0, 0.1, p.shape), dtype=p.dtype)).data
    return module


def leaves(torch, dtype, *shapes, seed=1):
    """The same random inputs twice: as tinyattn tensors and as torch tensors, both requiring grad."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return ([tinyattn.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def backward_both(torch, out, expected, seed=7):
    """Backpropagate the same random upstream gradient through ours and theirs."""
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(tinyattn.tensor(upstream))
    expected.backward(torch.tensor(upstream))


def gradcheck_module(module, *args, directional=False, seed=None):
    """gradcheck of module(*args) with respect to the args that require grad and every parameter.
    The other args (ids, masks, flags) stay outside gradcheck, which would turn any tensor it
    is given into float64."""
    checked = [i for i, a in enumerate(args) if isinstance(a, tinyattn.Tensor) and a.requires_grad]
    params = [p.detach().requires_grad_() for p in module.parameters()]

    def fn(*tensors):
        if seed is not None:
            tinyattn.manual_seed(seed)           # the same dropout masks in every pass
        call_args = list(args)
        for i, t in zip(checked, tensors):
            call_args[i] = t
        return functional_call(module, tensors[len(checked):], *call_args)

    inputs = [args[i] for i in checked]
    # every parameter must reach the output through `params`; were one left out of the swap,
    # gradcheck would compare a zero gradient with a zero difference and pass
    fn(*inputs, *params).sum().backward()
    assert all(p.grad is not None for p in params)
    assert tinyattn.gradcheck(fn, *inputs, *params, directional=directional)
