"""The nn building blocks against PyTorch: with the same weights copied in, outputs, input
gradients and every parameter gradient agree (float64 to 1e-9, float32 to 1e-4: see
nn_twins.TOLERANCE), from Linear up to a whole encoder-decoder training step.

Mask conventions differ and are converted here: our boolean masks are True where attention is
allowed (as torch's scaled_dot_product_attention); torch.nn.MultiheadAttention's attn_mask and
key_padding_mask are True where it is NOT allowed.
"""
import math
from collections import OrderedDict

import numpy as np
import pytest
from nn_twins import assert_close, assert_grads_match, backward_both, copy_into_torch, leaves, randomise

import tinyattn
import tinyattn.functional as F
from tinyattn import nn

DTYPES = pytest.mark.parametrize("dtype", ["float64", "float32"])


def _check(torch, dtype, ours, theirs, our_inputs, their_inputs, module=None, twin=None):
    """Forward outputs, input gradients and (for modules) every parameter gradient agree."""
    assert_close(ours, theirs, dtype, "forward")
    backward_both(torch, ours, theirs)
    for i, (x, t) in enumerate(zip(our_inputs, their_inputs)):
        assert_close(x.grad, t.grad, dtype, f"gradient of input {i}")
    if module is not None:
        assert_grads_match(module, twin, dtype)


def _torch_dtype(torch, dtype):
    return getattr(torch, dtype)


def _causal(torch, t):
    """torch's boolean 'not allowed' mask for causal attention: True above the diagonal."""
    return torch.ones(t, t, dtype=torch.bool).triu(1)


# -- layers ------------------------------------------------------------------------------------
@DTYPES
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(torch, backend, dtype, bias):
    layer = randomise(nn.Linear(5, 4, bias=bias, dtype=dtype))
    twin = copy_into_torch(layer, torch.nn.Linear(5, 4, bias=bias, dtype=_torch_dtype(torch, dtype)), torch)
    (x,), (tx,) = leaves(torch, dtype, (2, 3, 5))
    _check(torch, dtype, layer(x), twin(tx), [x], [tx], layer, twin)


@DTYPES
def test_embedding_matches_torch_with_repeated_indices(torch, backend, dtype):
    # repeated ids: the gradient of a row is the sum over every place it was picked
    index = np.array([[1, 3, 1, 4], [0, 3, 3, 3]])
    layer = nn.Embedding(6, 4, dtype=dtype)
    twin = copy_into_torch(layer, torch.nn.Embedding(6, 4, dtype=_torch_dtype(torch, dtype)), torch)
    _check(torch, dtype, layer(tinyattn.tensor(index)), twin(torch.tensor(index)), [], [], layer, twin)


@DTYPES
def test_layer_norm_matches_torch(torch, backend, dtype):
    layer = randomise(nn.LayerNorm(6, dtype=dtype))
    twin = copy_into_torch(layer, torch.nn.LayerNorm(6, dtype=_torch_dtype(torch, dtype)), torch)
    (x,), (tx,) = leaves(torch, dtype, (2, 3, 6))
    _check(torch, dtype, layer(x), twin(tx), [x], [tx], layer, twin)


@DTYPES
@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh"])
def test_feed_forward_matches_torch_sequential(torch, backend, dtype, activation):
    layer = randomise(nn.FeedForward(6, 10, activation=activation, dtype=dtype))
    act = {"relu": torch.nn.ReLU(), "gelu": torch.nn.GELU(),
           "gelu_tanh": torch.nn.GELU(approximate="tanh")}[activation]
    twin = torch.nn.Sequential(OrderedDict(linear1=torch.nn.Linear(6, 10), activation=act,
                                           linear2=torch.nn.Linear(10, 6)))
    copy_into_torch(layer, twin.to(_torch_dtype(torch, dtype)), torch)
    (x,), (tx,) = leaves(torch, dtype, (2, 3, 6))
    _check(torch, dtype, layer(x), twin(tx), [x], [tx], layer, twin)


# -- scaled dot-product attention -------------------------------------------------------------
def _random_mask(shape, seed=5):
    """A random boolean 'may attend' mask in which every query may attend to key 0 (torch
    gives NaN for a row with nothing allowed; that case has its own test below)."""
    mask = np.random.default_rng(seed).random(shape) < 0.6
    mask[..., 0] = True
    return mask


