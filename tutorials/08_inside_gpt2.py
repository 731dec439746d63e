# %% [markdown]
# # 8. Inside a pretrained GPT-2: induction heads
#
# Tutorials 4 and 5 trained GPTs from scratch. This one opens a GPT someone else trained:
# OpenAI's GPT-2 small (124 million parameters, 12 layers of 12 heads), whose weights load
# straight into tinyattn's `nn.GPT`, since it has GPT-2's layout. We let it write, look at
# where its heads attend, and go looking for one circuit that interpretability research has
# found in every language model it has studied: the **induction head** (Olsson et al. 2022,
# *In-context learning and induction heads*). It lets a model continue a pattern it has seen
# only once, earlier in its context: after "... Mr Dursley ... Mr", predict "Dursley".
#
# Then we make one ourselves: a two-layer, attention-only GPT trained on random tokens that
# repeat learns induction heads in a few hundred steps, with a sudden drop of the loss (a
# *phase change*) as they form. Saved in GPT-2's file format, it loads back, in tinyattn or in transformers.
#
# **Where GPT-2 comes from.** `--model gpt2` (the default) is a name on the Hugging Face hub.
# With `pip install huggingface_hub`, tinyattn fetches its files once (about 550 MB) into
# huggingface_hub's cache, and reads them from there afterwards, offline too. `--model DIR`
# reads a directory holding `config.json`, `model.safetensors`, `vocab.json` and `merges.txt`
# (what `transformers`' `save_pretrained` writes for the model and the tokenizer); `--model
# none` skips GPT-2. The
# tutorials' extra does not install huggingface_hub: without it, or offline with nothing
# cached, the run says so in one sentence and goes on to the second part, which needs no
# download. `python tutorials/08_inside_gpt2.py` takes about a minute on one core without
# GPT-2 (`--quick`: 15 seconds), and a little longer with it.

# %%
import json
import time
from pathlib import Path

import numpy as np
from _common import Progress, report, show, tutorial_args

import tinyattn
import tinyattn.functional as F
from tinyattn import optim, viz
from tinyattn.generate import generate
from tinyattn.hub import cached_directory
from tinyattn.nn import GPT
from tinyattn.tokenizers import BPETokenizer

args = tutorial_args(
    "Inside a pretrained GPT-2: induction heads, found and grown",
    default_out="out/08_inside_gpt2",
    extra=lambda p: p.add_argument(
        "--model", default="gpt2",
        help="a Hugging Face hub name (needs huggingface_hub), a directory with config.json, "
             "model.safetensors, vocab.json and merges.txt, or none (skip part 1)"))
rng = np.random.default_rng(args.seed)

# %% [markdown]
# ## Finding the weights, without waiting for a network that is not there
#
# `GPT.from_pretrained("gpt2")` asks huggingface_hub for each file, and huggingface_hub first
# asks the hub for the file's latest version. With no network that question is retried five
# times, with pauses, before it fails: about 25 seconds a file here, and longer where
# connections time out instead of failing at once. So the tutorial looks in this order:
#
# 1. a directory, if `--model` is one: read as it is;
# 2. huggingface_hub's cache (`tinyattn.hub.cached_directory`, which never touches the network): if
#    all four files are there, they are read from there;
# 3. otherwise one question to the hub, with no retries and a 5-second timeout
#    (`get_hf_file_metadata`; with `HF_HUB_OFFLINE=1` it fails at once): if the hub answers,
#    `from_pretrained` downloads the files (once: the cache keeps them); if not, GPT-2 is
#    skipped.

# %%
GPT2_FILES = ("config.json", "model.safetensors", "vocab.json", "merges.txt")


