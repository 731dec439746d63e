# %% [markdown]
# # 4. A decoder-only GPT learns to sort and to add
#
# Tutorial 3 had two stacks: an encoder read the input, a decoder wrote the output. A GPT has
# only the decoder stack, and no separate input at all: the problem and its answer are **one
# sequence**, and the model does one thing, predict the next token. Ask it to sort, and the
# sequence is `3 1 4 1 5 : 1 1 3 4 5`; ask it to add, and it is `3 7 + 4 5 = 2 8 0`
# (37 + 45 = 82, written backwards, see below). To solve a problem we give it the prompt (up
# to `:` or `=`) and let it continue, greedily, one token at a time.
#
# Two small GPTs (`tinyattn.nn.GPT`, 100k parameters each) learn
# - to **sort** 10 digits (0-9), tested on 2,000 random sequences it has never seen;
# - to **add two 2-digit numbers**, trained on 90% of the 10,000 possible pairs (a, b) and
#   tested on *every one* of the 1,000 pairs it never saw.
#
# The score is *exact match*: a problem counts as solved only if every answer digit is right.
# `python tutorials/04_gpt_algorithms.py` trains both in one to two minutes on a laptop CPU;
# `--quick` runs a few steps only (what CI runs), `--task sort|addition` picks one.

# %%
import numpy as np
from _common import Progress, report, show, tutorial_args

import tinyattn
import tinyattn.functional as F
from tinyattn import data, optim, viz
from tinyattn.generate import generate
from tinyattn.nn import GPT

args = tutorial_args(
    "A decoder-only GPT learns to sort and to add",
    default_out="out/04_gpt_algorithms",
    extra=lambda p: (p.add_argument("--task", default="both", choices=["sort", "addition", "both"]),
                     p.add_argument("--length", type=int, default=10, help="digits to sort")))
rng = np.random.default_rng(args.seed)

# %% [markdown]
# ## One sequence: prompt, then answer
#
# The vocabulary is tiny: the digits 0-9 are tokens 0-9, then `:` (`data.SEP`, "now the
# sorted version"), `+` and `=`. Like any language model, the GPT is trained to predict token
# t + 1 from tokens 1..t, so the targets are the sequence shifted left by one.
#
# But only the **answer** is worth learning. The prompt's digits are random: no model can
# predict them, and trying would only add an irreducible ln(10) = 2.3 nats per digit to the
# loss and pull the model's capacity towards guessing noise. So every target inside the
# prompt is set to `data.IGNORE` (-100), the `ignore_index` of `F.cross_entropy`: those
# positions still *read* the prompt, they are just not scored. Below, `.` marks an ignored
# target.
#
# **Why addition is written least-significant digit first.** The model writes left to right
# and never goes back. In the usual order, the first digit of 37 + 45 = 082 depends on a carry
# that comes from the *last* column: the model would have to do the whole sum in its head before
# writing anything. Reversed, 2 8 0, each digit needs only two operand digits and the carry from
# the digit it has just written, which it can see: the order in which we add by hand.

# %%
SYMBOLS = "0123456789:+="                       # token id -> what it means


def render(tokens):
    return " ".join(SYMBOLS[t] if t >= 0 else "." for t in tokens)


x, y = data.sort_batch(1, 6, rng)
print("sort, 6 digits")
print("  inputs ", render(x[0]))
print("  targets", render(y[0]))
x, y, pair = data.addition_batch(1, 2, rng, pairs=np.array([[37, 45]]))
print("addition, 37 + 45")
print("  inputs ", render(x[0]))
print("  targets", render(y[0]), "  (082 backwards)")

# %% [markdown]
# ## Problems the model never sees
#
# **Addition** has only 10,000 problems with two 2-digit operands, few enough to memorise. So a
# fixed 10% of the pairs (1,000) is set aside before training: the same pairs whatever `--seed`
# says, drawn with their own random generator. Training batches are drawn from the other
# 9,000 only, and the model is tested on all 1,000 held-out ones. Getting those right means it
# learned to add, not a table.
#
# **Sorting** 10 digits has 10^10 possible inputs. The test set is 2,000 sequences from a
# separate random generator; training sees fewer than 10^5 sequences, so the expected number
# of test sequences that were also trained on is about 2,000 * 10^5 / 10^10 = 0.02.
#
# A task is described by how to draw a training batch, its held-out problems, and where the
# answer starts.

