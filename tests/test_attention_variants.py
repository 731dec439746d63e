"""MultiHeadAttention and GPT with attention="flash" and attention="window".

Flash attention is the standard attention computed another way: with the same weights, the
same output and gradients. Window attention is standard attention with sliding_window_mask.
Decoding with a window keeps only the last W - 1 keys and values and still gives the logits of
the full forward pass.
"""
import numpy as np
import pytest

import tinyattn
import tinyattn.functional as F
from tinyattn import nn
from tinyattn.attention.masks import padding_mask, sliding_window_mask
from tinyattn.generate import generate, kv_cache_bytes
from tinyattn.nn import multi_head_attention as attention_module

F64 = dict(rtol=1e-10, atol=1e-12)     # the same sums in another order: a few float64 ulps


def _same_weights(module, **changes):
    """A module like `module` (d_model 8, 4 heads, float64) with other options and the same weights."""
    options = dict(num_kv_heads=module.num_kv_heads) | changes
    twin = nn.MultiHeadAttention(8, 4, dtype="float64", **options)
    twin.load_state_dict(module.state_dict())
    return twin


def _forward_backward(module, arrays, upstream, **kwargs):
    """Output and every gradient (inputs, then parameters) of module(*inputs, **kwargs)."""
    inputs = [tinyattn.tensor(a, requires_grad=True) for a in arrays]
    out = module(*inputs, **kwargs)
    out.backward(tinyattn.tensor(upstream))
    grads = [x.grad for x in inputs] + [p.grad for p in module.parameters()]
    return [out.numpy()] + [out.backend.to_numpy(g) for g in grads]


def _assert_all_close(ours, expected):
    for i, (a, b) in enumerate(zip(ours, expected)):
        np.testing.assert_allclose(a, b, err_msg=f"output and gradients, entry {i}", **F64)


