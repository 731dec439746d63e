# %% [markdown]
# # 2. Attention step by step
#
# Attention is how a Transformer lets every token look at the others. Each token asks a
# question (its *query*), every token offers a label (its *key*) and a content (its *value*);
# a token's output is an average of the values, weighted by how well its query matches each key:
#
#     attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V
#
# This tutorial takes that formula apart on a tiny example, then measures *why* it divides by
# sqrt(d_k), draws the masks that stop tokens from looking where they must not, rebuilds
# multi-head attention from reshapes, and looks at how positions get in: sinusoidal encodings
# and rotary embeddings (RoPE). Nothing is trained; every claim is checked by a number or a
# picture.
#
# Run it as a script (`python tutorials/02_attention.py`, `--quick` for smaller samples) or
# open it as a notebook with jupytext. The figures go to `--out` (default `out/02_attention`).

# %%
import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from _common import report, show, tutorial_args

import tinyattn
import tinyattn.functional as F
from tinyattn import nn, viz

args = tutorial_args("Attention step by step", default_out="out/02_attention")
np.set_printoptions(precision=3, suppress=True)
checks = []                                    # the names of the checks passed, for the results


def show_tensor(name, t):
    """Print a tensor's shape and values (copied to the host, rounded)."""
    print(f"{name} {t.shape}:\n{t.numpy()}\n")


def check(name, difference, tolerance):
    """Record and assert a numerical check: `difference` must be below `tolerance`."""
    print(f"check: {name}: max difference {difference:.1e} (tolerance {tolerance:.0e})")
    checks.append(name)
    assert difference < tolerance, f"{name}: difference {difference} >= {tolerance}"


def annotate(ax, matrix, fmt="{:.2f}", dark_above=None):
    """Write each cell's value on a heatmap: white text on cells above `dark_above` (default:
    halfway between the smallest and largest value), black on the others; exact zeros as "0"."""
    dark_above = (matrix.max() + matrix.min()) / 2 if dark_above is None else dark_above
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, "0" if value == 0 else fmt.format(value), ha="center", va="center",
                fontsize=8, color="white" if value > dark_above else "black")


def log_widths_axis(ax, widths):
    """A log-scale x axis with one labelled tick per width and no minor ticks."""
    ax.set_xscale("log")
    ax.set_xticks(widths, labels=[str(d) for d in widths])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


# %% [markdown]
# ## 1. Attention on four tokens, by hand
#
# Four tokens, each with a query, a key and a value; queries and keys have d_k = 3 features.
# The numbers are picked so that the pattern is easy to see: key j points along axis j
# (key 3 along all three a little), and each query points towards one key.
# The values are four directions in the plane, so the output shows whose value a token took.

# %%
tokens = ["A", "B", "C", "D"]
Q = tinyattn.tensor([[2.0, 0.0, 0.0],      # A looks for keys along axis 0: token A
                     [0.0, 0.0, 2.0],      # B looks along axis 2: token C
                     [1.0, 1.0, 0.0],      # C is torn between A and B
                     [0.0, 2.0, 0.0]])     # D looks along axis 1: token B
K = tinyattn.tensor([[3.0, 0.0, 0.0],
                     [0.0, 3.0, 0.0],
                     [0.0, 0.0, 3.0],
                     [1.0, 1.0, 1.0]])
V = tinyattn.tensor([[1.0, 0.0],           # east
                     [0.0, 1.0],           # north
                     [-1.0, 0.0],          # west
                     [0.0, -1.0]])         # south
d_k = Q.shape[-1]

# %% [markdown]
# **Step 1, scores.** Row i, column j is the dot product q_i . k_j: how well query i matches
# key j. All pairs at once are one matrix product, Q K^T, of shape (T_q, T_k).

# %%
scores = Q @ K.T                               # (4, 3) @ (3, 4) -> (4, 4)
show_tensor("scores = Q @ K^T", scores)

# %% [markdown]
# **Step 2, scale.** Divide by sqrt(d_k). (Section 2 shows why.)

# %%
scaled = scores / math.sqrt(d_k)               # (4, 4)
show_tensor(f"scaled = scores / sqrt({d_k})", scaled)

