"""All of a GPT's parameters in one flat float32 buffer, and views of it under tinyattn's names.

Why one buffer: AdamW then makes its passes over one long array in cache-sized blocks (adamw.py)
instead of repeating every pass for each of the dozens of parameters, and the gradient, the two moments
and the parameters line up element for element in four arrays of the same size.
"""
import math


class Layout:
    """Where each parameter lives in the flat buffer: name -> (offset, shape), for a GPT with
    vocabulary V, width C, L layers, context T and hidden width F = 4C.

    Names and shapes:  "wte" (V, C) token embedding, also the output head (tied);  "wpe" (T, C);
    per layer l:  "l.qkv" (3C, C+1) q, k, v projections stacked,  "l.out" (C, C+1),  "l.ff1" (F, C+1),
    "l.ff2" (C, F+1),  "l.norm1.g", "l.norm1.b", "l.norm2.g", "l.norm2.b" (C,);  "final.g", "final.b" (C,).
    Every Linear is stored (out, in + 1) with its bias as the last column: the step's activations
    carry a column of ones, so one GEMM computes x W^T + b (see work.py).
    Each entry starts at a multiple of 16 floats (64 bytes, a cache line)."""

    def __init__(self, vocab_size, d_model, num_layers, context):
        V, C, T = vocab_size, d_model, context
        self.V, self.C, self.L, self.T, self.F = V, C, num_layers, T, 4 * C
        self.entries = {}
        self.size = 0
        self._add("wte", (V, C))
        self._add("wpe", (T, C))
        for layer in range(num_layers):
            self._add(f"{layer}.qkv", (3 * C, C + 1))
            self._add(f"{layer}.out", (C, C + 1))
            self._add(f"{layer}.ff1", (self.F, C + 1))
            self._add(f"{layer}.ff2", (C, self.F + 1))
            for name in ("norm1.g", "norm1.b", "norm2.g", "norm2.b"):
                self._add(f"{layer}.{name}", (C,))
        self._add("final.g", (C,))
        self._add("final.b", (C,))

    def _add(self, name, shape):
        self.entries[name] = (self.size, shape)
        self.size += -(-math.prod(shape) // 16) * 16      # rounded up to 16 floats

    def views(self, flat):
        """{name: view of flat (size,) with that entry's shape}."""
        return {name: flat[offset:offset + math.prod(shape)].reshape(shape)
                for name, (offset, shape) in self.entries.items()}

    def named_views(self, flat):
        """{tinyattn (and benchmarks/torch_gpt.py) parameter name: view of flat}: q, k, v are row
        blocks of "l.qkv", each bias a column of its Linear. PyTorch's tied head.weight is wte."""
        v, C = self.views(flat), self.C
        named = {"token_embedding.weight": v["wte"], "position_embedding.embedding.weight": v["wpe"],
                 "final_norm.weight": v["final.g"], "final_norm.bias": v["final.b"]}
        for layer in range(self.L):
            prefix = f"blocks.{layer}."
            for i, name in enumerate("qkv"):
                rows = v[f"{layer}.qkv"][i * C:(i + 1) * C]
                named[prefix + f"self_attn.{name}_proj.weight"] = rows[:, :-1]
                named[prefix + f"self_attn.{name}_proj.bias"] = rows[:, -1]
            for key, module in (("out", "self_attn.out_proj"), ("ff1", "feed_forward.linear1"),
                                ("ff2", "feed_forward.linear2")):
                named[prefix + module + ".weight"] = v[f"{layer}.{key}"][:, :-1]
                named[prefix + module + ".bias"] = v[f"{layer}.{key}"][:, -1]
            for norm in ("norm1", "norm2"):
                named[prefix + norm + ".weight"] = v[f"{layer}.{norm}.g"]
                named[prefix + norm + ".bias"] = v[f"{layer}.{norm}.b"]
        return named

    def load(self, flat, state_dict):
        """Copy a tinyattn GPT's state_dict ({name: NumPy array}) into the flat buffer."""
        for name, view in self.named_views(flat).items():
            view[...] = state_dict[name]