# %%
def sequences(inputs, targets):
    """inputs and targets (B, T) of a GPT task -> the whole token sequences (B, T + 1)."""
    return np.concatenate([inputs, targets[:, -1:]], axis=1)


def make_tasks():
    tasks = {}
    n = args.length
    test_inputs, test_targets = data.sort_batch(2000, n, np.random.default_rng(1_000_003))
    tasks["sort"] = dict(
        batch=lambda size: data.sort_batch(size, n, rng),
        held_out=sequences(test_inputs, test_targets),
        prompt_length=n + 1, answer_length=n)

    all_pairs = np.array([(a, b) for a in range(100) for b in range(100)])
    order = np.random.default_rng(2024).permutation(len(all_pairs))      # fixed: not --seed
    held_out_pairs, train_pairs = all_pairs[order[:1000]], all_pairs[order[1000:]]
    test_inputs, test_targets, _ = data.addition_batch(len(held_out_pairs), 2, rng, pairs=held_out_pairs)

    def addition_batch(size):
        chosen = train_pairs[rng.integers(0, len(train_pairs), size)]
        return data.addition_batch(size, 2, rng, pairs=chosen)[:2]

    tasks["addition"] = dict(
        batch=addition_batch, held_out=sequences(test_inputs, test_targets),
        prompt_length=6, answer_length=3, held_out_pairs=held_out_pairs)
    return tasks


TASKS = make_tasks()
for name, task in TASKS.items():
    print(f"{name}: {len(task['held_out'])} held-out problems, e.g. {render(task['held_out'][0])}")

# %% [markdown]
# ## The model: GPT-2's layout, small
#
# `GPT` is token embeddings plus learned position embeddings, a stack of pre-norm blocks
# (x + attention(norm(x)), then x + feed-forward(norm(x))), a final norm and a linear head that
# shares its weight with the token embedding. Width 64, 4 heads, 2 blocks, feed-forward width
# 256. One departure from GPT-2: ReLU instead of GELU in the feed-forward layer. It learns
# these tasks just as well, and on the NumPy engine a step costs about half as much as with
# the exact GELU, whose erf NumPy lacks (tinyattn builds it from a dozen array operations).
#
# **Causal masking** is what makes this a language model. Every block (`nn.DecoderBlock`) calls
# its self-attention with `is_causal=True`: position t may attend to positions 1..t and never to a later
# one. So one forward pass over a training sequence of length T gives T honest next-token
# predictions at once, none of which could peek at the token it has to predict; and at test
# time, when the later tokens do not exist yet, the model computes exactly what it computed
# during training.
#
# The optimiser is nanoGPT's: AdamW with weight decay on the matrices only (not on biases and
# norm gains), a short linear warmup, cosine decay of the learning rate, and gradients clipped
# to norm 1.

# %%
config = dict(d_model=64, num_heads=4, num_layers=2, d_ff=256, activation="relu")
if args.quick:
    steps = {"sort": 60, "addition": 80}
    batch_size, lr, warmup, eval_every = 64, 3e-3, 10, 20
else:
    steps = {"sort": 1500, "addition": 1500}
    batch_size, lr, warmup, eval_every = 64, 3e-3, 50, 100