# %% [markdown]
# **Step 3, softmax over the keys.** Each row becomes positive weights that sum to 1:
# w_ij = exp(s_ij) / sum_j' exp(s_ij'). Subtracting the row's maximum first changes nothing
# mathematically (it cancels between numerator and denominator) but keeps exp from overflowing.

# %%
shifted = scaled - scaled.max(axis=-1, keepdims=True)
weights = shifted.exp() / shifted.exp().sum(axis=-1, keepdims=True)      # (4, 4)
show_tensor("weights = softmax(scaled)", weights)
print("each row sums to", weights.sum(axis=-1).numpy())
check("softmax by hand == F.softmax", np.abs((weights - F.softmax(scaled, axis=-1)).numpy()).max(), 1e-6)

# %% [markdown]
# **Step 4, weighted sum of the values.** Output i = sum_j w_ij v_j, again one matrix product.
# A looked mostly at itself and comes out pointing east (A's value); B found C and points
# west; D found B and points north; C, torn between A and B, gets a blend: north-east.

# %%
output = weights @ V                           # (4, 4) @ (4, 2) -> (4, 2)
show_tensor("output = weights @ V", output)
for token, row, out in zip(tokens, weights.numpy(), output.numpy()):
    strongest = ", ".join(f"{key} {w:.2f}" for key, w in zip(tokens, row) if w > 0.2)
    print(f"{token} attends to {strongest} -> output {out}")

# %% [markdown]
# The library's `F.scaled_dot_product_attention` does exactly these four steps:

# %%
library_out, library_weights = F.scaled_dot_product_attention(Q, K, V, return_weights=True)
check("attention by hand == F.scaled_dot_product_attention",
      max(np.abs((output - library_out).numpy()).max(),
          np.abs((weights - library_weights).numpy()).max()), 1e-6)

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
viz.heatmap(axes[0], scaled, "Scores q.k / sqrt(d_k)", "key", "query", tokens, tokens, cmap="RdBu_r",
            vmin=-3.5, vmax=3.5, colorbar_label="scaled score")
annotate(axes[0], scaled.numpy())
viz.attention_map(axes[1], weights, "Weights: softmax over each row", tokens, tokens)
annotate(axes[1], weights.numpy(), dark_above=0.5)
fig.suptitle("Attention on four tokens: the best-matching key gets most of the weight")
fig.tight_layout()
show(fig, "tiny_example.png")

# %% [markdown]
# ## 2. Why divide by sqrt(d_k)?
#
# Take a query and a key whose d_k entries are independent with mean 0 and variance 1 (roughly
# what a freshly initialised layer produces). Their dot product q . k = sum_i q_i k_i is a sum
# of d_k independent terms of variance 1, so its **variance is d_k**: with 512 features the
# scores have a standard deviation of about 23. Let's measure it: 16 keys per query,
# many queries, for widths from 4 to 1024.

# %%
widths = [4, 8, 16, 32, 64, 128, 256, 512, 1024]
num_queries, num_keys = (200, 16) if args.quick else (2000, 16)
stats = {"variance": [], "scaled variance": []}
for scale_name in ("unscaled", "scaled"):
    for key in ("max weight", "entropy", "gradient norm"):
        stats[f"{key}, {scale_name}"] = []
example_rows = {}                                      # one query's weights at d_k = 512

