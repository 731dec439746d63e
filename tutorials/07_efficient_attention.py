# %% [markdown]
# # 7. Where attention's compute and memory go
#
# Causal self-attention compares every query with every key before it. For a context of T
# tokens that is a T x T matrix of scores per head (and of weights after the softmax), and the
# plain way to compute it keeps both for the backward pass. Everything else in a Transformer
# grows like T; these grow like T^2. At T = 4,096 one such float32 matrix is 64 MB, per head,
# per layer, per sequence of the batch.
#
# Three answers, all in tinyattn, each a keyword of `nn.MultiHeadAttention` and `nn.GPT`:
# - **flash attention** (`attention="flash"`) computes *the same numbers* block by block with an
#   online softmax, and recomputes the blocks in backward instead of saving them: memory linear
#   in T, compute still T^2 (see `tinyattn/attention/flash.py`);
# - **sliding-window attention** (`attention="window", window=W`) changes the model: each token
#   sees only itself and the W - 1 tokens before it, so compute and memory are T * W, linear in T
#   (`tinyattn/attention/window.py`); stacked layers still reach back L(W - 1) tokens;
# - **grouped-query / multi-query attention** (`num_kv_heads=G` / `1`) keeps every query head but
#   fewer key/value heads, which shrinks the key/value cache that *generation* keeps per token.
#
# We measure all three: the cost of one attention forward + backward against T, the size of the
# cache after decoding, and what each variant does to a small GPT's loss.

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from _attention_cost import attention_functions, fit, keep_freed_memory, plot_costs, sweep
from _common import report, show, tutorial_args

import tinyattn
import tinyattn.functional as F
from tinyattn import data, optim
from tinyattn.generate import kv_cache_bytes, pick_next
from tinyattn.nn import GPT


def extra_options(parser):
    parser.add_argument("--text", help="train on this UTF-8 text file (default: the Python stdlib's "
                                       "source; tutorial 5's --download fetches tiny Shakespeare)")
    parser.add_argument("--steps", type=int, help="training steps per variant (default 400; 60 with --quick)")


args = tutorial_args("Where attention's compute and memory go", default_out="out/07_efficient_attention",
                     extra=extra_options)

# %% [markdown]
# ## 1. One forward + backward pass, against the context length
#
# The attention alone, no projections: q, k and v of shape (1, 1, T, 64) (one sequence, one
# head), and a fixed random upstream gradient for the backward pass. For each T we time the
# step (the median of a few) and measure its **peak memory**: Python's `tracemalloc` sees every
# array NumPy allocates, so the highest traced total during the step, minus the total when it
# began, is the most memory the step held at once (q, k and v themselves were allocated
# before, so they are not counted). `benchmarks/attention_cost.py` measures the same way, with
# longer contexts and the machine it ran on.

# %%
if args.quick:
    lengths, window, rounds = [128, 256, 512], 64, 3
else:
    lengths, window, rounds = [256, 512, 1024, 2048, 4096], 256, 3
keep_freed_memory()                  # so a step's time does not depend on which steps ran before it
attentions = attention_functions(window)
standard, flash, windowed = attentions
costs = sweep(attentions, lengths, rounds)

longest = lengths[-1]
peak = {name: row["bytes"][-1] for name, row in costs.items()}
matrix = longest * longest * 4                           # bytes of one T x T float32 matrix
print(f"\nat T = {longest}, one T x T float32 matrix is {matrix / 2**20:.0f} MB; the step's peak holds")
for name in attentions:
    print(f"  {name:<14} {peak[name] / 2**20:8.1f} MB = {peak[name] / matrix:5.2f} such matrices")
ratio = peak[flash] / peak[standard]
print(f"flash needs {ratio:.3f} of standard's peak memory (1/{1 / ratio:.0f}) for the same result")
for name, row in costs.items():
    print(f"time ~ T^{fit(row['lengths'], row['seconds'])[2]:.2f} for {name}")
window_exponent = fit(costs[windowed]["lengths"], costs[windowed]["seconds"])[2]

# %% [markdown]
# Reading the numbers:
# - Standard attention's peak is several T x T matrices at once: the scores, the causal mask,
#   the masked scores, the weights, and in backward the gradients of the weights and of the
#   scores. Double T and it quadruples: slope 2 on the log-log plot.
# - Flash attention's peak is a few (T, 64) arrays (its output, the gradients of q, k and v)
#   and one 128 x 128 tile: slope 1. Its *time* still grows like T^2 (every query meets every
#   earlier key), but it is usually faster than the standard way here too: a tile stays in the
#   CPU's cache, while standard attention streams its T x T matrices through memory several
#   times, and the causal mask lets flash skip the tiles above the diagonal altogether.
# - The window's time and memory grow like T: a query meets at most W keys, however long the
#   text. When T is not much longer than W it does the work of full attention and more (its
#   blocks of W x 2W scores are half masked), so it starts out slower than flash; the curves cross.
# - In quick mode the lengths are too short for the slopes to mean much: there, fixed costs
#   per call (Python, small allocations) are a large part of each step.

