"""GPT-2's files (config.json and model.safetensors, as Hugging Face keeps them) <-> a GPT's weights.

GPT-2 and nn.GPT compute the same thing with different names and one different layout:

    GPT-2 (transformers)                 nn.GPT                                  note
    wte.weight (V, C)                    token_embedding.weight
    wpe.weight (T, C)                    position_embedding.embedding.weight
    h.{i}.ln_1 / ln_2                    blocks.{i}.norm1 / norm2
    h.{i}.attn.c_attn (C, 3C)            blocks.{i}.self_attn.q_proj, k_proj, v_proj   packed, (in, out)
    h.{i}.attn.c_proj (C, C)             blocks.{i}.self_attn.out_proj                 (in, out)
    h.{i}.mlp.c_fc (C, 4C)               blocks.{i}.feed_forward.linear1               (in, out)
    h.{i}.mlp.c_proj (4C, C)             blocks.{i}.feed_forward.linear2               (in, out)
    ln_f                                 final_norm
    lm_head.weight (V, C)                head.weight                                   absent when tied

GPT-2's projections are "Conv1D" layers: x @ W + b with W stored (in, out), the transpose of a
Linear's (out, in). c_attn packs the query, key and value projections side by side, so its
columns split in three. Files saved by `transformers` put "transformer." before every name but
lm_head's; the hub's own gpt2/model.safetensors has no prefix (and old ones carry each layer's
causal mask as h.{i}.attn.bias, a constant rebuilt by the model, which we skip).

config.json holds the sizes (vocab_size, n_positions, n_embd, n_layer, n_head, n_inner) and the
choices. A choice nn.GPT cannot make (another layer norm eps, unscaled attention, ...) is refused
with its name: loading it anyway would give a model that computes something else.

Everything here works on host NumPy arrays: the file's (memory-mapped), and host copies of the
model's (host_array); load_state_dict then moves them to the model's backend.
"""
import re
import warnings

import numpy as np

from ..engine.conversion import host_array

# activation_function -> FeedForward's activation. gelu_new and gelu_pytorch_tanh are both the
# tanh approximation of GELU; "gelu" is the exact (erf) one.
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}
ACTIVATION_NAMES = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}

# choices GPT-2 allows that change what the model computes, and the only value nn.GPT can make
REQUIRED = {"model_type": "gpt2", "layer_norm_epsilon": 1e-5, "scale_attn_weights": True,
            "scale_attn_by_inverse_layer_idx": False, "add_cross_attention": False, "pruned_heads": {}}

# fields that describe the file or serve other heads and tasks, not GPT2LMHeadModel's logits
# (reorder_and_upcast_attn only changes the precision of float16 attention)
IGNORED = {"architectures", "bos_token_id", "eos_token_id", "pad_token_id", "dtype", "torch_dtype",
           "initializer_range", "transformers_version", "use_cache", "task_specific_params", "n_ctx",
           "summary_activation", "summary_first_dropout", "summary_proj_to_labels", "summary_type",
           "summary_use_proj", "reorder_and_upcast_attn", "_name_or_path", "id2label", "label2id",
           "_num_labels", "n_special", "predict_special_tokens", "output_past", "tokenizer_class",
           "return_dict", "output_attentions", "output_hidden_states", "torchscript", "is_decoder",
           "problem_type", "finetuning_task", "prefix", "num_labels", "gradient_checkpointing",
           "use_bfloat16"}

SIZES = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
DROPOUTS = ("resid_pdrop", "embd_pdrop", "attn_pdrop")