print(f"{'d_k':>5} {'var(q.k)':>9} {'var(q.k/sqrt d_k)':>18}")
for d in widths:
    q = tinyattn.randn(num_queries, 1, d)              # (N, 1, d): one query per row
    k = tinyattn.randn(num_queries, num_keys, d)       # (N, 16, d): its 16 keys
    dots = q @ k.transpose(-2, -1)                     # (N, 1, 16)
    stats["variance"].append(dots.var().item())
    stats["scaled variance"].append((dots / math.sqrt(d)).var().item())
    print(f"{d:5d} {stats['variance'][-1]:9.1f} {stats['scaled variance'][-1]:18.2f}")

    for scale_name, logits in (("unscaled", dots), ("scaled", dots / math.sqrt(d))):
        logits = logits.detach().requires_grad_()      # a leaf, so backward fills logits.grad
        w = F.softmax(logits, axis=-1)                 # (N, 1, 16)
        entropy = -(w * F.log_softmax(logits, axis=-1)).sum(axis=-1)     # (N, 1), in nats
        upstream = tinyattn.randn(*w.shape)            # a random gradient arriving at the weights
        (w * upstream).sum().backward()
        grad_norms = np.linalg.norm(logits.backend.to_numpy(logits.grad).reshape(num_queries, -1), axis=1)
        stats[f"max weight, {scale_name}"].append(w.max(axis=-1).mean().item())
        stats[f"entropy, {scale_name}"].append(entropy.mean().item())
        stats[f"gradient norm, {scale_name}"].append(float(np.median(grad_norms)))
        if d == 512:
            example_rows[scale_name] = w[0, 0].numpy()

# %% [markdown]
# The variance follows d_k, and after the scale it stays at 1. Now what a big variance does to
# the softmax. When the scores are spread out by sqrt(d_k), the largest one is far ahead of the
# rest and the softmax gives it almost all the weight: the attention becomes a hard, one-hot
# choice (entropy near 0; log 16 = 2.77 nats would be uniform). Worse for learning, the
# softmax's derivative, dw_i/ds_j = w_i (delta_ij - w_j), is ~0 when w is one-hot, so almost no
# gradient flows back through it into the queries and keys. The gradient norm below is the
# norm of dL/d(scores) for a random upstream gradient, computed by the engine's backward
# (median over the queries: the typical query). In the table, "raw" means unscaled.

# %%
print(f"{'d_k':>5} | {'max weight':^15} | {'entropy (nats)':^15} | {'gradient norm':^19}")
print(f"{'':>5} | {'raw':>7} {'scaled':>7} | {'raw':>7} {'scaled':>7} | {'raw':>9} {'scaled':>9}")
for i, d in enumerate(widths):
    print(f"{d:5d} | {stats['max weight, unscaled'][i]:7.3f} {stats['max weight, scaled'][i]:7.3f} | "
          f"{stats['entropy, unscaled'][i]:7.3f} {stats['entropy, scaled'][i]:7.3f} | "
          f"{stats['gradient norm, unscaled'][i]:9.2e} {stats['gradient norm, scaled'][i]:9.2e}")
collapse = stats["gradient norm, scaled"][-1] / stats["gradient norm, unscaled"][-1]
print(f"at d_k = {widths[-1]} the unscaled softmax passes back {collapse:,.0f}x less gradient")

# %%
fig, ax = plt.subplots(figsize=(6, 4.5))
ax.plot(widths, stats["variance"], "o-", color="C3", label="var(q . k): unscaled")
ax.plot(widths, stats["scaled variance"], "s-", color="C0", label="var(q . k / sqrt(d_k)): scaled")
ax.plot(widths, widths, "k--", linewidth=1, label="d_k (theory, unscaled)")
ax.set_yscale("log")
viz.readable_log_axis(ax.yaxis)
log_widths_axis(ax, widths)
ax.set(title="Dot products of random vectors: variance grows like d_k",
       xlabel="d_k (width of queries and keys)", ylabel="variance of the score")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
show(fig, "scale_variance.png")

# %%
fig, axes = plt.subplots(2, 2, figsize=(11, 8))
bars = np.arange(num_keys)
axes[0, 0].bar(bars - 0.2, example_rows["unscaled"], width=0.4, label="unscaled", color="C3")
axes[0, 0].bar(bars + 0.2, example_rows["scaled"], width=0.4, label="scaled", color="C0")
axes[0, 0].set(title="One query's weights over 16 keys, d_k = 512", xlabel="key",
               ylabel="attention weight", xticks=bars)
axes[0, 0].legend()
panels = [(axes[0, 1], "max weight", "mean of the largest weight per query", "linear"),
          (axes[1, 0], "entropy", "mean entropy of the weights (nats)", "linear"),
          (axes[1, 1], "gradient norm", "median norm of dL/d(scores)", "log")]