def find_gpt2(name):
    """Where to load GPT-2 from: (a directory or a hub name, None), or (None, why it cannot be had)."""
    if name == "none":
        return None, "--model none asked to skip it"
    path = Path(name)
    if path.is_dir():
        missing = [f for f in GPT2_FILES if not (path / f).is_file()]
        return (None, f"{name} has no {', '.join(missing)}") if missing else (str(path), None)
    if path.is_absolute() or name.startswith(".") or path.exists():
        return None, f"there is no directory {name}"
    try:
        import huggingface_hub
    except ImportError:
        return None, "huggingface_hub is not installed (`pip install huggingface_hub` enables it)"
    try:
        cached = cached_directory(name, GPT2_FILES)
    except ValueError:                                         # huggingface_hub's HFValidationError
        return None, f"{name!r} is neither a directory nor a hub repository name"
    if cached is not None:
        return str(cached), None                               # all in the cache: no network at all
    try:                                                       # one question, 5 s at most, no retries
        huggingface_hub.get_hf_file_metadata(huggingface_hub.hf_hub_url(name, "config.json"), timeout=5)
    except Exception as error:                                 # whatever it was, the hub cannot serve us
        return None, (f"{name} is not in huggingface_hub's cache and the hub did not answer "
                      f"({type(error).__name__})")
    return name, None                                          # from_pretrained will download it


def load_gpt2(name):
    """(model, tokenizer), or (None, None) after one sentence saying why."""
    source, why_not = find_gpt2(name)
    if source is not None:
        try:
            if source == name and not Path(name).is_dir():
                print(f"downloading {name} from the Hugging Face hub (once; then it is cached)")
            return GPT.from_pretrained(source), BPETokenizer.from_pretrained(source)
        except OSError as error:                               # the network went away mid-way
            why_not = f"loading {name} failed ({type(error).__name__})"
    print(f"No GPT-2 here: {why_not}; so part 1 is skipped, and part 2 grows induction heads from scratch.")
    return None, None


gpt2, tokenizer = load_gpt2(args.model)

# %% [markdown]
# ## Part 1: GPT-2 writes
#
# The tokenizer is GPT-2's byte-level BPE (`tinyattn.tokenizers.BPETokenizer`, reading GPT-2's
# `vocab.json` and `merges.txt`): 50,257 tokens, many of them whole words with their leading
# space. `generate(..., greedy=True)` appends the most likely
# next token, one at a time; with the key/value cache (`use_cache=True`, the default) each new
# token costs a pass over one position, not over the whole text. Greedy decoding is known to
# loop: GPT-2 small soon repeats itself. Once it has written a phrase, the heads we find below
# make the phrase likely again, one reason for the loops.

