# %% [markdown]
# # 10. Reading a number from an image: cross-attention between two modalities
#
# A *modality* is a kind of data: text, images, sound. Each reaches a Transformer in its own
# shape (tokens of a vocabulary, a grid of pixels, a waveform), but a Transformer only ever
# sees one thing: a sequence of d_model-wide vectors. Cut an image into patches and project
# each one (tutorial 9's ViT), and the image is a sequence like a sentence. From then on
# attention does not care where its vectors came from.
#
# Here the input is an image of four handwritten digits side by side, and the output is the
# number it shows, written as four digit tokens. The model is tutorial 3's encoder-decoder with
# the encoder's input changed:
#
# - the **encoder reads pixels**: patches of the strip, each projected to a vector, learned
#   positions, a few self-attention layers (a ViT without the [CLS] vector or the classifier);
# - the **decoder writes tokens**: tutorial 3's decoder layers, causal self-attention over the
#   digits written so far, then a linear layer that scores the next one;
# - **cross-attention links them**: the decoder's queries come from the digits (text), its keys
#   and values from the patches (image).
#
# In tutorial 3 the step that wrote output digit i attended to the input *token* it copied. If
# the same happens across modalities, the step that writes the i-th digit should attend to the
# i-th quarter of the image: a diagonal again, but this time over space. Handwriting recognition
# (TrOCR), speech recognition (Whisper: sound in, text out) and many image-captioning models are
# this same architecture, much larger.
#
# `python tutorials/10_read_digits.py` trains in about a minute on a laptop CPU; `--quick` runs
# a few steps only (what CI runs).

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import Progress, report, show, tutorial_args
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import tinyattn
import tinyattn.functional as F
from tinyattn import nn, optim, viz

args = tutorial_args("A Transformer reads four handwritten digits from an image",
                     default_out="out/10_read_digits")

# %% [markdown]
# ## The data: strips of four digits
#
# scikit-learn's `load_digits` holds 1,797 handwritten digits of 8 x 8 pixels, grey levels 0 to
# 16 (they ship with scikit-learn: nothing is downloaded). We split them as tutorial 9 does, 75% for
# training and 25% held out, in the same proportion of each digit. A *strip* is four images
# side by side, 8 x 32 pixels, and its label is the four digits, left to right. Training strips
# are drawn fresh for every batch from the training images only; the 1,000 test strips from the
# held-out images only, so every digit of the test is an image the model never saw (though
# written by the same 13 people as the training images, as tutorial 9 says). (There
# are 450 held-out images, so each appears about 9 times among the test strips' 4,000 digits.)

# %%
digits = load_digits()
images = (digits.images / 16.0).astype(np.float32)              # (1797, 8, 8), ink from 0 to 1
train_images, test_images, train_labels, test_labels = train_test_split(
    images, digits.target, test_size=0.25, stratify=digits.target, random_state=0)
print(f"{len(train_images)} training images, {len(test_images)} held-out images")

DIGITS = 4                      # digits per strip
START = 10                      # the decoder's first input, "nothing written yet"; 0-9 are digits


def strips(images, labels, count, rng):
    """`count` strips of DIGITS images drawn at random, side by side
    -> pixels (count, 1, 8, 8 * DIGITS) (one channel: grey), numbers (count, DIGITS)."""
    pick = rng.integers(0, len(images), size=(count, DIGITS))
    chosen = images[pick]                                          # (count, DIGITS, 8, 8)
    strip = chosen.transpose(0, 2, 1, 3).reshape(count, 1, 8, 8 * DIGITS)   # rows of each, side by side
    return strip, labels[pick]


rng = np.random.default_rng(args.seed)
test_strips, test_numbers = strips(test_images, test_labels, 1000, np.random.default_rng(10_000))
print("the first test strips read", ", ".join("".join(map(str, n)) for n in test_numbers[:4]))

# %% [markdown]
# ## Pixels to a sequence: patches
#
# `nn.PatchEmbedding` cuts the strip into patches of 4 x 4 pixels: 2 rows of 8, so 16 patches,
# each digit covering 2 x 2 of them. Each patch's 16 pixels are flattened and projected to a
# d_model vector by one Linear layer, the same for every patch. The patches come row by row,
# left to right: patch k is in row k // 8 and column k % 8. A learned position vector per patch
# tells the model where each one was, which flattening the grid would otherwise lose.