for ax, key, ylabel, yscale in panels:
    ax.plot(widths, stats[f"{key}, unscaled"], "o-", color="C3", label="unscaled: softmax(q.k)")
    ax.plot(widths, stats[f"{key}, scaled"], "s-", color="C0", label="scaled: softmax(q.k / sqrt(d_k))")
    ax.set_yscale(yscale)
    log_widths_axis(ax, widths)
    ax.set(title=f"{key.capitalize()} vs d_k", xlabel="d_k", ylabel=ylabel)
    ax.grid(alpha=0.3)
axes[1, 0].axhline(math.log(num_keys), color="0.4", linestyle=":", label="uniform: log 16")
axes[0, 1].axhline(1 / num_keys, color="0.4", linestyle=":", label="uniform: 1/16")
for ax in (axes[0, 1], axes[1, 0], axes[1, 1]):
    ax.legend(fontsize=8)
fig.suptitle("Without the 1/sqrt(d_k) scale the softmax saturates and its gradient vanishes")
fig.tight_layout()
show(fig, "scale_saturation.png")

# %% [markdown]
# ## 3. Masks: who may look at whom
#
# A mask is a boolean (T_q, T_k) picture: **True = this query may attend to this key**
# (PyTorch's convention for `scaled_dot_product_attention`). Where it is False, the score is
# replaced by a huge negative number before the softmax, so that key gets weight 0.
#
# - The **causal mask** lets position i see positions 0..i only: a language model predicting
#   token i + 1 must not peek at it. It is lower triangular.
# - The **padding mask** hides the padding tokens that fill short sequences up to the batch's
#   length. `padding_mask` returns (B, 1, 1, T_k): one row per sequence, broadcast over heads
#   and queries. Below it is broadcast to a (T_q, T_k) picture per batch row.
# - A decoder on padded batches needs both: allowed = causal AND not padding.

# %%
T = 6
batch_tokens = tinyattn.tensor([[5, 8, 3, 9, 4, 7],      # full length
                                [6, 2, 7, 4, 0, 0],      # 4 tokens, then padding (id 0)
                                [3, 9, 0, 0, 0, 0]])     # 2 tokens
B = batch_tokens.shape[0]
causal = tinyattn.causal_mask(T)                              # (T, T)
padding = tinyattn.padding_mask(batch_tokens, pad_id=0)       # (B, 1, 1, T)
both = tinyattn.where(padding, causal, False)                 # (B, 1, T, T): logical AND
padding_picture = padding[:, 0].broadcast_to(B, T, T)         # (B, T_q, T_k), the same row T_q times
show_tensor("causal_mask(6)", causal)
show_tensor("padding_mask(tokens, pad_id=0)", padding)

# %%
fig, axes = plt.subplots(2, 4, figsize=(13, 6.5))
positions = [str(t) for t in range(T)]
row_tokens = [["pad" if t == 0 else str(t) for t in row] for row in batch_tokens.numpy().tolist()]
binary = matplotlib.colors.ListedColormap(["#eeeeee", "#2a6fb0"])
viz.heatmap(axes[0, 0], causal.float(), "causal_mask(6)", "key position", "query position",
            positions, positions, cmap=binary, colorbar=False, vmin=0, vmax=1)
axes[1, 0].axis("off")
axes[1, 0].text(0.0, 0.6, "blue = True: may attend\ngrey = False: hidden\n\ntop: padding only\n"
                "bottom: causal AND padding", fontsize=11, va="center")
for b in range(B):
    length = int((batch_tokens[b] != 0).float().sum().item())
    viz.heatmap(axes[0, b + 1], padding_picture[b].float(), f"padding, row {b} (length {length})",
                "key (token)", "query (token)", row_tokens[b], row_tokens[b], cmap=binary, colorbar=False,
                vmin=0, vmax=1)
    viz.heatmap(axes[1, b + 1], both[b, 0].float(), f"causal AND padding, row {b}",
                "key (token)", "query (token)", row_tokens[b], row_tokens[b], cmap=binary, colorbar=False,
                vmin=0, vmax=1)
fig.suptitle("Attention masks as pictures (True = may attend)")
fig.tight_layout()
show(fig, "masks.png")

