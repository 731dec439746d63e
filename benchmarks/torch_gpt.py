"""The GPT of tinyattn.nn.GPT written in PyTorch, with the same parameter names, so weights can be
copied across and the two compared step for step (benchmarks only; PyTorch is never a runtime
dependency of tinyattn)."""
from collections import OrderedDict


def torch_gpt(torch, vocab_size, d_model, num_heads, num_layers, max_len, activation="gelu"):
    """GPT-2's layout: token + learned position embeddings, pre-norm blocks (causal self-attention
    with separate q/k/v projections, feed-forward of width 4 d_model), final norm, tied head.
    activation: "gelu" (exact), "gelu_tanh" or "relu", the same choice as tinyattn's GPT."""
    nn, F = torch.nn, torch.nn.functional
    activations = {"gelu": lambda: nn.GELU(), "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
                   "relu": lambda: nn.ReLU()}

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d_model, d_model)
                                                                    for _ in range(4))

        def forward(self, x):
            batch, time, _ = x.shape
            heads = lambda t: t.view(batch, time, num_heads, -1).transpose(1, 2)   # noqa: E731
            out = F.scaled_dot_product_attention(heads(self.q_proj(x)), heads(self.k_proj(x)),
                                                 heads(self.v_proj(x)), is_causal=True)
            return self.out_proj(out.transpose(1, 2).reshape(batch, time, d_model))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.self_attn = CausalSelfAttention()
            self.feed_forward = nn.Sequential(OrderedDict(
                linear1=nn.Linear(d_model, 4 * d_model), activation=activations[activation](),
                linear2=nn.Linear(4 * d_model, d_model)))
            self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)

        def forward(self, x):
            x = x + self.self_attn(self.norm1(x))
            return x + self.feed_forward(self.norm2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding = nn.Embedding(vocab_size, d_model)
            self.position_embedding = nn.ModuleDict({"embedding": nn.Embedding(max_len, d_model)})
            self.blocks = nn.ModuleList(Block() for _ in range(num_layers))
            self.final_norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size, bias=False)
            self.head.weight = self.token_embedding.weight

        def forward(self, idx):
            positions = torch.arange(idx.shape[1])
            x = self.token_embedding(idx) + self.position_embedding["embedding"](positions)
            for block in self.blocks:
                x = block(x)
            return self.head(self.final_norm(x))

    return GPT()


def copy_weights(ours, theirs, torch):
    """Copy tinyattn's parameters into the PyTorch twin (same names; the tied head comes along)."""
    state = {name: torch.tensor(value.numpy()) for name, value in ours.state_dict().items()}
    theirs.load_state_dict(state)