# (name, T_q, T_k, mask, is_causal, scale). Our causal mask is aligned to the end of the keys
# when T_q < T_k and torch's to the start, so is_causal is compared with T_q == T_k only.
SDPA_CASES = [
    ("no mask", 3, 5, None, False, None),
    ("boolean mask per batch", 3, 5, (2, 1, 3, 5), False, None),
    ("boolean mask per head", 4, 4, (2, 2, 4, 4), False, None),
    ("is_causal", 4, 4, None, True, None),
    ("mask and is_causal", 4, 4, (4, 4), True, None),
    ("explicit scale", 3, 5, None, False, 0.3),
]


@DTYPES
@pytest.mark.parametrize("name,t_q,t_k,mask_shape,is_causal,scale", SDPA_CASES,
                         ids=[c[0] for c in SDPA_CASES])
def test_scaled_dot_product_attention_matches_torch(torch, backend, dtype, name, t_q, t_k,
                                                    mask_shape, is_causal, scale):
    ours, theirs = leaves(torch, dtype, (2, 2, t_q, 3), (2, 2, t_k, 3), (2, 2, t_k, 4))
    mask = None if mask_shape is None else _random_mask(mask_shape)
    out = F.scaled_dot_product_attention(*ours, mask=None if mask is None else tinyattn.tensor(mask),
                                         is_causal=is_causal, scale=scale)
    # torch refuses attn_mask together with is_causal: give it the combined mask instead
    their_mask = None if mask is None else torch.tensor(mask)
    if their_mask is not None and is_causal:
        their_mask, is_causal = their_mask & ~_causal(torch, t_q), False
    expected = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=their_mask,
                                                                is_causal=is_causal, scale=scale)
    _check(torch, dtype, out, expected, ours, theirs)


def test_fully_masked_query_gets_zero_output_and_zero_gradient(backend):
    # PyTorch gives NaN for this row; ours gives weights 0, output 0, and no gradient through it
    q, k, v = (tinyattn.randn(1, 3, 4, dtype="float64", requires_grad=True) for _ in range(3))
    mask = tinyattn.tensor([[True, False, True], [False, False, False], [True, True, True]])
    out, weights = F.scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    out.sum().backward()
    assert np.all(out.numpy()[0, 1] == 0) and np.all(weights.numpy()[0, 1] == 0)
    assert np.all(q.backend.to_numpy(q.grad)[0, 1] == 0)
    for x in (q, k, v):
        assert np.all(np.isfinite(x.backend.to_numpy(x.grad)))


def test_causal_queries_before_every_key_get_zero_output(backend):
    # is_causal with T_q > T_k (end-aligned): the first T_q - T_k queries may see no key at all
    q = tinyattn.randn(1, 5, 4, dtype="float64", requires_grad=True)
    k, v = (tinyattn.randn(1, 3, 4, dtype="float64", requires_grad=True) for _ in range(2))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    masked = F.scaled_dot_product_attention(q, k, v, mask=tinyattn.causal_mask(5, 3))
    assert np.all(out.numpy()[0, :2] == 0)
    np.testing.assert_array_equal(out.numpy(), masked.numpy())


def test_multi_head_attention_over_only_padding_gives_the_output_bias(backend):
    # a sequence whose keys are all padding: every head's output is 0, so out_proj leaves its bias
    attn = randomise(nn.MultiHeadAttention(8, 2))
    keep = tinyattn.padding_mask(lengths=[3, 0], max_len=3)
    out = attn(tinyattn.randn(2, 3, 8), mask=keep).numpy()
    np.testing.assert_allclose(out[1], np.broadcast_to(attn.out_proj.bias.numpy(), (3, 8)), rtol=1e-6)
    assert np.all(np.isfinite(out))


# -- multi-head attention ---------------------------------------------------------------------
def _attention_pair(torch, dtype, d_model=8, num_heads=2):
    ours = randomise(nn.MultiHeadAttention(d_model, num_heads, dtype=dtype))
    twin = torch.nn.MultiheadAttention(d_model, num_heads, batch_first=True,
                                       dtype=_torch_dtype(torch, dtype))
    return ours, copy_into_torch(ours, twin, torch)


@DTYPES
def test_multi_head_self_attention_matches_torch(torch, backend, dtype):
    attn, twin = _attention_pair(torch, dtype)
    (x,), (tx,) = leaves(torch, dtype, (2, 5, 8))
    expected, _ = twin(tx, tx, tx, need_weights=False)
    _check(torch, dtype, attn(x), expected, [x], [tx], attn, twin)