# %%
show(plot_costs(costs, "Causal self-attention, one forward + backward: "
                f"q, k, v (1, 1, T, 64), float32, {args.threads} BLAS thread(s)"), "cost.png")

# %% [markdown]
# ## 2. The key/value cache of generation
#
# A model that writes text feeds one new token per step. With a key/value cache each layer
# keeps the keys and values of all the tokens so far, (B, H_kv, T, head_dim) each, so the new
# token attends to them without recomputing them: 2 x layers x B x H_kv x T x head_dim numbers.
# That cache, not the weights, is what fills memory when T or the batch is large. Grouped-query
# attention divides it by num_heads / num_kv_heads; multi-query attention (one key/value head)
# by num_heads. A window keeps only the last W - 1 positions, so its cache stops growing.
#
# Below, an (untrained: only sizes matter here) GPT with 8 heads decodes N tokens greedily, and
# `tinyattn.generate.kv_cache_bytes` reads its cache's size after every token.

# %%
if args.quick:
    kv_shape, decoded, kv_window = dict(d_model=64, num_heads=8, num_layers=2), 64, 16
else:
    kv_shape, decoded, kv_window = dict(d_model=128, num_heads=8, num_layers=4), 512, 64
cache_variants = {"8 kv heads (standard)": dict(num_kv_heads=8),
                  "2 kv heads (grouped-query)": dict(num_kv_heads=2),
                  "1 kv head (multi-query)": dict(num_kv_heads=1),
                  f"8 kv heads, window W={kv_window}": dict(attention="window", window=kv_window)}


@tinyattn.no_grad()
def cache_growth(variant):
    """kv_cache_bytes after each of `decoded` greedy steps, one token at a time (batch 1)."""
    tinyattn.manual_seed(args.seed)
    model = GPT(65, **kv_shape, max_len=decoded, **variant)
    model.eval()
    cache, token, sizes = [], tinyattn.tensor(np.zeros((1, 1), dtype=np.int64)), []
    for _ in range(decoded):
        logits = model(token, cache=cache)                              # (1, 1, vocab)
        token = pick_next(logits[:, -1, :], greedy=True).unsqueeze(1)   # (1, 1)
        sizes.append(kv_cache_bytes(cache))
    return sizes


head_dim = kv_shape["d_model"] // kv_shape["num_heads"]
growth = {}
print(f"GPT {kv_shape}, batch 1, float32, after decoding {decoded} tokens:")
for name, variant in cache_variants.items():
    growth[name] = cache_growth(variant)
    kept = min(decoded, kv_window - 1) if "window" in variant else decoded
    formula = 2 * kv_shape["num_layers"] * variant.get("num_kv_heads", 8) * kept * head_dim * 4
    print(f"  {name:<28} {growth[name][-1] / 1024:8.1f} KB   (2 x {kv_shape['num_layers']} layers x "
          f"{variant.get('num_kv_heads', 8)} heads x {kept} positions x {head_dim} x 4 bytes = "
          f"{formula / 1024:.1f} KB)")
full, grouped, single = (growth[name][-1] for name in list(cache_variants)[:3])
print(f"grouped-query keeps {grouped / full:.3f} of the full cache, multi-query {single / full:.3f}")

# %%
fig, (ax_bar, ax_line) = plt.subplots(1, 2, figsize=(12, 4.6))
names = list(growth)
finals = [growth[name][-1] / 1024 for name in names]
bars = ax_bar.bar(range(len(names)), finals, color=[f"C{i}" for i in range(len(names))])
ax_bar.bar_label(bars, labels=[f"{kb:.0f} KB" for kb in finals])
ax_bar.set_xticks(range(len(names)), labels=[n.replace(" (", "\n(").replace(", ", ",\n") for n in names],
                  fontsize=8)
ax_bar.set(ylabel="KB", title=f"cache after decoding {decoded} tokens")
ax_bar.margins(y=0.1)                                      # room for the labels on the bars
for i, name in enumerate(names):
    ax_line.plot(range(1, decoded + 1), [b / 1024 for b in growth[name]], color=f"C{i}", label=name)
ax_line.set(xlabel="tokens decoded", ylabel="KB", title="cache size while decoding")
ax_line.legend(fontsize=8)
for ax in (ax_bar, ax_line):
    ax.grid(alpha=0.3, axis="y")
fig.suptitle(f"Key/value cache of a GPT with 8 query heads ({kv_shape['num_layers']} layers, "
             f"width {kv_shape['d_model']}, batch 1, float32)")
fig.tight_layout()
show(fig, "kv_cache.png")