def make_model_and_optimizer(task):
    model = GPT(data.GPT_TASK_VOCAB, max_len=task["held_out"].shape[1], **config)
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    adamw = optim.AdamW([{"params": matrices, "weight_decay": 0.1},
                         {"params": vectors, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))
    return model, adamw


# %% [markdown]
# ## Testing: greedy decoding with the key/value cache
#
# The model gets only the prompt and writes the answer itself: `generate(..., greedy=True)`
# appends the most likely next token, feeds it back, and repeats. With the key/value cache,
# each new token costs one position of work, not a pass over the whole prefix.

# %%
def solve(model, task, problems):
    """Greedy answers (B, answer_length) to the prompts of `problems` (B, T + 1)."""
    model.eval()
    prompts = tinyattn.tensor(problems[:, :task["prompt_length"]])
    out = generate(model, prompts, task["answer_length"], greedy=True).numpy()
    model.train()
    return out[:, task["prompt_length"]:]


def exact_match(model, task, problems):
    """Fraction of problems whose whole answer is right, and the model's answers."""
    answers = solve(model, task, problems)
    right = np.all(answers == problems[:, task["prompt_length"]:], axis=1)
    return float(right.mean()), answers, right


# %% [markdown]
# ## Training
#
# Each step: a batch of fresh problems, the loss on the answer positions only, backward, a
# clipped AdamW step. The progress line shows the teacher-forced accuracy of answer tokens
# (the model sees the true previous tokens); every `eval_every` steps we also measure what
# counts, exact match of greedy answers, on 250 of the held-out problems.

# %%
def train(name):
    task = TASKS[name]
    model, adamw = make_model_and_optimizer(task)
    schedule = optim.WarmupCosine(adamw, warmup_steps=warmup, total_steps=steps[name], min_lr=lr / 10)
    history = {"loss": [], "token_accuracy": [], "eval_steps": [], "exact_match": []}
    progress = Progress(steps[name], tokens_per_step=batch_size * task["held_out"].shape[1])
    for step in range(steps[name]):
        inputs, targets = task["batch"](batch_size)
        logits = model(tinyattn.tensor(inputs))                  # (B, T, vocab)
        loss = F.cross_entropy(logits, tinyattn.tensor(targets))  # IGNORE targets skipped
        adamw.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        adamw.step()
        schedule.step()
        scored = targets != data.IGNORE
        predicted = logits.argmax(axis=-1).numpy()
        history["loss"].append(loss.item())
        history["token_accuracy"].append(float((predicted == targets)[scored].mean()))
        if (step + 1) % eval_every == 0 or step + 1 == steps[name]:
            history["eval_steps"].append(step + 1)
            history["exact_match"].append(exact_match(model, task, task["held_out"][:250])[0])
        progress.update(step, loss=history["loss"][-1], acc=history["token_accuracy"][-1])
    history["seconds"] = progress.elapsed()
    print(f"{name}: trained {steps[name]} steps in {history['seconds']:.0f}s; "
          f"loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.4f}")
    return model, history


tasks = ["sort", "addition"] if args.task == "both" else [args.task]
results = {}
for name in tasks:
    model, history = train(name)
    task = TASKS[name]
    accuracy, answers, right = exact_match(model, task, task["held_out"])
    results[name] = dict(model=model, history=history, accuracy=accuracy, right=right)
    print(f"{name}: exact match on all {len(right)} held-out problems: {accuracy:.2%} "
          f"({int((~right).sum())} wrong)")
    wrong_first = np.argsort(right, kind="stable")[:3]             # mistakes first, if any
    for row in wrong_first:
        prompt = task["held_out"][row, :task["prompt_length"]]
        line = f"   {render(prompt)}  ->  {render(answers[row])}   {'ok' if right[row] else 'WRONG'}"
        if name == "addition":
            a, b = task["held_out_pairs"][row]
            line += f"   (model: {a} + {b} = {data.decode_addition(answers[row:row + 1])[0]})"
        print(line)

# %% [markdown]
# ## Pictures: learning curves
#
# The loss is on a log scale: it keeps falling by orders of magnitude long after the token
# accuracy looks perfect, as the model grows more certain. Addition shows a *plateau* first:
# for a hundred steps or more the loss sits near 1.5 nats and the token accuracy near 40%,
# which is what a model gets by knowing the answer's shape (its last digit, the hundreds, is
# always 0 or 1) while guessing the other two digits. Then the attention heads find the
# operand digits to read, and the loss falls off a cliff. Held-out exact match lags behind
# token accuracy: every digit of an answer must be right, each written after the model's own
# previous digits rather than the true ones.

# %%
import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def moving_average(values, width=25):
    width = min(width, len(values))
    kernel = np.ones(width) / width
    smooth = np.convolve(values, kernel, mode="valid")
    return range(width, len(values) + 1), smooth


def per_step(values):
    return range(1, len(values) + 1), values                # step 1 is the first update


def plot_curves(name, history):
    loss = history["loss"]
    fig = viz.curves({"per step": per_step(loss), "moving average (25 steps)": moving_average(loss)},
                     f"{name}: training loss (cross-entropy on answer tokens)",
                     ylabel="loss (nats per answer token)", logy=True)
    show(fig, f"{name}_loss.png")
    fig = viz.curves({"answer tokens, teacher-forced (training batch)": per_step(history["token_accuracy"]),
                      "exact match, greedy decoding (250 held-out problems)":
                          (history["eval_steps"], history["exact_match"])},
                     f"{name}: accuracy during training", ylabel="accuracy (fraction)")
    show(fig, f"{name}_accuracy.png")


for name, result in results.items():
    plot_curves(name, result["history"])

# %% [markdown]
# ## Pictures: where each head looks
#
# To see the attention weights, run the model by hand, block by block: each block's
# self-attention is called once more on its normed input (exactly what the block itself does)
# with `need_weights=True`. Row = the position that is predicting the next token, column = the
# position it reads. Everything above the diagonal is zero: that is the causal mask.
#
# What to look for (which head does what changes from seed to seed). In **sort**, the rows
# from `:` on write the answer, and the next digit is the smallest prompt digit that has not
# yet been written as often as the prompt holds it. Look for heads whose answer rows read
# prompt digits, the candidates for the next output (in one of our runs, the row that has
# just written `0` reads the prompt's `1`, and the last row reads the `9`), and heads whose
# rows read earlier *answer* positions, such as the copies of the digit just written: to know
# whether another 5 is due, the model must compare the 5s it has written with the 5s in the
# prompt. In **addition** the answer rows (from `=` on) read the operand digits of their own
# column: the row that writes the units digit of the sum reads the units digits of a and b,
# the next row the tens digits. A model this small spreads its work over several heads and
# both blocks, so the maps are rarely as clean as a textbook drawing; and the rows inside
# the prompt are never scored, so they matter only as far as later rows read them.

# %%
def self_attention_maps(model, sequence):
    """Each block's causal self-attention weights for one sequence (T,): a list of (heads, T, T)."""
    model.eval()
    maps = []
    with tinyattn.no_grad():
        x = model.position_embedding(model.token_embedding(tinyattn.tensor(sequence[None])))
        for block in model.blocks:
            _, weights = block.self_attn(block.norm1(x), is_causal=True, need_weights=True)
            maps.append(weights[0])
            x = block(x)                                    # a DecoderBlock: always causal
    model.train()
    return maps


def plot_attention(name, model):
    sequence = TASKS[name]["held_out"][0][:-1]           # the last token is never read
    labels = [SYMBOLS[t] for t in sequence]
    for layer, weights in enumerate(self_attention_maps(model, sequence), start=1):
        title = (f"{name}: self-attention of block {layer} of {config['num_layers']} "
                 "(row: position reading, column: position read)")
        fig = viz.attention_maps(weights, title, queries=labels, keys=labels)
        show(fig, f"{name}_attention_layer{layer}.png")


for name, result in results.items():
    plot_attention(name, result["model"])

# %% [markdown]
# ## Picture: which sums were held out, and were they right?
#
# All 10,000 problems a + b on a 100 x 100 grid: grey were trained on, green were held out and
# answered right, red were held out and answered wrong.

# %%
if "addition" in results:
    grid = np.zeros((100, 100))
    pairs = TASKS["addition"]["held_out_pairs"]
    grid[pairs[:, 0], pairs[:, 1]] = np.where(results["addition"]["right"], 1, 2)
    colours = matplotlib.colors.ListedColormap(["#e6e6e6", "#2a9d4b", "#d62728"])
    fig, ax = plt.subplots(figsize=(6, 5.6))
    ax.imshow(grid, cmap=colours, vmin=0, vmax=2, interpolation="nearest", origin="lower")
    ax.set(xlabel="b", ylabel="a", title=f"a + b: held out and right (green), wrong (red), trained (grey)\n"
           f"exact match {results['addition']['accuracy']:.1%} on 1,000 held-out pairs")
    fig.tight_layout()
    show(fig, "addition_held_out.png")

print("figures written to", args.out)
report({name: {"exact_match": r["accuracy"], "train_seconds": r["history"]["seconds"],
               "loss_first": r["history"]["loss"][0], "loss_last": r["history"]["loss"][-1]}
        for name, r in results.items()},
       [f"{name}: {r['accuracy']:.1%} of all {len(r['right']):,} held-out problems answered exactly right "
        f"after {steps[name]} steps ({r['history']['seconds']:.0f} s; loss {r['history']['loss'][0]:.3f} -> "
        f"{r['history']['loss'][-1]:.4f})." for name, r in results.items()])