# %% [markdown]
# What a mask does to the weights: the same random queries and keys, attended without a mask,
# with the causal mask, with the padding mask and with both (batch row 1: four real tokens,
# two pads). Hidden keys get exactly 0 weight and every row still sums to 1. (The pad
# positions still *ask* as queries under the padding mask; their outputs are simply ignored by
# the loss later.)

# %%
q, k, v = tinyattn.randn(B, T, 8), tinyattn.randn(B, T, 8), tinyattn.randn(B, T, 8)     # (B, T, d)
padding_3d = padding[:, 0]                                                              # (B, 1, T)
masked = {
    "no mask": F.scaled_dot_product_attention(q, k, v, return_weights=True)[1],
    "causal": F.scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)[1],
    "padding": F.scaled_dot_product_attention(q, k, v, mask=padding_3d, return_weights=True)[1],
    "causal + padding": F.scaled_dot_product_attention(q, k, v, mask=padding_3d, is_causal=True,
                                                       return_weights=True)[1],
}
allowed = both[:, 0].numpy()                                                            # (B, T, T)
hidden_weight = np.abs(masked["causal + padding"].numpy()[~allowed]).max()
row_sums = masked["causal + padding"].sum(axis=-1).numpy()
check("masked keys get weight 0", hidden_weight, 1e-12)
check("masked rows still sum to 1", np.abs(row_sums - 1).max(), 1e-5)

fig, axes = plt.subplots(2, 2, figsize=(10, 8.5))
for ax, (name, w) in zip(axes.flat, masked.items()):
    viz.attention_map(ax, w[1], name, row_tokens[1], row_tokens[1])
    annotate(ax, w[1].numpy(), fmt="{:.2f}", dark_above=0.5)
fig.suptitle("Weights of batch row 1 (4 tokens + 2 pads): hidden keys get exactly 0")
fig.tight_layout()
show(fig, "masked_weights.png")

# %% [markdown]
# ## 4. Multi-head attention is reshapes around one attention
#
# One attention gives each query one way of choosing. Multi-head attention runs H of them side
# by side, each on its own D = C / H features, so one head can follow the previous token while
# another looks for something else. There is no new machinery, only shapes:
#
# 1. project: q = x W_q^T + b_q, and the same for k and v: (B, T, C)
# 2. split the features into heads: reshape to (B, T, H, D), then permute to (B, H, T, D),
#    so the heads become a batch axis
# 3. attention in every head: (B, H, T, D)
# 4. merge: permute back to (B, T, H, D), reshape to (B, T, C), and mix with out_proj.
#
# We do it by hand with the weights of an `nn.MultiHeadAttention` and compare with its output.

# %%
B, T, C, H = 2, 8, 16, 4
D = C // H
mha = nn.MultiHeadAttention(d_model=C, num_heads=H)
x = tinyattn.randn(B, T, C)                                           # (B, T, C)


def project(linear, x):
    """x W^T + b with a Linear's own weight (out, in) and bias (out,)."""
    return x @ linear.weight.T + linear.bias


q = project(mha.q_proj, x)                                            # (B, T, C)
k = project(mha.k_proj, x)
v = project(mha.v_proj, x)
q_heads = q.reshape(B, T, H, D).permute(0, 2, 1, 3)                   # (B, T, H, D) -> (B, H, T, D)
k_heads = k.reshape(B, T, H, D).permute(0, 2, 1, 3)
v_heads = v.reshape(B, T, H, D).permute(0, 2, 1, 3)
print("x", x.shape, "-> q", q.shape, "-> (B, T, H, D)", q.reshape(B, T, H, D).shape,
      "-> (B, H, T, D)", q_heads.shape)

# head h holds features h*D .. (h+1)*D - 1 of every token: the reshape only relabels them
check("head 2 == features 8..11", np.abs((q_heads[:, 2] - q[..., 2 * D:3 * D]).numpy()).max(), 1e-12)

# %% [markdown]
# Each head attends on its own (a loop here, to make the independence plain; the module runs
# all heads in one batched matmul), then the heads are merged back and mixed. Causal, as in a
# decoder.