# %%
results = {}
if gpt2 is not None:
    attention = gpt2.blocks[0].self_attn
    print(f"{args.model}: {len(gpt2.blocks)} layers of {attention.num_heads} heads, width "
          f"{attention.d_model}, {gpt2.num_parameters():,} parameters, vocabulary "
          f"{gpt2.token_embedding.weight.shape[0]}, context {gpt2.max_len}")
    prompt = "Alan Turing theorized that computers would one day become"
    prompt_ids = tokenizer.encode(prompt)[:gpt2.max_len // 2]
    new_tokens = 8 if args.quick else 40
    start = time.perf_counter()
    with tinyattn.no_grad():
        out = generate(gpt2, tinyattn.tensor([prompt_ids]), new_tokens, greedy=True, use_cache=True)
    seconds = time.perf_counter() - start
    print(f"{new_tokens} tokens in {seconds:.2f} s, {new_tokens / seconds:.1f} tokens/s (greedy, "
          f"key/value cache, {args.threads} BLAS thread(s), the prompt's pass included):")
    print("   ", repr(tokenizer.decode(out[0].numpy().tolist())))
    results["gpt2"] = {"tokens_per_second": new_tokens / seconds}

# %% [markdown]
# ## What an induction head is
#
# Suppose the text so far is `... A B ... A` and the model must guess what follows the second
# `A`. A good guess is `B`: what followed `A` last time. Two heads, in two layers, do it:
#
# 1. a **previous-token head** (an earlier layer): every position attends to the one before
#    it and copies that token's identity into its own residual stream. Now the position of `B`
#    carries a note, "the token before me was `A`";
# 2. an **induction head** (a later layer): the position of the second `A` attends to the
#    position whose note matches its own token, the note "the token before me was `A`": the
#    position of `B`. It copies `B` into the prediction.
#
# The induction head's *keys* are built from what the previous-token head wrote: the two heads
# compose through the key side, **K-composition**, and neither does anything useful alone,
# which is why a model learns them together, suddenly. One layer cannot do this: a head in
# the first layer sees each position's own token and place, not what came before it.
#
# **How to find one.** Feed random tokens `x1 ... xL` twice: `x1 ... xL x1 ... xL`. In the
# second copy, token `xi` at position t occurred before at t - L, and what followed it sits at
# t - L + 1. The *induction score* of a head is its mean attention weight from each position
# t of the second copy to position t - L + 1. Random tokens mean nothing, so no other habit
# explains a high score. A head attending evenly would score about 1/t, a few percent here;
# an induction head scores near 1. The *previous-token score* is the mean weight on position
# t - 1. `GPT.forward(idx, need_weights=True)` returns every block's weights (B, H, T, T)
# beside the logits.

# %%
def head_scores(model, prefix, tokens):
    """Run [prefix, tokens, tokens] for tokens (B, L) and measure each head (layers, heads):
    the induction score (weight from each position t of the second copy to t - L + 1), the
    previous-token score (weight from t to t - 1), the duplicate-token score (from t of the
    second copy to t - L, the same token), the loss at each position (T - 1,), averaged over
    the batch, and the weights themselves (a list of (B, H, T, T), one per layer)."""
    batch, length = tokens.shape
    sequences = np.concatenate([np.tile(prefix, (batch, 1)), tokens, tokens], axis=1).astype(np.int64)
    model.eval()
    with tinyattn.no_grad():
        logits, weights = model(tinyattn.tensor(sequences), need_weights=True)
    weights = [w.numpy() for w in weights]                                 # (B, H, T, T) per layer
    p = len(prefix)
    second = np.arange(p + length, p + 2 * length)                        # the second copy
    later = np.arange(p + 1, p + 2 * length)
    induction = np.stack([w[:, :, second, second - length + 1].mean(axis=(0, 2)) for w in weights])
    previous = np.stack([w[:, :, later, later - 1].mean(axis=(0, 2)) for w in weights])
    duplicate = np.stack([w[:, :, second, second - length].mean(axis=(0, 2)) for w in weights])
    loss = F.cross_entropy(logits[:, :-1], tinyattn.tensor(sequences[:, 1:]), reduction="none")
    return dict(induction=induction, previous=previous, duplicate=duplicate, loss=loss.numpy().mean(axis=0),
                weights=weights, sequences=sequences, uniform=float(np.mean(1.0 / (second + 1))),
                prefix=p, length=length)


def repeat_losses(scores):
    """Mean loss predicting the first copy's tokens (after its first) and the second copy's."""
    p, length, loss = scores["prefix"], scores["length"], scores["loss"]
    return loss[p:p + length - 1].mean(), loss[p + length:p + 2 * length - 1].mean()


def best(matrix):
    """(layer, head) of the largest entry of a (layers, heads) score matrix."""
    return np.unravel_index(np.argmax(matrix), matrix.shape)


# %%
import matplotlib.pyplot as plt  # noqa: E402


def plot_head_scores(scores, title):
    """The two scores of every head as layer x head pictures, the values written in."""
    layers, heads = scores["induction"].shape
    fig, axes = plt.subplots(1, 2, figsize=(2 * max(4.0, 0.5 * heads + 1.5), max(2.6, 0.45 * layers + 1.4)),
                             layout="constrained")
    for ax, kind, name in zip(axes, ("previous", "induction"), ("previous-token score", "induction score")):
        matrix = scores[kind]
        viz.heatmap(ax, matrix, name, "head", "layer", [str(h) for h in range(heads)],
                    [str(layer) for layer in range(layers)], cmap="magma", vmin=0.0, vmax=1.0,
                    colorbar_label="mean attention weight")
        if layers * heads <= 64:
            for (layer, head), value in np.ndenumerate(matrix):
                ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if value > 0.6 else "white")
    fig.suptitle(title)
    return fig