def gpt_arguments(config, path="config.json"):
    """A GPT-2 config (the dict of config.json) -> keyword arguments of nn.GPT, or a ValueError
    naming every field nn.GPT cannot represent."""
    problems = [f"{key} is {config[key]!r}, tinyattn's GPT needs {value!r}"
                for key, value in REQUIRED.items() if key in config and config[key] != value]
    missing = [key for key in SIZES if key not in config]
    if missing:
        problems.append("missing " + ", ".join(missing))
    activation = config.get("activation_function", "gelu_new")
    if activation not in ACTIVATIONS:
        problems.append(f"activation_function {activation!r} is none of {', '.join(ACTIVATIONS)}")
    dropouts = {config.get(key, 0.1) for key in DROPOUTS}
    if len(dropouts) > 1:
        problems.append("resid_pdrop, embd_pdrop and attn_pdrop differ "
                        f"({', '.join(str(config.get(k, 0.1)) for k in DROPOUTS)}); GPT has one dropout")
    if problems:
        raise ValueError(f"GPT.from_pretrained: {path} describes a model tinyattn's GPT cannot "
                         "compute: " + "; ".join(problems))
    known = set(REQUIRED) | IGNORED | set(SIZES) | set(DROPOUTS) | \
        {"activation_function", "n_inner", "tie_word_embeddings"}
    unknown = sorted(set(config) - known)
    if unknown:
        warnings.warn(f"GPT.from_pretrained: {path} has fields tinyattn does not know: "
                      f"{', '.join(unknown)}; they were ignored", stacklevel=3)
    return dict(vocab_size=config["vocab_size"], d_model=config["n_embd"], num_heads=config["n_head"],
                num_layers=config["n_layer"], max_len=config["n_positions"],
                d_ff=config.get("n_inner") or 4 * config["n_embd"], dropout=dropouts.pop(),
                activation=ACTIVATIONS[activation], tie_weights=config.get("tie_word_embeddings", True))


def gpt2_config(model):
    """The config.json dict of a GPT, as transformers.GPT2Config writes it; a ValueError when
    GPT-2 cannot hold the model (rotary positions, grouped-query or window attention)."""
    attn = model.blocks[0].self_attn if len(model.blocks) else None
    refused = []
    if model.position_embedding is None:
        refused.append("positional='rotary' (GPT-2 learns a vector per position)")
    if attn is not None and attn.num_kv_heads != attn.num_heads:
        refused.append(f"num_kv_heads={attn.num_kv_heads} (grouped-query attention; GPT-2 gives "
                       "every head its own keys and values)")
    if attn is not None and attn.attention == "window":
        refused.append(f"attention='window' (window={attn.window}; GPT-2 sees every earlier token)")
    if refused:
        raise ValueError("GPT.save_pretrained: GPT-2's format cannot hold this model's "
                         + " and ".join(refused))
    vocab_size, d_model = model.token_embedding.weight.shape
    p = model.dropout.p
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": vocab_size, "n_positions": model.max_len, "n_embd": d_model,
            "n_layer": len(model.blocks), "n_head": attn.num_heads if attn else 1,
            "n_inner": model.blocks[0].feed_forward.linear1.weight.shape[0] if attn else None,
            "activation_function": ACTIVATION_NAMES[model.blocks[0].feed_forward.activation]
            if attn else "gelu_new",
            "resid_pdrop": p, "embd_pdrop": p, "attn_pdrop": p,
            "layer_norm_epsilon": model.final_norm.eps, "scale_attn_weights": True,
            "tie_word_embeddings": model.head.weight is model.token_embedding.weight,
            "dtype": model.token_embedding.weight.dtype}