# %%
PATCH = (4, 4)
GRID = (8 // PATCH[0], 8 * DIGITS // PATCH[1])                     # (2, 8) patches down, across


def draw_strip(ax, pixels, title=None, grid=False):
    """One strip (8, 32) in ink on paper; with grid=True, the patch boundaries."""
    ax.imshow(pixels, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    if grid:
        for x in np.arange(PATCH[1], 8 * DIGITS, PATCH[1]) - 0.5:
            ax.axvline(x, color="tab:blue", lw=2.5 if (x + 0.5) % 8 == 0 else 0.8)
        for y in np.arange(PATCH[0], 8, PATCH[0]) - 0.5:
            ax.axhline(y, color="tab:blue", lw=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


batch, numbers = strips(train_images, train_labels, 4, np.random.default_rng(3))
fig, axes = plt.subplots(4, 1, figsize=(7, 6.2), layout="constrained")
for ax, pixels, number in zip(axes, batch[:, 0], numbers):
    draw_strip(ax, pixels, "label: " + " ".join(map(str, number)), grid=True)
fig.suptitle(f"Training strips, cut into {GRID[0] * GRID[1]} patches of {PATCH[0]} x {PATCH[1]} pixels "
             "(thick lines: where one digit ends)")
show(fig, "strips.png")

# %% [markdown]
# ## The model
#
# `encode` turns the pixels into a *memory*, one vector per patch: PatchEmbedding, learned
# positions, two pre-norm encoder layers in which every patch attends to every other, a final
# norm. `decode` is tutorial 3's decoder: the digits written so far (START first) are embedded,
# get learned positions, and go through two decoder layers; in each, causal self-attention
# looks at the earlier digits and cross-attention reads the memory. A Linear layer turns each
# position into 10 logits, one per digit. Width 64, 4 heads: about 170 thousand parameters.

# %%
class DigitReader(nn.Module):
    """Strip images (B, 1, 8, 32) and the digits written so far (B, T) -> logits (B, T, 10)
    for the digit after each."""

    def __init__(self, d_model=64, num_heads=4, num_encoder_layers=2, num_decoder_layers=2, d_ff=128):
        super().__init__()
        layer = dict(d_model=d_model, num_heads=num_heads, d_ff=d_ff, dropout=0.0, norm_first=True)
        # the encoder: pixels in
        self.patch_embedding = nn.PatchEmbedding((8, 8 * DIGITS), PATCH, 1, d_model)
        self.patch_positions = nn.LearnedPositionalEmbedding(self.patch_embedding.num_patches, d_model)
        self.encoder_layers = nn.ModuleList(nn.TransformerEncoderLayer(**layer)
                                            for _ in range(num_encoder_layers))
        self.encoder_norm = nn.LayerNorm(d_model)
        # the decoder: tokens out
        self.digit_embedding = nn.Embedding(11, d_model)               # digits 0-9 and START
        self.digit_positions = nn.LearnedPositionalEmbedding(DIGITS, d_model)
        self.decoder_layers = nn.ModuleList(nn.TransformerDecoderLayer(**layer)
                                            for _ in range(num_decoder_layers))
        self.decoder_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 10)

    def encode(self, images):
        """images (B, 1, 8, 32) -> memory (B, N, d_model), one vector per patch."""
        x = self.patch_positions(self.patch_embedding(images))          # (B, N, d_model)
        for layer in self.encoder_layers:
            x = layer(x)                                                # no mask: all see all
        return self.encoder_norm(x)

    def decode(self, written, memory, need_weights=False):
        """written (B, T) digit ids, START first; memory (B, N, d_model) -> logits (B, T, 10);
        with need_weights=True also each layer's cross-attention weights (B, heads, T, N)."""
        x = self.digit_positions(self.digit_embedding(written))         # (B, T, d_model)
        cross_attention = []
        for layer in self.decoder_layers:
            x = layer(x, memory, need_weights=need_weights)             # causal, then reads memory
            if need_weights:
                x, weights = x
                cross_attention.append(weights)
        logits = self.head(self.decoder_norm(x))                         # (B, T, 10)
        return (logits, cross_attention) if need_weights else logits

    def forward(self, images, written):
        return self.decode(written, self.encode(images))


model = DigitReader()
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

# %% [markdown]
# ## Training with teacher forcing
#
# As in tutorial 3, the decoder reads the right answer shifted by one, [START, d1, d2, d3], and
# predicts [d1, d2, d3, d4] at its four positions at once; the causal mask keeps each position
# from seeing the digit it must predict. There is no end token: every number has four digits.
# AdamW (weight decay on the matrices), a short warmup then cosine decay, gradients clipped to
# norm 1, batches of 64 fresh strips.

# %%
def decoder_inputs(numbers):
    """numbers (B, 4) -> what the decoder reads, [START, d1, d2, d3] (B, 4)."""
    return np.concatenate([np.full((len(numbers), 1), START), numbers[:, :-1]], axis=1)


steps, batch_size, lr = (150, 64, 2e-3) if args.quick else (2000, 64, 2e-3)
matrices = [p for p in model.parameters() if p.ndim >= 2]
vectors = [p for p in model.parameters() if p.ndim < 2]
adamw = optim.AdamW([{"params": matrices, "weight_decay": 0.05},
                     {"params": vectors, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))
schedule = optim.WarmupCosine(adamw, warmup_steps=steps // 20, total_steps=steps, min_lr=lr / 20)
history = {"loss": [], "accuracy": []}
progress = Progress(steps, tokens_per_step=batch_size, unit="strip")
for step in range(steps):
    batch, numbers = strips(train_images, train_labels, batch_size, rng)
    logits = model(tinyattn.tensor(batch), tinyattn.tensor(decoder_inputs(numbers)))   # (B, 4, 10)
    loss = F.cross_entropy(logits, tinyattn.tensor(numbers))
    adamw.zero_grad()
    loss.backward()
    optim.clip_grad_norm_(model.parameters(), 1.0)
    adamw.step()
    schedule.step()
    history["loss"].append(loss.item())
    history["accuracy"].append(float((logits.argmax(axis=-1).numpy() == numbers).mean()))
    progress.update(step, loss=history["loss"][-1], acc=history["accuracy"][-1])
train_seconds = progress.elapsed()
print(f"trained {steps} steps in {train_seconds:.0f} s; "
      f"loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3g}")

fig = viz.curves({"training loss": history["loss"]}, "Training loss (cross-entropy per digit)", logy=True)
show(fig, "loss.png")

# %% [markdown]
# ## Reading held-out strips: greedy decoding
#
# At test time the decoder has only what it wrote itself. The encoder runs once per strip;
# then, four times, the decoder reads [START, digits so far], and the most likely digit at its
# last position is appended. (Tutorial 3's `translate` does the same with a key/value cache;
# for four digits, running the decoder over the whole short prefix each step costs nothing.)
# A strip counts as read only if all four digits are right.

# %%
def read(model, images):
    """Greedy decoding of strips (B, 1, 8, 32) -> the digits (B, 4)."""
    model.eval()
    with tinyattn.no_grad():
        memory = model.encode(tinyattn.tensor(images))                 # (B, N, d_model), once
        written = np.full((len(images), 1), START)                     # (B, 1)
        for _ in range(DIGITS):
            logits = model.decode(tinyattn.tensor(written), memory)    # (B, T, 10)
            next_digit = logits[:, -1].argmax(axis=-1).numpy()         # (B,)
            written = np.concatenate([written, next_digit[:, None]], axis=1)
    model.train()
    return written[:, 1:]


predicted = read(model, test_strips)
right = predicted == test_numbers                                     # (1000, 4)
exact, per_digit = float(right.all(axis=1).mean()), float(right.mean())
print(f"exact match: {exact:.1%} of 1,000 held-out strips read entirely right")
print(f"per digit:   {per_digit:.2%} of their {right.size:,} digits "
      f"({per_digit:.4f}^{DIGITS} = {per_digit ** DIGITS:.1%})")
print("by place:   ", "  ".join(f"digit {i + 1} {right[:, i].mean():.1%}" for i in range(DIGITS)))

# %% [markdown]
# A strip needs all four digits right, so a per-digit accuracy p gives about p^4 of strips:
# 99% of digits is 96% of strips, 98% only 92%. The training loss falls towards zero (below
# 1e-5 by the end of the full run) while the test still misses some digits: from 1,347 images
# the model learns those particular hands by heart, and a held-out digit in a hand unlike any
# of them is where it fails. Some of the misread ones are hard for a person too:

# %%
wrong = np.flatnonzero(~right.all(axis=1))[:6]
if len(wrong):
    fig, axes = plt.subplots(3, 2, figsize=(9, 4.3), layout="constrained")
    for ax in axes.flat[len(wrong):]:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        draw_strip(ax, test_strips[i, 0], f"read {' '.join(map(str, predicted[i]))}   "
                                          f"(label {' '.join(map(str, test_numbers[i]))})")
        for place in np.flatnonzero(~right[i]):                       # a red frame round each misread digit
            ax.add_patch(plt.Rectangle((8 * place - 0.4, -0.4), 7.8, 7.8, fill=False, color="tab:red",
                                       lw=2.5))
    fig.suptitle("Held-out strips read wrong (red: the digits misread)")
    show(fig, "mistakes.png")

# %% [markdown]
# ## Where the decoder looks as it writes each digit
#
# Cross-attention gives, for every digit the decoder writes, one weight per patch, summing to
# 1: how much of what it reads comes from each patch's memory vector. Because the decoder's
# self-attention is causal, one pass over [START, d1, d2, d3] with the digits it wrote gives at
# each position the same weights as the greedy step that wrote the next digit. We average
# the 4 heads and put the 16 weights back on the 2 x 8 patch grid. The number printed per layer
# is the share of the weight that falls on the four patches of the digit being written,
# averaged over the 1,000 test strips.

# %%
def cross_attention(model, images, written):
    """Each decoder layer's cross-attention, heads averaged, on the patch grid:
    a list of (B, 4, 2, 8): [strip, digit being written, patch row, patch column]."""
    model.eval()
    with tinyattn.no_grad():
        _, weights = model.decode(tinyattn.tensor(decoder_inputs(written)),
                                  model.encode(tinyattn.tensor(images)), need_weights=True)
    model.train()
    return [w.numpy().mean(axis=1).reshape(len(images), DIGITS, *GRID) for w in weights]


maps = cross_attention(model, test_strips, predicted)
# the share of each step's weight on the patches of the digit it writes (columns 2i, 2i + 1)
per_column = [m.sum(axis=2) for m in maps]                           # (B, 4, 8) each
columns_per_digit = GRID[1] // DIGITS
on_target = [np.mean([c[:, i, i * columns_per_digit:(i + 1) * columns_per_digit].sum(axis=-1)
                      for i in range(DIGITS)]) for c in per_column]
for layer, share in enumerate(on_target):
    print(f"decoder layer {layer + 1}: {share:.0%} of the cross-attention falls on the digit being written")

# %% [markdown]
# Each panel below is one step of decoding: the strip, and in red over it the weights of that
# step (the most-read patch most opaque; the title gives the share on the digit being written).
#
# - **Decoder layer 1** fetches by *position*: the step that writes digit i puts nearly all its
#   weight (99-100% on average over the test strips, in the full runs of three seeds) on the
#   i-th quarter of the strip, spread almost evenly over its four patches. That is tutorial 3's
#   first decoder layer again, which found input position i (copy) or L - 1 - i (reverse); only
#   now the positions are places in an image. The decoder knows which digit it is writing from
#   its own positions, and has learned which patch positions hold that digit.
# - **The last decoder layer** reads less evenly: most of its weight is on the digit being
#   written (91-93%), but on particular patches of it, often the lower half, and differently
#   from strip to strip: it looks by *content* for what tells this digit apart.
#
# One caution in reading these maps: the memory vectors are not raw patches. The encoder's
# self-attention has mixed into each one something of the others, so weight on a patch means
# "reads the vector at that place", which holds mostly, not only, what is drawn there.
#
# With `--quick` the model has trained for a few seconds and the maps are still rough: the full
# run (about a minute) draws the pictures described here.

# %%
def draw_reading(strip_indices, layer, title):
    """One row per strip, one panel per digit written: the strip, and in red over it the
    cross-attention of decoder `layer` (0-based), most opaque on the patch read most."""
    fig, axes = plt.subplots(len(strip_indices), DIGITS, figsize=(13, 1.1 * len(strip_indices) + 0.6),
                             layout="constrained", squeeze=False)
    for row, i in zip(axes, strip_indices):
        for step, ax in enumerate(row):
            weights = np.kron(maps[layer][i, step], np.ones(PATCH))       # (8, 32): patch -> its pixels
            draw_strip(ax, test_strips[i, 0])
            red = np.zeros((*weights.shape, 4))
            red[..., 0] = 0.85
            red[..., 3] = 0.75 * weights / weights.max()
            ax.imshow(red, interpolation="nearest")
            share = weights[:, step * 8:(step + 1) * 8].sum() / weights.sum()
            ax.set_title(f"writes {predicted[i, step]}: {share:.0%} on digit {step + 1}", fontsize=10)
    fig.suptitle(title)
    return fig


show(draw_reading([0, 1, 2], 0, "Cross-attention of decoder layer 1 (mean of 4 heads) as it writes "
                                "each digit"), "cross_attention.png")
show(draw_reading([0, 1, 2], len(maps) - 1, f"Cross-attention of decoder layer {len(maps)} (mean of 4 heads) "
                  "as it writes each digit"), "cross_attention_last_layer.png")

# %% [markdown]
# The same weights for all 1,000 test strips at once: for each digit written (rows), the mean
# weight on each column of patches (summed over the 2 patch rows). Tutorial 3's reverse task drew
# an anti-diagonal, input tokens against output steps; here the input axis is space, and the
# decoder's attention walks from left to right, two patch columns per digit: the same alignment,
# from tokens to pixels.

# %%
fig, axes = plt.subplots(1, len(maps), figsize=(5.2 * len(maps), 3.4), layout="constrained", squeeze=False)
for layer, ax in enumerate(axes[0]):
    mean = per_column[layer].mean(axis=0)                             # (4, 8)
    image = viz.heatmap(ax, mean, f"decoder layer {layer + 1}: {on_target[layer]:.0%} on the digit written",
                        "patch column (left to right)", "digit being written",
                        xticklabels=[str(c) for c in range(GRID[1])],
                        yticklabels=[f"{i + 1}" for i in range(DIGITS)], cmap="Blues", vmin=0, vmax=1,
                        colorbar=False)
    for boundary in np.arange(columns_per_digit, GRID[1], columns_per_digit) - 0.5:
        ax.axvline(boundary, color="grey", lw=0.8, ls=":")
fig.colorbar(image, ax=axes, fraction=0.03, label="mean cross-attention weight")
fig.suptitle("Cross-attention over 1,000 held-out strips: where each digit is read")
show(fig, "alignment.png")

# %% [markdown]
# ## Two modalities, one mechanism
#
# In the architecture, only the encoder's first step differs from tutorial 3: a patch embedding
# (a Linear layer on 16 pixels) where a token embedding (a row looked up in a table) was. From
# there on it is the same code: one `MultiHeadAttention` class computes the patches' self-attention, the
# digits' causal self-attention and the cross-attention between them, and the decoder learns to
# align its output with its input in the same way, whether the input is a sequence of tokens or
# a strip of pixels. (Smaller differences: pre-norm layers and learned positions, as ViT and
# GPT-2 have them, where tutorial 3 follows the paper.)
#
# Things to try: `--seed` (the test strips stay the same, only the model and its training
# strips change); a `PATCH` of (8, 2), 16 thin columns, or (8, 4), two per digit; strips of
# other lengths (`DIGITS`).

# %%
print("figures written to", args.out)
report({"digit_strips": {"exact_match": exact, "digit_accuracy": per_digit, "train_seconds": train_seconds,
                         "loss_first": history["loss"][0], "loss_last": history["loss"][-1]}},
       [f"digit strips: {exact:.1%} of 1,000 held-out strips read exactly right ({per_digit:.2%} of digits) "
        f"after {steps} steps ({train_seconds:.0f} s; loss {history['loss'][0]:.3f} -> "
        f"{history['loss'][-1]:.3g})."])