@DTYPES
def test_multi_head_self_attention_with_padding_and_causal_masks_matches_torch(torch, backend, dtype):
    attn, twin = _attention_pair(torch, dtype)
    (x,), (tx,) = leaves(torch, dtype, (2, 5, 8))
    keep = tinyattn.padding_mask(lengths=[5, 3], max_len=5)                  # (B, 1, 1, T)
    out = attn(x, mask=keep, is_causal=True)
    expected, _ = twin(tx, tx, tx, key_padding_mask=torch.tensor(~keep.numpy()[:, 0, 0]),
                       attn_mask=_causal(torch, 5), need_weights=False)
    _check(torch, dtype, out, expected, [x], [tx], attn, twin)


@DTYPES
def test_multi_head_cross_attention_with_padded_memory_matches_torch(torch, backend, dtype):
    attn, twin = _attention_pair(torch, dtype)
    ours, theirs = leaves(torch, dtype, (2, 3, 8), (2, 6, 8), (2, 6, 8))   # query, key, value
    keep = tinyattn.padding_mask(lengths=[4, 6], max_len=6)
    out = attn(*ours, mask=keep)
    expected, _ = twin(*theirs, key_padding_mask=torch.tensor(~keep.numpy()[:, 0, 0]), need_weights=False)
    _check(torch, dtype, out, expected, ours, theirs, attn, twin)


@DTYPES
@pytest.mark.parametrize("average", [True, False], ids=["averaged over heads", "per head"])
def test_multi_head_attention_weights_match_torch(torch, backend, dtype, average):
    # torch averages the weights over heads unless average_attn_weights=False; ours are per head
    attn, twin = _attention_pair(torch, dtype)
    (x,), (tx,) = leaves(torch, dtype, (2, 4, 8))
    out, weights = attn(x, is_causal=True, need_weights=True)
    expected, their_weights = twin(tx, tx, tx, attn_mask=_causal(torch, 4), need_weights=True,
                                   average_attn_weights=average)
    assert weights.shape == (2, 2, 4, 4)
    assert_close(weights.mean(axis=1) if average else weights, their_weights, dtype, "weights")
    _check(torch, dtype, out, expected, [x], [tx], attn, twin)


# -- Transformer layers -----------------------------------------------------------------------
@DTYPES
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
@pytest.mark.parametrize("masking", ["padding", "causal"])
def test_encoder_layer_matches_torch(torch, backend, dtype, norm_first, masking):
    layer = randomise(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, dtype=dtype))
    twin = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=norm_first,
                                            dtype=_torch_dtype(torch, dtype))
    copy_into_torch(layer, twin, torch)
    (x,), (tx,) = leaves(torch, dtype, (2, 5, 8))
    if masking == "padding":
        keep = tinyattn.padding_mask(lengths=[5, 2], max_len=5)
        out = layer(x, mask=keep)
        expected = twin(tx, src_key_padding_mask=torch.tensor(~keep.numpy()[:, 0, 0]))
    else:
        out = layer(x, is_causal=True)
        expected = twin(tx, src_mask=_causal(torch, 5), is_causal=True)
    _check(torch, dtype, out, expected, [x], [tx], layer, twin)


@DTYPES
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_encoder_layer_weights_on_request_match_torch_self_attention(torch, backend, dtype, norm_first):
    # torch's layer returns no weights: ask its self_attn, on the input it sees inside the layer
    layer = randomise(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, dtype=dtype))
    twin = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=norm_first,
                                            dtype=_torch_dtype(torch, dtype))
    copy_into_torch(layer, twin, torch)
    (x,), (tx,) = leaves(torch, dtype, (2, 5, 8))
    out, weights = layer(x, is_causal=True, need_weights=True)
    attended = twin.norm1(tx) if norm_first else tx
    _, expected = twin.self_attn(attended, attended, attended, attn_mask=_causal(torch, 5),
                                 need_weights=True, average_attn_weights=False)
    assert weights.shape == (2, 2, 5, 5)
    assert_close(weights, expected, dtype, "weights")
    assert_close(out, twin(tx, src_mask=_causal(torch, 5), is_causal=True), dtype, "output")


@DTYPES
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_decoder_layer_matches_torch(torch, backend, dtype, norm_first):
    layer = randomise(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, dtype=dtype))
    twin = torch.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=norm_first,
                                            dtype=_torch_dtype(torch, dtype))
    copy_into_torch(layer, twin, torch)
    ours, theirs = leaves(torch, dtype, (2, 4, 8), (2, 6, 8))               # target, memory
    tgt_keep = tinyattn.padding_mask(lengths=[4, 3], max_len=4)
    src_keep = tinyattn.padding_mask(lengths=[2, 6], max_len=6)
    out = layer(*ours, tgt_mask=tgt_keep, memory_mask=src_keep)              # always causal
    expected = twin(*theirs, tgt_mask=_causal(torch, 4), tgt_is_causal=True,
                    tgt_key_padding_mask=torch.tensor(~tgt_keep.numpy()[:, 0, 0]),
                    memory_key_padding_mask=torch.tensor(~src_keep.numpy()[:, 0, 0]))
    _check(torch, dtype, out, expected, ours, theirs, layer, twin)