# %% [markdown]
# ## 3. What each variant does to the model
#
# The same small character-level GPT, trained with each attention from the same seed on the
# same batches: identical initial weights wherever the shapes agree (fewer key/value heads
# means smaller k and v projections, so those start from other random numbers). The loss at
# the end is measured on the same held-out validation windows for all.
#
# Flash attention is the same function as standard attention, computed in another order, so
# its loss curve must match standard's up to float32 rounding. Rounding differences do not stay
# small in training, though: each update moves the weights by a slightly different amount, and
# the differences compound. So we measure the gap between the two losses in ulps (the step
# from a number to the next one the dtype can represent) and train the pair once more in
# float64 for a while: a gap made by rounding is as many float64 ulps in float64 as float32
# ulps in float32, about 5e8 times smaller, where a different function would leave a gap of
# the same absolute size.
#
# The window (each token sees only the last W characters, in every layer) and fewer key/value
# heads are different, smaller models: they may cost some loss.

# %%
corpus = Path(args.text).name if args.text else "Python stdlib"
text = Path(args.text).read_text(encoding="utf-8", errors="replace") if args.text else \
    data.stdlib_corpus(max_chars=200_000 if args.quick else 1_000_000)
dataset = data.CharDataset(text)
if args.quick:
    config, train_window, steps = dict(d_model=32, num_heads=4, num_layers=2, max_len=32), 8, 60
else:
    config, train_window, steps = dict(d_model=64, num_heads=4, num_layers=2, max_len=128), 16, 400
batch_size, lr, steps = 16, 3e-3, args.steps or steps
context = config["max_len"]
variants = {"standard": {},
            "flash": dict(attention="flash"),
            f"window W={train_window}": dict(attention="window", window=train_window),
            "GQA, 2 kv heads": dict(num_kv_heads=2),
            "MQA, 1 kv head": dict(num_kv_heads=1)}
val_windows = dataset.batch("val", 64, context, np.random.default_rng(args.seed + 1))   # the same for all
print(f"corpus: {corpus}, {len(text):,} characters, vocabulary {dataset.vocab_size}; GPT {config}, "
      f"batch {batch_size}, {steps} steps, AdamW lr {lr}")


def train(variant, dtype="float32", num_steps=steps):
    """Train a fresh GPT with these attention keywords; returns (losses per step, validation
    loss, seconds per step)."""
    tinyattn.manual_seed(args.seed)
    model = GPT(dataset.vocab_size, **config, **variant, dtype=dtype)
    adamw = optim.AdamW(model.parameters(), lr=lr)
    rng = np.random.default_rng(args.seed)               # the same batches for every variant
    losses, start = [], time.perf_counter()
    for _ in range(num_steps):
        x, y = dataset.batch("train", batch_size, context, rng)
        loss = F.cross_entropy(model(tinyattn.tensor(x)), tinyattn.tensor(y))
        adamw.zero_grad()
        loss.backward()
        adamw.step()
        losses.append(loss.item())
    seconds = (time.perf_counter() - start) / num_steps
    model.eval()
    with tinyattn.no_grad():
        x, y = val_windows
        val_loss = F.cross_entropy(model(tinyattn.tensor(x)), tinyattn.tensor(y)).item()
    return losses, val_loss, seconds


results = {}
for name, variant in variants.items():
    results[name] = train(variant)
    print(f"  trained {name} ({results[name][2] * steps:.0f} s)", flush=True)
steps64 = min(steps, 100)
in_float64 = {name: train(variants[name], "float64", steps64)[0] for name in ("standard", "flash")}
print(f"  trained standard and flash in float64 for {steps64} steps", flush=True)


def ulps_apart(losses, reference, dtype):
    """|losses - reference| per step, in ulps of the reference loss in this dtype."""
    reference = np.array(reference, dtype=dtype)
    return np.abs(np.array(losses, dtype=dtype) - reference) / np.spacing(reference)


gap32 = ulps_apart(results["flash"][0], results["standard"][0], np.float32)
gap64 = ulps_apart(in_float64["flash"], in_float64["standard"], np.float64)
print(f"\n{'attention':<18} {'first loss':>10} {'last loss':>10} {'validation':>10} {'vs standard':>12} "
      f"{'ms/step':>8}")
for name, (losses, val_loss, seconds) in results.items():
    print(f"{name:<18} {losses[0]:10.4f} {losses[-1]:10.4f} {val_loss:10.4f} "
          f"{val_loss - results['standard'][1]:+12.4f} {seconds * 1e3:8.0f}")