# %%
head_outputs, head_weights = [], []
for h in range(H):
    out_h, w_h = F.scaled_dot_product_attention(q_heads[:, h], k_heads[:, h], v_heads[:, h],
                                                is_causal=True, return_weights=True)   # (B, T, D)
    head_outputs.append(out_h)
    head_weights.append(w_h)                                          # (B, T, T)
heads = tinyattn.stack(head_outputs, axis=1)                          # (B, H, T, D)
merged = heads.permute(0, 2, 1, 3).reshape(B, T, C)                   # (B, T, H, D) -> (B, T, C)
by_hand = project(mha.out_proj, merged)                               # (B, T, C)

module_out, module_weights = mha(x, is_causal=True, need_weights=True)
print("module output", module_out.shape, " weights", module_weights.shape, "(B, H, T_q, T_k)")
check("multi-head by hand == nn.MultiHeadAttention", np.abs((by_hand - module_out).numpy()).max(), 1e-5)
check("per-head weights == module weights",
      np.abs((tinyattn.stack(head_weights, axis=1) - module_weights).numpy()).max(), 1e-6)

fig, axes = plt.subplots(1, H, figsize=(3.4 * H + 1, 3.8), layout="constrained")
steps = [str(t) for t in range(T)]
for h, ax in enumerate(axes):
    image = viz.attention_map(ax, module_weights[0, h], f"head {h}", steps, steps, "key position",
                              "query position" if h == 0 else "", colorbar=False)   # x is random: no tokens
fig.suptitle("Causal multi-head attention of batch row 0 (untrained): each head weighs the past differently")
fig.colorbar(image, ax=axes, fraction=0.02, pad=0.02, label="attention weight")
show(fig, "multihead_weights.png")

# %% [markdown]
# ## 5. Where am I? Positional encodings
#
# Attention by itself has no idea of order: shuffle the tokens and each output is shuffled the
# same way. Position has to be put in. *Attention Is All You Need* adds a fixed table to the
# embeddings, PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same): each pair of
# columns is a clock ticking at its own speed, fast on the left, slow on the right.
#
# The dot product of two rows is sum_i cos(w_i (m - n)), which depends only on the **distance**
# m - n: nearby positions look alike, and the similarity is the same all along each diagonal.