def _arrays(*shapes, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# (name, shapes of query (key, value), padding, is_causal)
FLASH_CASES = [("causal", [(2, 6, 8)], False, True), ("padding and causal", [(2, 6, 8)], True, True),
               ("padding", [(2, 6, 8)], True, False),
               ("cross-attention with padding", [(2, 3, 8), (2, 6, 8), (2, 6, 8)], True, False)]


@pytest.mark.parametrize("num_kv_heads", [4, 2], ids=["standard heads", "grouped"])
@pytest.mark.parametrize("name,shapes,padding,is_causal", FLASH_CASES, ids=[c[0] for c in FLASH_CASES])
def test_flash_attention_module_equals_standard_attention(backend, num_kv_heads, name, shapes, padding,
                                                          is_causal):
    tinyattn.manual_seed(0)
    standard = nn.MultiHeadAttention(8, 4, dtype="float64", num_kv_heads=num_kv_heads)
    flash = _same_weights(standard, attention="flash")
    *arrays, upstream = _arrays(*shapes, (2, shapes[0][1], 8))
    mask = padding_mask(lengths=[6, 4], max_len=6) if padding else None
    expected = _forward_backward(standard, arrays, upstream, mask=mask, is_causal=is_causal)
    _assert_all_close(_forward_backward(flash, arrays, upstream, mask=mask, is_causal=is_causal), expected)


# (name, the mask given to both besides the window: None, padding (B, 1, 1, T) or one per query (T, T))
WINDOW_CASES = [("no mask", None), ("padding", "padding"), ("mask per query", "per query")]


@pytest.mark.parametrize("num_kv_heads", [4, 1], ids=["standard heads", "multi-query"])
@pytest.mark.parametrize("name,mask_case", WINDOW_CASES, ids=[c[0] for c in WINDOW_CASES])
def test_window_attention_module_equals_standard_attention_with_sliding_window_mask(backend, num_kv_heads,
                                                                                   name, mask_case):
    tinyattn.manual_seed(0)
    standard = nn.MultiHeadAttention(8, 4, dtype="float64", num_kv_heads=num_kv_heads)
    window = _same_weights(standard, attention="window", window=3)
    x, upstream = _arrays((2, 7, 8), (2, 7, 8))
    mask = {None: None, "padding": padding_mask(lengths=[7, 5], max_len=7),
            "per query": tinyattn.tensor(np.random.default_rng(2).random((7, 7)) < 0.7)}[mask_case]
    band = sliding_window_mask(7, 3)
    # with a mask per query the window module attends the readable way, scaled dot-product
    # attention with mask & band; the expected side then takes flash attention, so the two sides
    # run different code (tiles and an online softmax) for the same function
    reference = _same_weights(standard, attention="flash") if mask_case == "per query" else standard
    expected = _forward_backward(reference, [x], upstream, is_causal=True,
                                 mask=band if mask is None else mask & band)
    _assert_all_close(_forward_backward(window, [x], upstream, mask=mask, is_causal=True), expected)


@pytest.mark.parametrize("attention,window", [("flash", None), ("window", 2)])
def test_asking_for_weights_gives_the_standard_weights(backend, attention, window):
    tinyattn.manual_seed(0)
    standard = nn.MultiHeadAttention(8, 4, dtype="float64", num_kv_heads=2)
    other = _same_weights(standard, attention=attention, window=window)
    x = tinyattn.randn(2, 5, 8, dtype="float64")
    mask = None if window is None else sliding_window_mask(5, window)
    out, weights = other(x, is_causal=True, need_weights=True)
    expected_out, expected_weights = standard(x, mask=mask, is_causal=True, need_weights=True)
    assert weights.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(weights.numpy(), expected_weights.numpy(), **F64)
    np.testing.assert_allclose(out.numpy(), expected_out.numpy(), **F64)


def _counting(monkeypatch, name):
    """Count the calls MultiHeadAttention makes to one of its attention functions."""
    calls = []
    function = getattr(attention_module, name)
    monkeypatch.setattr(attention_module, name, lambda *a, **k: calls.append(name) or function(*a, **k))
    return calls


def test_each_choice_calls_its_own_function_and_only_standard_fuses(monkeypatch):
    flash_calls = _counting(monkeypatch, "flash_attention")
    window_calls = _counting(monkeypatch, "window_attention")
    x = tinyattn.randn(1, 4, 8)
    nn.MultiHeadAttention(8, 4, attention="flash")(x, is_causal=True)
    nn.MultiHeadAttention(8, 4, attention="window", window=2)(x, is_causal=True)
    assert flash_calls == ["flash_attention"] and window_calls == ["window_attention"]
    assert nn.MultiHeadAttention(8, 4)._fused_path_applies(None, True, False, None, None)
    for options in (dict(attention="flash"), dict(attention="window", window=2)):
        assert not nn.MultiHeadAttention(8, 4, **options)._fused_path_applies(None, True, False, None, None)


def _gpt(**options):
    tinyattn.manual_seed(0)
    return nn.GPT(13, 16, 4, 2, max_len=10, dtype="float64", **options)


def _loss_and_gradients(gpt, idx, target):
    loss = F.cross_entropy(gpt(tinyattn.tensor(idx)), tinyattn.tensor(target))
    loss.backward()
    return [loss.numpy()] + [p.backend.to_numpy(p.grad) for p in gpt.parameters()]


@pytest.mark.parametrize("options", [dict(attention="flash"), dict(attention="flash", num_kv_heads=2),
                                     dict(attention="window", window=10)],
                         ids=["flash", "flash grouped", "window as long as the text"])
def test_gpt_loss_and_gradients_equal_standard_attention(backend, options):
    # a window as long as the text hides nothing more than the causal mask
    idx = np.random.default_rng(3).integers(0, 13, (2, 9))
    standard = _gpt(num_kv_heads=options.get("num_kv_heads"))
    _assert_all_close(_loss_and_gradients(_gpt(**options), idx[:, :-1], idx[:, 1:]),
                      _loss_and_gradients(standard, idx[:, :-1], idx[:, 1:]))


@pytest.mark.parametrize("positional", ["learned", "rotary"])
@pytest.mark.parametrize("num_kv_heads", [4, 2], ids=["standard heads", "grouped"])
def test_gpt_window_decoding_keeps_w_minus_1_positions_and_equals_the_full_forward(backend, positional,
                                                                                 num_kv_heads):
    gpt = _gpt(attention="window", window=3, positional=positional, num_kv_heads=num_kv_heads).eval()
    idx = tinyattn.tensor([[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]])
    with tinyattn.no_grad():
        full = gpt(idx).numpy()
        cache = []
        steps = [gpt(idx[:, :4], cache=cache).numpy(), gpt(idx[:, 4:6], cache=cache).numpy()]
        sizes = [kv_cache_bytes(cache)]
        for t in range(6, 8):
            steps.append(gpt(idx[:, t:t + 1], cache=cache).numpy())
            sizes.append(kv_cache_bytes(cache))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, **F64)
    assert cache[0]["k"].shape == (2, num_kv_heads, 2, 4) and cache[0]["length"] == 8
    assert sizes == [2 * 2 * 2 * num_kv_heads * 2 * 4 * 8] * 3        # bounded: W - 1 positions


