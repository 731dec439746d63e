"""GPT.from_pretrained and GPT.save_pretrained against transformers' GPT2LMHeadModel.

Tiny random GPT-2s are made and saved by transformers itself (no download): ours must load them
with the same logits and the same greedy tokens, and what ours saves must load in transformers
with the same logits. Float32 logits agree to 1e-4: both sides compute the same float32 formulas
in a different order of roundings, which leaves differences near 1e-7 on logits of size ~1.
"""
import json
import re
import warnings

import numpy as np
import pytest
from fake_hub import install_fake_hub

import tinyattn
from tinyattn import nn

FLOAT32 = dict(rtol=1e-4, atol=1e-4)

# (vocab, positions, width, layers, heads, inner, activation, tied): the sizes vary so that a
# mistake in splitting c_attn, transposing a Conv1D or reading n_inner cannot go unseen
CONFIGS = [(50, 32, 16, 2, 2, None, "gelu_new", True),
           (37, 24, 24, 3, 4, 40, "gelu", True),
           (61, 16, 12, 1, 3, None, "relu", False),
           (29, 20, 32, 2, 8, 48, "gelu_pytorch_tanh", False)]


@pytest.fixture
def transformers():
    pytest.importorskip("torch")
    return pytest.importorskip("transformers")


def _hf_model(transformers, config, seed=0):
    import torch
    vocab, positions, width, layers, heads, inner, activation, tied = config
    torch.manual_seed(seed)
    hf_config = transformers.GPT2Config(
        vocab_size=vocab, n_positions=positions, n_embd=width, n_layer=layers, n_head=heads,
        n_inner=inner, activation_function=activation, tie_word_embeddings=tied,
        bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(hf_config).eval()
    with torch.no_grad():          # biases and norms start at 0 and 1: make them random too
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if name.endswith("ln_1.weight") else 0.0))
    return model


def _hf_logits(model, idx):
    import torch
    with torch.no_grad():
        return model(torch.tensor(idx)).logits.numpy()


def _tokens(vocab, shape, seed=1):
    return np.random.default_rng(seed).integers(0, vocab, shape)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c[6]}-tied{c[7]}-L{c[3]}H{c[4]}")
def test_a_gpt2_saved_by_transformers_loads_with_the_same_logits(transformers, tmp_path, config):
    theirs = _hf_model(transformers, config)
    theirs.save_pretrained(tmp_path)
    ours = nn.GPT.from_pretrained(tmp_path)
    idx = _tokens(config[0], (3, config[1]))
    np.testing.assert_allclose(ours(tinyattn.tensor(idx)).numpy(), _hf_logits(theirs, idx), **FLOAT32)


@pytest.mark.parametrize("config", CONFIGS[:2], ids=["gelu_new", "gelu"])
def test_greedy_decoding_gives_the_same_tokens(transformers, tmp_path, config):
    import torch
    theirs = _hf_model(transformers, config, seed=3)
    theirs.save_pretrained(tmp_path)
    ours = nn.GPT.from_pretrained(tmp_path)
    prompt = _tokens(config[0], (2, 5), seed=4)
    new = config[1] - 5
    ours_out = tinyattn.generate.generate(ours, tinyattn.tensor(prompt), new, greedy=True).numpy()
    with torch.no_grad():
        theirs_out = theirs.generate(torch.tensor(prompt), max_new_tokens=new, min_new_tokens=new,
                                     do_sample=False, pad_token_id=0).numpy()
    np.testing.assert_array_equal(ours_out, theirs_out)


def test_hub_style_files_load(transformers, tmp_path):
    """The hub's gpt2/model.safetensors: no "transformer." prefix, no lm_head, and each layer's
    causal-mask buffer h.{i}.attn.bias, which is not a weight."""
    theirs = _hf_model(transformers, CONFIGS[0])
    theirs.save_pretrained(tmp_path / "saved")
    arrays = tinyattn.load_safetensors(tmp_path / "saved" / "model.safetensors")
    hub = {k.removeprefix("transformer."): np.array(v) for k, v in arrays.items() if k != "lm_head.weight"}
    for i in range(CONFIGS[0][3]):
        hub[f"h.{i}.attn.bias"] = np.tril(np.ones((1, 1, 32, 32), dtype=np.float32))
    (tmp_path / "hub").mkdir()
    tinyattn.save_safetensors(hub, tmp_path / "hub" / "model.safetensors", metadata={"format": "pt"})
    (tmp_path / "hub" / "config.json").write_text((tmp_path / "saved" / "config.json").read_text())
    ours = nn.GPT.from_pretrained(tmp_path / "hub")
    idx = _tokens(50, (2, 32))
    np.testing.assert_allclose(ours(tinyattn.tensor(idx)).numpy(), _hf_logits(theirs, idx), **FLOAT32)


@pytest.mark.parametrize("tied,bias", [(True, True), (False, True), (True, False)])
def test_our_gpt_saved_loads_in_transformers_with_the_same_logits(transformers, tmp_path, tied, bias):
    tinyattn.manual_seed(0)
    ours = nn.GPT(45, 16, 4, 2, 20, d_ff=24, activation="gelu_tanh", tie_weights=tied, bias=bias).eval()
    ours.save_pretrained(tmp_path)
    theirs, info = transformers.GPT2LMHeadModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    idx = _tokens(45, (2, 20))
    np.testing.assert_allclose(_hf_logits(theirs.eval(), idx), ours(tinyattn.tensor(idx)).numpy(), **FLOAT32)