absolute32 = np.abs(np.subtract(results["flash"][0], results["standard"][0]))[:steps64].max()
absolute64 = np.abs(np.subtract(in_float64["flash"], in_float64["standard"])).max()
print(f"flash against standard, training loss: {gap32[0]:.0f} ulp apart at the first step (same weights); "
      f"over the first {steps64} steps at most {gap32[:steps64].max():.0f} float32 ulps ({absolute32:.1e}) "
      f"in float32 and {gap64.max():.0f} float64 ulps ({absolute64:.1e}) in float64; over all {steps} steps "
      f"at most {gap32.max():.0f} float32 ulps")

# %% [markdown]
# Reading the table and the plot (the full mode on tiny Shakespeare: `--text` the file that
# tutorial 5's `--download` fetches):
# - Flash starts exactly where standard starts. Over the first 100 steps the two losses stay
#   within about 20 ulps in float32 (a few 1e-6) and within a few ulps in float64 (a few
#   1e-15): the gap shrinks with the precision, so it is rounding, not a different function.
#   Later the float32 gap grows to a few 1e-3, training amplifying the differences step after
#   step, and the validation losses end within about 1e-3 of each other.
# - Two key/value heads instead of four cost nothing measurable here; one (multi-query) cost
#   about 0.07 nats.
# - The window of 16 characters did *better* in this short run: a character's likeliest
#   successor depends mostly on the few before it, and a model that can only look there learns
#   that sooner. What a window gives up is everything further back than layers x (W - 1)
#   characters, which this small model, trained for 400 steps, had not yet learned to use.
# - No variant makes this small model much faster per step: at a context of 128 (32 in quick
#   mode) attention is a small part of the work, flash pays Python overhead for each tile, and
#   the standard GPT takes a fused path (one node for the whole attention) that the grouped
#   variants do not. The savings of section 1 come at long contexts, those of section 2 when
#   generating.

# %%
fig, (ax_loss, ax_diff) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw=dict(width_ratios=[3, 2.3]))
smooth = max(1, steps // 20)
kernel = np.ones(smooth) / smooth
for i, (name, (losses, val_loss, _)) in enumerate(results.items()):
    style = dict(linestyle="--", linewidth=2.5) if name == "flash" else dict(linewidth=1.5)
    ax_loss.plot(np.arange(smooth, steps + 1), np.convolve(losses, kernel, mode="valid"), color=f"C{i}",
                 label=f"{name}: validation {val_loss:.3f}", **style)
ax_loss.set(xlabel="training step", ylabel="training loss (nats per character)",
            title=f"training loss, mean of the last {smooth} steps")
ax_loss.legend(fontsize=8)
ax_diff.plot(np.arange(1, steps + 1), gap32, ".", markersize=4, color="C1", label="float32, in float32 ulps")
ax_diff.plot(np.arange(1, steps64 + 1), gap64, "x", markersize=4, color="black",
             label="float64 run, in float64 ulps (each 5e8 times smaller)")
ax_diff.set_yscale("symlog", linthresh=10)                 # 0, 1, 2 ... ulps linear, then logarithmic
top = max(20, 2 * gap32.max())
ulp_ticks = [t for t in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if t <= top]
ax_diff.set_ylim(-0.5, top)
ax_diff.set_yticks(ulp_ticks, labels=[str(t) for t in ulp_ticks])    # whole ulps, each one labelled
ax_diff.minorticks_off()
ax_diff.set(xlabel="training step", ylabel="|flash loss - standard loss| in ulps of the loss",
            title="flash vs standard: a few ulps apart in float32 and\n"
                  "in float64, so rounding (which training amplifies)")
ax_diff.legend(fontsize=8)
for ax in (ax_loss, ax_diff):
    ax.grid(alpha=0.3)
fig.suptitle(f"Character GPT on {corpus} ({config['num_layers']} layers, {config['num_heads']} heads, "
             f"width {config['d_model']}, context {context}), same seed and batches")
fig.tight_layout()
show(fig, "loss.png")
print("figures written to", args.out)
numbers = {name: {"val_loss": val_loss, "loss_first": losses[0], "loss_last": losses[-1]}
           for name, (losses, val_loss, _) in results.items()}
numbers["cost"] = {"flash_over_standard_peak_memory": ratio, "window_time_exponent": window_exponent}
numbers["kv_cache"] = {"grouped_over_full": grouped / full, "multi_query_over_full": single / full}
numbers["flash_vs_standard"] = {"loss_gap_float32": float(absolute32), "loss_gap_float64": float(absolute64)}
report(numbers,
       [f"At T = {longest}, flash attention needs {ratio:.3f} of standard attention's peak memory, and the "
        f"window's time grows like T^{window_exponent:.2f}.",
        f"After {decoded} decoded tokens the key/value cache is {grouped / full:.2f} of its full size "
        f"with 2 key/value heads, {single / full:.2f} with 1.",
        *(f"{name}: validation loss {val_loss:.3f} after {steps} steps (training loss {losses[0]:.3f} -> "
          f"{losses[-1]:.3f})." for name, (losses, val_loss, _) in results.items())])