def test_gpt_window_generates_the_same_with_and_without_cache(backend):
    tinyattn.manual_seed(0)
    gpt = nn.GPT(17, 16, 4, 2, max_len=12, attention="window", window=3).eval()
    prompt = tinyattn.tensor([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(generate(gpt, prompt, 8, greedy=True).numpy(),
                                  generate(gpt, prompt, 8, greedy=True, use_cache=False).numpy())


def test_encoder_layer_with_flash_attention_equals_standard(backend):
    tinyattn.manual_seed(0)
    standard = nn.TransformerEncoderLayer(8, 4, 16, dropout=0.0, dtype="float64")
    flash = nn.TransformerEncoderLayer(8, 4, 16, dropout=0.0, dtype="float64", attention="flash")
    flash.load_state_dict(standard.state_dict())
    x, upstream = _arrays((2, 5, 8), (2, 5, 8))
    mask = padding_mask(lengths=[5, 2], max_len=5)
    _assert_all_close(_forward_backward(flash, [x], upstream, mask=mask),
                      _forward_backward(standard, [x], upstream, mask=mask))


@pytest.mark.parametrize("options", [dict(attention="flash"), dict(attention="flash", num_kv_heads=2),
                                     dict(attention="window", window=4)],
                         ids=["flash", "flash grouped", "window as long as the target"])
def test_decoder_layer_attention_choices_equal_standard(backend, options):
    # the cross-attention takes flash too, but a window only in the causal self-attention
    tinyattn.manual_seed(0)
    standard = nn.TransformerDecoderLayer(8, 4, 16, dropout=0.0, dtype="float64",
                                          num_kv_heads=options.get("num_kv_heads"))
    other = nn.TransformerDecoderLayer(8, 4, 16, dropout=0.0, dtype="float64", **options)
    other.load_state_dict(standard.state_dict())
    assert other.cross_attn.attention == ("standard" if "window" in options else "flash")
    x, memory, upstream = _arrays((2, 4, 8), (2, 6, 8), (2, 4, 8))
    masks = dict(tgt_mask=padding_mask(lengths=[4, 3], max_len=4),
                 memory_mask=padding_mask(lengths=[2, 6], max_len=6))
    _assert_all_close(_forward_backward(other, [x, memory], upstream, **masks),
                      _forward_backward(standard, [x, memory], upstream, **masks))


def _transformer(**options):
    tinyattn.manual_seed(0)
    return nn.Transformer(7, 6, 8, 4, 2, 2, 16, dropout=0.0, max_len=8, dtype="float64", **options)


def _seq2seq_loss_and_gradients(model):
    src = tinyattn.tensor([[3, 5, 1, 6, 2], [4, 4, 2, 0, 0]])
    tgt = tinyattn.tensor([[1, 2, 3, 4, 5], [1, 5, 3, 0, 0]])
    logits = model(src, tgt[:, :-1], padding_mask(src, pad_id=0), padding_mask(tgt[:, :-1], pad_id=0))
    loss = F.cross_entropy(logits, tgt[:, 1:], ignore_index=0)
    loss.backward()
    return [loss.numpy()] + [p.backend.to_numpy(p.grad) for p in model.parameters()]


@pytest.mark.parametrize("num_kv_heads", [None, 2], ids=["standard heads", "grouped"])
def test_transformer_with_flash_attention_equals_standard(backend, num_kv_heads):
    _assert_all_close(_seq2seq_loss_and_gradients(_transformer(attention="flash", num_kv_heads=num_kv_heads)),
                      _seq2seq_loss_and_gradients(_transformer(num_kv_heads=num_kv_heads)))


def test_transformer_asks_for_cross_attention_weights_only_when_told(monkeypatch):
    # every attention of a flash Transformer goes through flash_attention unless weights are wanted
    calls = _counting(monkeypatch, "flash_attention")
    model = _transformer(attention="flash")
    src, tgt = tinyattn.tensor([[3, 5, 1]]), tinyattn.tensor([[1, 2]])
    memory = model.encode(src)
    assert len(calls) == 2
    model.decode(tgt, memory)
    assert len(calls) == 2 + 2 * 2                  # self- and cross-attention in 2 layers
    _, weights = model.decode(tgt, memory, need_weights=True)
    assert len(calls) == 2 + 2 * 2 + 2 and [w.shape for w in weights] == [(1, 4, 2, 3)] * 2


def test_transformer_options_reach_every_layer():
    model = nn.Transformer(7, 6, 8, 4, 1, 1, 16, bias=False, num_kv_heads=2)
    attentions = [model.encoder_layers[0].self_attn, model.decoder_layers[0].self_attn,
                  model.decoder_layers[0].cross_attn]
    assert [a.num_kv_heads for a in attentions] == [2, 2, 2]
    assert [a.k_proj.weight.shape for a in attentions] == [(4, 8)] * 3
    biases = [name for name, _ in model.named_parameters() if name.endswith("bias")]
    assert biases and all("norm" in name or name.startswith("generator") for name in biases)
    with pytest.raises(ValueError, match="attention='window' is causal self-attention only"):
        nn.Transformer(7, 6, 8, 4, 1, 1, 16, dropout=0.0, attention="window")


@pytest.mark.parametrize("options,message", [
    (dict(attention="linear"), "attention must be 'standard', 'flash' or 'window', got 'linear'"),
    (dict(attention="window"), "window=W goes with attention='window' and only with it"),
    (dict(window=4), "window=W goes with attention='window' and only with it"),
    (dict(attention="window", window=0), "window must be an integer >= 1"),
    (dict(attention="flash", dropout=0.1), "attention='flash' never forms the weights, so it cannot drop"),
    (dict(attention="window", window=2, dropout=0.1), "attention='window' never forms the weights"),
])
def test_impossible_attention_choices_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        nn.MultiHeadAttention(8, 2, **options)


@pytest.mark.parametrize("call", [dict(is_causal=False), dict(key="memory", is_causal=True)],
                         ids=["not causal", "cross-attention"])
def test_window_attention_outside_causal_self_attention_is_a_clear_error(call):
    x = tinyattn.randn(1, 3, 8)
    key = x if call.pop("key", None) else None
    with pytest.raises(ValueError, match="causal sliding-window self-attention"):
        nn.MultiHeadAttention(8, 2, attention="window", window=2)(x, key, **call)