def test_save_then_load_gives_the_same_weights_on_every_backend(backend, tmp_path):
    ours = nn.GPT(30, 12, 3, 2, 10, tie_weights=False, activation="gelu")
    ours.save_pretrained(tmp_path)
    loaded = nn.GPT.from_pretrained(tmp_path)
    assert loaded.head.weight is not loaded.token_embedding.weight and not loaded.training
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name].numpy(), value.numpy(), err_msg=name)


def test_from_pretrained_takes_a_dtype(tmp_path):
    nn.GPT(30, 12, 3, 1, 10).save_pretrained(tmp_path)
    assert nn.GPT.from_pretrained(tmp_path, dtype="float64").head.weight.dtype == "float64"


@pytest.mark.parametrize("kwargs,option", [
    (dict(positional="rotary"), "positional='rotary'"),
    (dict(num_kv_heads=1), "num_kv_heads=1"),
    (dict(attention="window", window=4), "attention='window'")])
def test_a_gpt_gpt2_cannot_hold_is_refused_naming_the_option(tmp_path, kwargs, option):
    model = nn.GPT(30, 12, 2, 1, 10, **kwargs)
    with pytest.raises(ValueError, match=re.escape(f"GPT-2's format cannot hold this model's {option}")):
        model.save_pretrained(tmp_path)
    assert not (tmp_path / "config.json").exists()


def _saved(tmp_path, **config_changes):
    nn.GPT(30, 12, 2, 2, 10).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(config_changes)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


@pytest.mark.parametrize("field,value", [
    ("layer_norm_epsilon", 1e-6), ("scale_attn_weights", False), ("activation_function", "gelu_fast"),
    ("scale_attn_by_inverse_layer_idx", True), ("add_cross_attention", True), ("model_type", "llama"),
    ("attn_pdrop", 0.05), ("pruned_heads", {"0": [1]})])
def test_a_config_our_gpt_cannot_compute_is_refused_naming_the_field(tmp_path, field, value):
    with pytest.raises(ValueError, match=f"cannot compute: .*{field}"):
        nn.GPT.from_pretrained(_saved(tmp_path, **{field: value}))


def test_an_unknown_config_field_is_named_in_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="rope_theta"):
        nn.GPT.from_pretrained(_saved(tmp_path, rope_theta=10000.0))


def test_the_hub_config_of_gpt2_loads_without_warnings(tmp_path):
    """gpt2's config.json as the hub serves it (its fields, with tiny sizes)."""
    hub_fields = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
                  "attn_pdrop": 0.1, "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256,
                  "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
                  "n_ctx": 10, "resid_pdrop": 0.1, "summary_activation": None,
                  "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
                  "summary_type": "cls_index", "summary_use_proj": True,
                  "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.GPT.from_pretrained(_saved(tmp_path, **hub_fields))


def test_a_missing_tensor_is_named(tmp_path):
    _saved(tmp_path)
    arrays = dict(tinyattn.load_safetensors(tmp_path / "model.safetensors"))
    del arrays["transformer.h.1.mlp.c_fc.bias"]
    tinyattn.save_safetensors(arrays, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"has no transformer\.h\.1\.mlp\.c_fc\.bias"):
        nn.GPT.from_pretrained(tmp_path)


def test_a_tensor_of_a_layer_the_config_lacks_is_named(tmp_path):
    _saved(tmp_path, n_layer=1)
    with pytest.raises(ValueError, match=r"does not have: h\.1\."):
        nn.GPT.from_pretrained(tmp_path)


def test_a_wrong_shape_is_named(tmp_path):
    with pytest.raises(RuntimeError, match="token_embedding.weight: checkpoint"):
        nn.GPT.from_pretrained(_saved(tmp_path, vocab_size=31))


def test_a_hub_name_is_fetched_through_huggingface_hub(tmp_path, monkeypatch):
    model = nn.GPT(30, 12, 2, 1, 10)
    model.save_pretrained(tmp_path / "repo")
    asked = install_fake_hub(monkeypatch, {"openai-community/gpt2": tmp_path / "repo"}, tmp_path / "cache")
    loaded = nn.GPT.from_pretrained("openai-community/gpt2")
    assert asked == [("openai-community/gpt2", "config.json"), ("openai-community/gpt2", "model.safetensors")]
    np.testing.assert_array_equal(loaded.head.weight.numpy(), model.head.weight.numpy())


def test_a_hub_name_already_cached_is_read_without_asking_the_hub(tmp_path, monkeypatch):
    nn.GPT(30, 12, 2, 1, 10).save_pretrained(tmp_path / "repo")
    asked = install_fake_hub(monkeypatch, {"gpt2": tmp_path / "repo"}, tmp_path / "cache")
    nn.GPT.from_pretrained("gpt2")
    nn.GPT.from_pretrained("gpt2")
    assert asked == [("gpt2", "config.json"), ("gpt2", "model.safetensors")]       # the first time only


def test_a_hub_name_offline_raises_the_hubs_error(tmp_path, monkeypatch):
    install_fake_hub(monkeypatch, {}, tmp_path / "cache")
    with pytest.raises(OSError, match="no config.json in gpt2"):
        nn.GPT.from_pretrained("gpt2")


def test_a_hub_name_without_huggingface_hub_says_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ImportError, match=r"GPT.from_pretrained\('gpt2'\).*pip install huggingface_hub"):
        nn.GPT.from_pretrained("gpt2")


def test_a_path_that_is_no_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory: .*nowhere"):
        nn.GPT.from_pretrained(tmp_path / "nowhere")