def plot_heads(panels, title, labels=None):
    """Attention maps side by side: panels is a list of (weights (T, T), caption)."""
    side = 4.2 if labels is None else max(4.2, 0.16 * len(labels))
    fig, axes = plt.subplots(1, len(panels), figsize=(side * len(panels) + 1, side), layout="constrained",
                             squeeze=False)
    for ax, (weights, caption) in zip(axes[0], panels):
        image = viz.attention_map(ax, weights, caption, labels, labels, colorbar=False)
        ax.tick_params(axis="x", labelrotation=90)                   # words need their own column
    fig.colorbar(image, ax=axes, fraction=0.02, pad=0.02, label="attention weight")
    fig.suptitle(title)
    return fig


# %% [markdown]
# ## Induction heads in GPT-2
#
# GPT-2 reads L random tokens twice, after its `<|endoftext|>` token. It was trained on text
# that follows one, and many of its heads rest their attention on the first position when
# nothing else applies; starting with that token, as interpretability work does, keeps the
# first random token from playing that part. Heads are named `L5H5` (layer 5, head 5, both counted from
# 0, as in the interpretability papers). Wang et al. (2022, *Interpretability in the wild*)
# name L5H5 and L6H9 among GPT-2 small's induction heads and L2H2 and L4H11 among its
# previous-token heads: compare with the picture. The loss tells the same story from the
# outside: the first copy is random tokens, which no model can predict (guessing evenly costs
# ln 50257 = 10.8 nats a token), while the second copy is predictable from the first, and
# GPT-2's loss there is far lower.