# -- a whole encoder-decoder training step -----------------------------------------------------
def _torch_transformer(torch, src_vocab, tgt_vocab, d_model, num_heads, num_layers, d_ff, max_len,
                       norm_first):
    """The model of *Attention Is All You Need* from torch's layers, with our parameter names."""
    nn_ = torch.nn

    class TorchTransformer(nn_.Module):
        def __init__(self):
            super().__init__()
            layer_args = dict(d_model=d_model, nhead=num_heads, dim_feedforward=d_ff, dropout=0.0,
                              batch_first=True, norm_first=norm_first)
            self.src_embed = nn_.Embedding(src_vocab, d_model)
            self.tgt_embed = nn_.Embedding(tgt_vocab, d_model)
            self.encoder_layers = nn_.ModuleList(nn_.TransformerEncoderLayer(**layer_args)
                                                 for _ in range(num_layers))
            self.decoder_layers = nn_.ModuleList(nn_.TransformerDecoderLayer(**layer_args)
                                                 for _ in range(num_layers))
            self.encoder_norm = nn_.LayerNorm(d_model) if norm_first else None
            self.decoder_norm = nn_.LayerNorm(d_model) if norm_first else None
            self.generator = nn_.Linear(d_model, tgt_vocab)
            table = torch.tensor(nn.sinusoidal_table(max_len, d_model).numpy())
            self.register_buffer("pe", table, persistent=False)

        def forward(self, src, tgt, src_pad, tgt_pad):         # *_pad: True at padding (torch's way)
            memory = self.src_embed(src) * math.sqrt(d_model) + self.pe[:src.shape[1]]
            for layer in self.encoder_layers:
                memory = layer(memory, src_key_padding_mask=src_pad)
            if norm_first:
                memory = self.encoder_norm(memory)
            x = self.tgt_embed(tgt) * math.sqrt(d_model) + self.pe[:tgt.shape[1]]
            causal = _causal(torch, tgt.shape[1])
            for layer in self.decoder_layers:
                x = layer(x, memory, tgt_mask=causal, tgt_is_causal=True, tgt_key_padding_mask=tgt_pad,
                          memory_key_padding_mask=src_pad)
            if norm_first:
                x = self.decoder_norm(x)
            return self.generator(x)

    return TorchTransformer()


@DTYPES
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_transformer_training_step_matches_torch(torch, backend, dtype, norm_first):
    # token 0 is padding: hidden from attention and ignored by the loss, as in the paper's setup
    src = np.array([[3, 5, 1, 6, 2], [4, 4, 2, 0, 0]])
    tgt = np.array([[1, 2, 3, 4, 5], [1, 5, 3, 0, 0]])
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    model = randomise(nn.Transformer(7, 6, 8, 2, 2, 2, 16, dropout=0.0, max_len=16,
                                      norm_first=norm_first, dtype=dtype))
    twin = _torch_transformer(torch, 7, 6, 8, 2, 2, 16, 16, norm_first).to(_torch_dtype(torch, dtype))
    copy_into_torch(model, twin, torch)

    src_keep = tinyattn.padding_mask(tinyattn.tensor(src), pad_id=0)
    tgt_keep = tinyattn.padding_mask(tinyattn.tensor(tgt_in), pad_id=0)
    logits = model(tinyattn.tensor(src), tinyattn.tensor(tgt_in), src_keep, tgt_keep)
    loss = F.cross_entropy(logits, tinyattn.tensor(tgt_out), ignore_index=0, label_smoothing=0.1)
    their_logits = twin(torch.tensor(src), torch.tensor(tgt_in), torch.tensor(src == 0),
                        torch.tensor(tgt_in == 0))
    their_loss = torch.nn.functional.cross_entropy(their_logits.reshape(-1, 6),
                                                   torch.tensor(tgt_out).reshape(-1),
                                                   ignore_index=0, label_smoothing=0.1)
    assert_close(logits, their_logits, dtype, "logits")
    assert_close(loss, their_loss, dtype, "loss")
    loss.backward()
    their_loss.backward()
    assert_grads_match(model, twin, dtype)