def gpt2_to_gpt(arrays, num_layers, tied, path="model.safetensors"):
    """GPT-2's named arrays (either key style) -> nn.GPT's state_dict (arrays, Linear layout)."""
    prefix = "transformer." if any(k.startswith("transformer.") for k in arrays) else ""
    source = {k.removeprefix(prefix): v for k, v in arrays.items()
              if not re.fullmatch(r"(transformer\.)?h\.\d+\.attn\.(masked_)?bias", k)}
    state, used = {}, set()

    def take(name):
        used.add(name)
        if name not in source:
            raise ValueError(f"GPT.from_pretrained: {path} has no {prefix}{name}; "
                             f"a GPT-2 file with {num_layers} layers holds {_expected(num_layers)}")
        return np.asarray(source[name])

    state["token_embedding.weight"] = take("wte.weight")
    state["position_embedding.embedding.weight"] = take("wpe.weight")
    for i in range(num_layers):
        ours, theirs = f"blocks.{i}.", f"h.{i}."
        for norm, ln in (("norm1", "ln_1"), ("norm2", "ln_2")):
            state[ours + norm + ".weight"] = take(theirs + ln + ".weight")
            state[ours + norm + ".bias"] = take(theirs + ln + ".bias")
        qkv_weight, qkv_bias = take(theirs + "attn.c_attn.weight"), take(theirs + "attn.c_attn.bias")
        for third, proj in enumerate(np.split(qkv_weight, 3, axis=1)):               # (C, C) each
            state[ours + f"self_attn.{'qkv'[third]}_proj.weight"] = proj.T
        for third, bias in enumerate(np.split(qkv_bias, 3)):
            state[ours + f"self_attn.{'qkv'[third]}_proj.bias"] = bias
        for linear, conv in (("self_attn.out_proj", "attn.c_proj"), ("feed_forward.linear1", "mlp.c_fc"),
                             ("feed_forward.linear2", "mlp.c_proj")):
            state[ours + linear + ".weight"] = take(theirs + conv + ".weight").T     # (in, out) -> (out, in)
            state[ours + linear + ".bias"] = take(theirs + conv + ".bias")
    state["final_norm.weight"] = take("ln_f.weight")
    state["final_norm.bias"] = take("ln_f.bias")
    head = arrays.get("lm_head.weight")
    if not tied and head is None:
        raise ValueError(f"GPT.from_pretrained: {path} has no lm_head.weight, and the config "
                         "says tie_word_embeddings=false")
    # a tied head is the token embedding itself (its state_dict lists it under both names)
    state["head.weight"] = state["token_embedding.weight"] if tied else np.asarray(head)
    left = sorted(set(source) - used - {"lm_head.weight"})
    if left:
        raise ValueError(f"GPT.from_pretrained: {path} holds tensors a GPT-2 with {num_layers} layers "
                         f"does not have: {', '.join(left[:5])}{' ...' if len(left) > 5 else ''}")
    return state


def gpt_to_gpt2(model):
    """A GPT's weights -> GPT-2's named NumPy arrays, as transformers saves them ("transformer."
    before each name; lm_head.weight only when the head is not tied). Missing biases (bias=False)
    are written as zeros, which compute the same."""
    def array(t):
        return np.ascontiguousarray(host_array(t.data))

    def bias(linear):
        return array(linear.bias) if linear.bias is not None else \
            np.zeros(linear.weight.shape[0], dtype=array(linear.weight).dtype)

    out = {"transformer.wte.weight": array(model.token_embedding.weight),
           "transformer.wpe.weight": array(model.position_embedding.embedding.weight)}
    for i, block in enumerate(model.blocks):
        theirs, attn = f"transformer.h.{i}.", block.self_attn
        for ln, norm in (("ln_1", block.norm1), ("ln_2", block.norm2)):
            out[theirs + ln + ".weight"], out[theirs + ln + ".bias"] = array(norm.weight), array(norm.bias)
        projections = (attn.q_proj, attn.k_proj, attn.v_proj)
        out[theirs + "attn.c_attn.weight"] = np.concatenate([array(p.weight).T for p in projections], axis=1)
        out[theirs + "attn.c_attn.bias"] = np.concatenate([bias(p) for p in projections])
        for linear, conv in ((attn.out_proj, "attn.c_proj"), (block.feed_forward.linear1, "mlp.c_fc"),
                             (block.feed_forward.linear2, "mlp.c_proj")):
            out[theirs + conv + ".weight"] = np.ascontiguousarray(array(linear.weight).T)
            out[theirs + conv + ".bias"] = bias(linear)
    out["transformer.ln_f.weight"] = array(model.final_norm.weight)
    out["transformer.ln_f.bias"] = array(model.final_norm.bias)
    if model.head.weight is not model.token_embedding.weight:
        out["lm_head.weight"] = array(model.head.weight)
    return out


def _expected(num_layers):
    return ("wte, wpe, ln_f and, for each layer h.0 .. h.{}, ln_1, ln_2, attn.c_attn, attn.c_proj, "
            "mlp.c_fc and mlp.c_proj").format(num_layers - 1)