# %%
if gpt2 is not None:
    vocab = gpt2.token_embedding.weight.shape[0]
    ordinary = np.setdiff1d(np.arange(min(vocab, len(tokenizer))), list(tokenizer.special.values()))
    bos = [tokenizer.special["<|endoftext|>"]] if "<|endoftext|>" in tokenizer.special else []
    length = min(20 if args.quick else 50, (gpt2.max_len - len(bos)) // 2)
    random_tokens = rng.choice(ordinary, size=(2 if args.quick else 4, length))
    gpt2_scores = head_scores(gpt2, np.array(bos, dtype=np.int64), random_tokens)
    first_loss, second_loss = repeat_losses(gpt2_scores)
    layer, head = best(gpt2_scores["induction"])
    print(f"loss on the first copy {first_loss:.2f} nats, on the second {second_loss:.2f}")
    print(f"strongest induction head: L{layer}H{head}, score {gpt2_scores['induction'][layer, head]:.3f} "
          f"(attending evenly would give {gpt2_scores['uniform']:.3f})")
    print("heads scoring above 0.4:", ", ".join(f"L{i}H{j} {s:.2f}" for (i, j), s in
                                               np.ndenumerate(gpt2_scores["induction"]) if s > 0.4) or "none")
    results["gpt2"].update(best_head_score=float(gpt2_scores["induction"][layer, head]),
                           repeat_loss=float(second_loss), first_copy_loss=float(first_loss))
    title = f"{args.model}: every head's score on {length} random tokens, repeated"
    show(plot_head_scores(gpt2_scores, title), "gpt2_head_scores.png")
    shown = gpt2_scores["weights"][layer][0, head]
    title = f"{args.model}'s strongest induction head on [<|endoftext|>, x1..x{length}, x1..x{length}]"
    show(plot_heads([(shown, f"L{layer}H{head}: the off-diagonal stripe is t -> t - {length} + 1")], title),
         "gpt2_induction_head.png")

# %% [markdown]
# ## The same heads on real text
#
# A text whose second half repeats its start, and the two heads found above (the strongest of
# each kind). The previous-token head draws the line just below the diagonal. The induction
# head has little to do in the first half, and heads with nothing to do mostly rest on the
# first token; in the repeat, each token looks at the token that followed its earlier
# occurrence: a line parallel to the diagonal. The third map is the head of layer 0 that
# attends most to earlier copies of its own token (a *duplicate-token head*), for contrast:
# layer 0 sees each position's own token only, so it can find the same token again, but not
# what followed it.

# %%
if gpt2 is not None:
    text = ("Alice was beginning to get very tired of sitting by her sister on the bank. "
            "Alice was beginning to get very tired of sitting by her sister")
    ids = (bos + tokenizer.encode(text))[:min(gpt2.max_len, 64)]    # 64 labels at most fit a figure
    labels = [tokenizer.decode([i]) for i in ids]
    gpt2.eval()
    with tinyattn.no_grad():
        _, text_weights = gpt2(tinyattn.tensor([ids]), need_weights=True)
    p_layer, p_head = best(gpt2_scores["previous"])
    zero_head = int(np.argmax(gpt2_scores["duplicate"][0]))
    panels = [(text_weights[p_layer].numpy()[0, p_head], f"L{p_layer}H{p_head}: previous-token head"),
              (text_weights[layer].numpy()[0, head], f"L{layer}H{head}: induction head"),
              (text_weights[0].numpy()[0, zero_head], f"L0H{zero_head}: duplicate-token head")]
    show(plot_heads(panels, f"{args.model} reading a text that repeats itself", labels),
         "gpt2_heads_on_text.png")

# %% [markdown]
# ## Part 2: growing induction heads
#
# Olsson et al. found induction heads in the smallest models that can hold them: two layers of
# attention, nothing else. We build one from tinyattn's GPT, which has GPT-2's layout and
# so a feed-forward layer (an MLP) in every block. To make it **attention-only** without
# changing the class, every feed-forward weight and bias is set to zero and frozen
# (`requires_grad_(False)`, and not given to the optimiser): a zero MLP adds exactly 0 to the
# residual stream, so each block is `x + attention(norm(x))` and nothing more. The layer norms
# stay. Because it is still a GPT-2 in form, GPT-2's file format can hold it, which part 3 uses.
#
# **The task.** Each training sequence is random tokens, with one random segment of L tokens
# (L from 8 to 20, a new L and a new place for every sequence) written twice in a row. Only
# the second copy can be predicted, so only its tokens are scored (the others get the target
# `IGNORE`, as tutorial 4 ignored its prompts). The length and the place vary so that no
# fixed offset ("look L - 1 positions back") can solve it: the model has to find the earlier
# occurrence by what the tokens are. That is the job of an induction head.

# %%
VOCAB, LENGTHS, CONTEXT = 64, (8, 20), 40
IGNORE = -100


def repeated_batch(batch_size, rng):
    """inputs and targets (B, CONTEXT): random tokens with a segment written twice, and the
    targets scored only inside the second copy (after its first token)."""
    tokens = rng.integers(0, VOCAB, (batch_size, CONTEXT + 1))
    targets = np.full((batch_size, CONTEXT), IGNORE)
    for row, length in enumerate(rng.integers(LENGTHS[0], LENGTHS[1] + 1, batch_size)):
        start = rng.integers(0, CONTEXT + 2 - 2 * length)
        tokens[row, start + length:start + 2 * length] = tokens[row, start:start + length]
        second = slice(start + length, start + 2 * length - 1)         # predicting the copy's tokens 2..L
        targets[row, second] = tokens[row, second.start + 1:second.stop + 1]
    return tokens[:, :-1], targets


def attention_only_gpt():
    model = GPT(VOCAB, d_model=64, num_heads=4, num_layers=2, max_len=CONTEXT, d_ff=64, tie_weights=False)
    for block in model.blocks:
        for p in block.feed_forward.parameters():
            p.data = p.data * 0.0                                      # a zero MLP adds exactly 0
        block.feed_forward.requires_grad_(False)
    return model


inputs, targets = repeated_batch(1, np.random.default_rng(1))
print("a training sequence:", " ".join(f"{t:2d}" for t in inputs[0]))
print("its scored targets: ", " ".join(" ." if t == IGNORE else f"{t:2d}" for t in targets[0]))

# %% [markdown]
# ## Training, and watching the heads form
#
# AdamW (no weight decay) at a constant 1e-3, batches of 64. Every few steps the heads are
# measured on sequences of 16 random tokens written twice, as GPT-2's were: the best
# previous-token score in layer 0 and the best induction score in layer 1.
#
# For a while the loss falls slowly: neither head is useful without the other, so the
# gradient toward each is weak. Then they appear together and the loss falls off a cliff,
# within a hundred steps or so: the phase change Olsson et al. saw in real models, there as a
# bump in the training loss at the moment in-context learning switched on. (Scoring only the
# predictable tokens is what makes this quick: trained on every position, the same model had
# formed no induction head after 700 steps in our runs.)

# %%
steps, eval_every = (150, 25) if args.quick else (800, 25)
model = attention_only_gpt()
trained = [p for p in model.parameters() if p.requires_grad]
adamw = optim.AdamW(trained, lr=1e-3, weight_decay=0.0)
probe = np.random.default_rng(12345).integers(0, VOCAB, (64, 16))      # fixed: the same every time
before = head_scores(model, np.zeros(0, dtype=np.int64), probe)
history = {"loss": [], "steps": [], "induction": [], "previous": [], "repeat_loss": []}
progress = Progress(steps, tokens_per_step=64 * CONTEXT)
model.train()
for step in range(steps):
    inputs, targets = repeated_batch(64, rng)
    loss = F.cross_entropy(model(tinyattn.tensor(inputs)), tinyattn.tensor(targets))
    adamw.zero_grad()
    loss.backward()
    adamw.step()
    history["loss"].append(loss.item())
    if (step + 1) % eval_every == 0 or step == 0:
        scores = head_scores(model, np.zeros(0, dtype=np.int64), probe)
        history["steps"].append(step + 1)
        history["induction"].append(float(scores["induction"][1].max()))
        history["previous"].append(float(scores["previous"][0].max()))
        history["repeat_loss"].append(float(repeat_losses(scores)[1]))
        model.train()
    progress.update(step, loss=history["loss"][-1])
train_seconds = progress.elapsed()
after = head_scores(model, np.zeros(0, dtype=np.int64), probe)
first_loss, second_loss = repeat_losses(after)
print(f"trained {steps} steps in {train_seconds:.0f} s; on the probe sequences the loss is {first_loss:.2f} "
      f"nats on the first copy (ln {VOCAB} = {np.log(VOCAB):.2f}) and {second_loss:.3f} on the second")
print("feed-forward weights still all zero:",
      all(np.all(p.numpy() == 0) for block in model.blocks for p in block.feed_forward.parameters()))

# %%
fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True, layout="constrained")
top.plot(range(1, steps + 1), history["loss"], lw=0.6, alpha=0.5, label="training batch")
top.plot(history["steps"], history["repeat_loss"], "o-", ms=3, label="probe sequences")
top.axhline(np.log(VOCAB), color="grey", ls=":", label=f"guessing: ln {VOCAB}")
top.set(ylabel="loss on the second copy (nats)", title="An attention-only GPT learns to repeat")
top.legend()
bottom.plot(history["steps"], history["previous"], "o-", ms=3, label="best previous-token score, layer 0")
bottom.plot(history["steps"], history["induction"], "o-", ms=3, label="best induction score, layer 1")
bottom.axhline(after["uniform"], color="grey", ls=":", label="attending evenly")
bottom.set(xlabel="step", ylabel="mean attention weight", ylim=(0, 1))
bottom.legend()
show(fig, "toy_phase_change.png")

