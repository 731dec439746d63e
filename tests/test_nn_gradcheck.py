"""Every nn module passes gradcheck (float64 finite differences) for its inputs and every
parameter. The modules are built in float64 and called through functional_call, which puts the
checked tensors in place of the parameters so that gradients flow into them.

Modules up to a Transformer layer are checked element by element. The whole models (GPT,
Transformer) use gradcheck's directional mode: one random direction per tensor, so two forward
passes per parameter tensor instead of two per element; it still checks every parameter's
gradient, as a whole, against finite differences.
Dropout is held fixed by re-seeding before every forward pass, so each pass drops the same units.
"""
import pytest
from nn_twins import gradcheck_module

import tinyattn
from tinyattn import nn

F64 = "float64"


def _x(*shape):
    return tinyattn.randn(*shape, dtype=F64, requires_grad=True)


def test_linear_gradcheck(backend):
    gradcheck_module(nn.Linear(3, 2, dtype=F64), _x(2, 3))


def test_embedding_weight_gradcheck_with_repeated_ids(backend):
    gradcheck_module(nn.Embedding(5, 3, dtype=F64), tinyattn.tensor([[1, 4, 1], [0, 4, 4]]))


def test_layer_norm_gradcheck(backend):
    gradcheck_module(nn.LayerNorm(4, dtype=F64), _x(2, 4))


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_gradcheck(backend, activation):
    gradcheck_module(nn.FeedForward(3, 5, activation=activation, dtype=F64), _x(2, 3))


def test_multi_head_attention_gradcheck_with_padding_and_causal_masks(backend):
    attn = nn.MultiHeadAttention(4, 2, dtype=F64)
    keep = tinyattn.padding_mask(lengths=[3, 2], max_len=3)
    gradcheck_module(attn, _x(2, 3, 4), None, None, keep, True)          # query, key, value, mask, is_causal


def test_multi_head_cross_attention_gradcheck(backend):
    keep = tinyattn.padding_mask(lengths=[4, 2], max_len=4)
    gradcheck_module(nn.MultiHeadAttention(4, 2, dtype=F64), _x(2, 2, 4), _x(2, 4, 4), _x(2, 4, 4), keep)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_encoder_layer_gradcheck_with_dropout_fixed_by_seed(backend, norm_first):
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.2, norm_first=norm_first, dtype=F64)
    gradcheck_module(layer, _x(2, 3, 4), tinyattn.padding_mask(lengths=[3, 2], max_len=3), seed=5)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
def test_decoder_layer_gradcheck(backend, norm_first):
    layer = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, norm_first=norm_first, dtype=F64)
    gradcheck_module(layer, _x(2, 3, 4), _x(2, 2, 4), None, tinyattn.padding_mask(lengths=[2, 1], max_len=2))


def test_gpt_gradcheck(backend):
    gpt = nn.GPT(7, 4, 2, 2, max_len=5, dtype=F64)
    gradcheck_module(gpt, tinyattn.tensor([[1, 3, 5, 0], [2, 2, 6, 4]]), directional=True)


def test_transformer_gradcheck(backend):
    model = nn.Transformer(6, 5, 4, 2, 1, 1, 6, dropout=0.0, max_len=8, dtype=F64)
    src = tinyattn.tensor([[1, 2, 3], [4, 5, 0]])
    gradcheck_module(model, src, tinyattn.tensor([[1, 2], [3, 4]]), tinyattn.padding_mask(src, pad_id=0),
           directional=True)