# %%
max_len, d_model = (64, 64) if args.quick else (128, 128)
pe = nn.sinusoidal_table(max_len, d_model)                     # (max_len, d_model)
similarity = pe @ pe.T                                         # (max_len, max_len)
similarity_np = similarity.numpy()
offsets = np.arange(max_len // 2)
starts = [0, max_len // 8, max_len // 4, max_len // 2 - 1]
by_distance = np.array([[similarity_np[m, m + o] for o in offsets] for m in starts])   # (starts, offsets)
check("PE similarity depends only on the distance", np.abs(by_distance - by_distance[0]).max(), 1e-9)

fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
viz.heatmap(axes[0], pe, "Sinusoidal positional encoding PE", "dimension", "position", cmap="RdBu_r",
            vmin=-1, vmax=1, colorbar_label="PE[position, dimension]")
viz.heatmap(axes[1], similarity, "Similarity PE @ PE^T", "position n", "position m", cmap="viridis",
            colorbar_label="dot product PE[m] . PE[n]")
for m, row, width in zip(starts, by_distance, (8, 5.5, 3, 1)):       # drawn on top of each other
    axes[2].plot(offsets, row, label=f"from position {m}", linewidth=width)
axes[2].set(title="PE[m] . PE[m + distance]: the same from every m", xlabel="distance (positions)",
            ylabel="dot product")
axes[2].grid(alpha=0.3)
axes[2].legend(fontsize=8)
fig.tight_layout()
show(fig, "positional_encoding.png")

# %% [markdown]
# ### RoPE: the relative position, built into the score
#
# Rotary embeddings (used by Llama and most recent models) do not add anything. They *rotate*
# each pair of query and key features by an angle proportional to the position. Rotating q by
# angle `m*theta` and k by `n*theta` leaves the angle between them changed by `(m - n)*theta` only,
# so the score q_m . k_n depends on the positions **only through m - n**. Check it: put the
# same q at position m and the same k at position n, then shift both by s. With an additive
# encoding instead (q + PE[m]) . (k + PE[n]) the score also depends on where the pair is.

# %%
head_dim, rope_len = 16, 64
rope = nn.RotaryEmbedding(head_dim, max_len=rope_len + 64)
q1, k1 = tinyattn.randn(1, 1, 1, head_dim), tinyattn.randn(1, 1, 1, head_dim)   # (B, H, T=1, D)


def rope_score(m, n):
    """q rotated as at position m, dotted with k rotated as at position n."""
    return (rope(q1, start=m) * rope(k1, start=n)).sum().item()


shifts = [1, 7, 20, 63]
worst = 0.0
print(f"{'m':>3} {'n':>3} {'score(m, n)':>12} " + " ".join(f"{'s=' + str(s):>9}" for s in shifts))
for m, n in [(0, 3), (5, 2), (10, 10), (30, 12)]:
    shifted_scores = [rope_score(m + s, n + s) for s in shifts]
    worst = max(worst, *(abs(x - rope_score(m, n)) for x in shifted_scores))
    print(f"{m:3d} {n:3d} {rope_score(m, n):12.5f} " + " ".join(f"{x:9.5f}" for x in shifted_scores))
check("RoPE: score(m + s, n + s) == score(m, n)", worst, 1e-4)

# all positions at once: one query and one key repeated over rope_len positions
q_all = rope(q1.expand(1, 1, rope_len, head_dim))                     # (1, 1, T, D)
k_all = rope(k1.expand(1, 1, rope_len, head_dim))
rope_scores = (q_all @ k_all.transpose(-2, -1))[0, 0]                 # (T, T): score(m, n)
pe_small = nn.sinusoidal_table(rope_len, head_dim).to(dtype="float32")
additive_scores = (q1[0, 0] + pe_small) @ (k1[0, 0] + pe_small).T     # (T, T)
diagonal_spread = {}
for name, grid in (("RoPE", rope_scores.numpy()), ("additive PE", additive_scores.numpy())):
    diagonal_spread[name] = max(np.ptp(np.diagonal(grid, o)) for o in range(-rope_len + 1, rope_len))
    print(f"{name:12s}: largest spread of the score along a diagonal m - n = const: "
          f"{diagonal_spread[name]:.2e}")
check("RoPE scores constant along every diagonal", diagonal_spread["RoPE"], 1e-4)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
viz.heatmap(axes[0], rope_scores, "RoPE: score(q at m, k at n)", "key position n",
            "query position m", colorbar_label="score")
viz.heatmap(axes[1], additive_scores, "Additive PE: (q + PE[m]) . (k + PE[n])", "key position n",
            "query position m", colorbar_label="score")
fig.suptitle("RoPE's score is constant along each diagonal: it depends only on m - n")
fig.tight_layout()
show(fig, "rope.png")

# %% [markdown]
# ## What to take away
#
# - Attention is four steps: scores Q K^T, scale by 1/sqrt(d_k), softmax over the keys,
#   weighted sum of the values.
# - The scale keeps the scores' variance at 1 whatever the width; without it the softmax turns
#   one-hot and stops passing gradient.
# - Masks are boolean pictures, True = may attend; hidden keys get weight exactly 0.
# - Multi-head attention is a reshape to (B, H, T, D), one batched attention, a reshape back.
# - Sinusoidal encodings make similarity a function of distance; RoPE makes the attention
#   score itself a function of the relative position only.
#
# Tutorial 3 puts all of it together in an encoder-decoder that learns to reverse sequences.

# %%
print("figures written to", args.out)
report({"checks": {"passed": len(checks)}, "scaling": {"unscaled_gradient_smaller_by": float(collapse)},
        "rope": {"shift_difference": float(worst)}},
       [f"All {len(checks)} checks passed: attention by hand agrees with F.scaled_dot_product_attention "
        "and nn.MultiHeadAttention, and masked keys get no weight.",
        f"Without the 1/sqrt(d_k) scale, the softmax passes {collapse:,.0f}x less gradient at "
        f"d_k = {widths[-1]}.",
        f"RoPE: shifting query and key together changes their score by at most {worst:.1e}."])