# %% [markdown]
# ## In-context learning, position by position
#
# The loss at every position of the probe sequences, before and after training. From the
# second token of the second copy on, the trained model predicts each token from its context
# alone, tokens it has never seen in that order: that is in-context learning, and here it is
# all induction. The first copy is random, and nothing can predict it: guessing evenly costs
# ln 64 = 4.16 nats a token, as before training. After training the loss there is *higher*:
# those positions were never scored, so nothing taught the model to be unsure there, and it
# guesses confidently and wrongly. A language model scored on every position (GPT-2) learns to
# be unsure where it cannot know.

# %%
fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
positions = np.arange(1, len(after["loss"]) + 1)            # loss[j] is the loss predicting token j + 1
ax.plot(positions, before["loss"], "o-", ms=3, label="before training")
ax.plot(positions, after["loss"], "o-", ms=3, label="after training")
ax.axvline(15.5, color="grey", ls="--")                     # tokens 0-15, then 16-31
ax.axhline(np.log(VOCAB), color="grey", ls=":", label=f"ln {VOCAB}")
ax.text(8, 0.96, "first copy", ha="center", va="top", transform=ax.get_xaxis_transform())
ax.text(23.5, 0.96, "second copy", ha="center", va="top", transform=ax.get_xaxis_transform())
ax.set_ylim(0, 1.15 * max(after["loss"].max(), before["loss"].max()))   # room for the labels
ax.set(xlabel="position of the predicted token (from 0)", ylabel="loss (nats)",
       title="Loss at each position of 16 random tokens written twice")
ax.legend(loc="center left")
show(fig, "toy_loss_by_position.png")

# %% [markdown]
# ## The two heads
#
# Every head's two scores, then the attention of the strongest of each kind on one probe
# sequence (the tokens on the axes). In layer 0 a head looks at the position just before each
# token: the line under the diagonal. In layer 1, in the second copy, a head looks at the token
# right after the earlier occurrence of its own token: the stripe L - 1 = 15 positions left of
# the diagonal. How many heads do each job, and which, changes from seed to seed (with the
# default seed every head of layer 1 became an induction head).

# %%
show(plot_head_scores(after, "Attention-only GPT after training: every head's score"), "toy_head_scores.png")
p_head = int(np.argmax(after["previous"][0]))
i_head = int(np.argmax(after["induction"][1]))
labels = [str(t) for t in after["sequences"][0]]
show(plot_heads([(after["weights"][0][0, p_head], f"L0H{p_head}: previous-token head, "
                  f"score {after['previous'][0, p_head]:.2f}"),
                 (after["weights"][1][0, i_head], f"L1H{i_head}: induction head, "
                  f"score {after['induction'][1, i_head]:.2f}")],
                "Attention-only GPT on 16 random tokens written twice", labels), "toy_heads.png")

# %% [markdown]
# ## Part 3: into GPT-2's format and back
#
# `save_pretrained(directory)` writes `config.json` and `model.safetensors` exactly as
# Hugging Face's GPT-2 keeps them (its names, its Conv1D layout, the zero MLPs included), so
# `GPT.from_pretrained(directory)` reads the model back, and so would
# `transformers.GPT2LMHeadModel.from_pretrained(directory)`. The logits of the loaded model
# are those of the trained one, bit for bit: the file holds the float32 numbers themselves.

# %%
saved = Path(args.out) / "attention_only_gpt"
model.eval()
model.save_pretrained(saved)
loaded = GPT.from_pretrained(saved)
config = json.loads((saved / "config.json").read_text())
fields = ", ".join(f"{k}={config[k]}" for k in
                   ("n_layer", "n_head", "n_embd", "n_inner", "n_positions", "vocab_size"))
print(f"{saved}: config.json ({fields}), model.safetensors "
      f"({(saved / 'model.safetensors').stat().st_size / 1e3:.0f} kB)")
check = tinyattn.tensor(after["sequences"])
with tinyattn.no_grad():
    round_trip = float(np.max(np.abs(loaded(check).numpy() - model(check).numpy())))
print(f"largest difference between the logits of the saved and the loaded model: {round_trip}")

# %%
induction_score, previous_score = float(after["induction"][1].max()), float(after["previous"][0].max())
results["induction"] = dict(
    best_head_score=induction_score, previous_token_score=previous_score,
    uniform_score=after["uniform"], repeat_loss=float(second_loss), first_copy_loss=float(first_loss),
    round_trip_max_diff=round_trip, train_seconds=train_seconds,
    loss_first=history["loss"][0], loss_last=history["loss"][-1])
sentences = []
if "gpt2" in results:
    g = results["gpt2"]
    sentences.append(f"{args.model}: {g['tokens_per_second']:.1f} tokens/s greedy with the cache; strongest "
                     f"induction head scores {g['best_head_score']:.2f}; loss {g['first_copy_loss']:.2f} -> "
                     f"{g['repeat_loss']:.2f} nats from the first copy of random tokens to the second.")
sentences.append(f"induction: after {steps} steps ({train_seconds:.0f} s) the attention-only GPT's best "
                 f"induction head scores {induction_score:.2f} (even attention: {after['uniform']:.3f}), its "
                 f"previous-token head {previous_score:.2f}; loss on the second "
                 f"copy {second_loss:.3f} nats (first copy {first_loss:.2f}); saved and loaded, its logits "
                 f"differ by {round_trip}.")
print("figures written to", args.out)
report(results, sentences)
