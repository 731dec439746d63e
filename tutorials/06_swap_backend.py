# %% [markdown]
# # 6. Swap the backend: the same model on NumPy and on a GPU
#
# Every op in tinyattn is written against an *array namespace*, `xp`: `xp.matmul`,
# `xp.exp`, `xp.permute_dims`, names that NumPy, CuPy and the array API standard share. Which
# library `xp` is decides where the numbers live and what computes them:
#
# - `numpy`: host memory, the CPU (the default);
# - `cupy`: GPU memory, CUDA kernels (`pip install 'tinyattn[gpu]'` on a machine with an
#   NVIDIA GPU);
# - `array_api_strict`: the array API standard's reference implementation, run on an
#   *emulated* second device. It computes on the CPU (through NumPy, underneath), but its
#   arrays refuse everything that is not in the standard and refuse to be turned into NumPy
#   arrays implicitly, which is exactly how CuPy arrays fail. It is how a machine without a GPU
#   proves that the engine holds no NumPy-only idiom; its speed means nothing.
#
# This tutorial shows the switches, then trains the same small GPT, from the same weights on
# the same batches, on NumPy and on CuPy, and compares losses and step times. Without a GPU it
# says so and makes the comparison against array_api_strict instead.

# %%
import os
import statistics
import subprocess
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import report, show, tutorial_args

import tinyattn
import tinyattn.functional as F
from tinyattn import data, optim
from tinyattn.nn import GPT

args = tutorial_args(
    "Train the same model on two backends and compare", default_out="out/06_swap_backend",
    extra=lambda p: (p.add_argument("--against", default="cupy", choices=["cupy", "array_api_strict"],
                                    help="the backend compared with numpy (falls back to "
                                         "array_api_strict when CuPy cannot run)"),
                     p.add_argument("--steps", type=int, help="training steps per backend")))

# %% [markdown]
# ## The switches
#
# - `tinyattn.set_backend(name)`: new tensors are made on `name` from now on;
# - `with tinyattn.use_backend(name):` the same, for one block only;
# - `TINYATTN_BACKEND=name python script.py`: the backend a program starts with;
# - `x.to(name)` gives a copy of tensor `x` on another backend; `model.to(name)` moves every
#   parameter of a model there in place (so an optimiser made before still holds them).
#
# Ops never move data behind your back: mixing backends in one op is an error that says so.

# %%
x = tinyattn.randn(2, 3)
print("active backend:", tinyattn.get_backend(), "  x lives on", x.backend)

with tinyattn.use_backend("array_api_strict"):
    y = tinyattn.ones(2, 3)
print("made inside use_backend('array_api_strict'):", y.backend, "on", y.data.device)
print("after the block, the active backend is again", tinyattn.get_backend())

try:
    x + y
except TypeError as error:
    print("x + y ->", error)
print("x.to('array_api_strict') + y lives on", (x.to("array_api_strict") + y).backend)

try:                                    # what a GPU array would also refuse
    np.asarray(y.data)
except RuntimeError as error:
    print("np.asarray(strict array) ->", error)
print("y.numpy() is the explicit way to the host:", y.numpy().tolist())

previous = tinyattn.get_backend()
tinyattn.set_backend("array_api_strict")
print("after set_backend('array_api_strict'), tinyattn.zeros(1) is on", tinyattn.zeros(1).backend)
tinyattn.set_backend(previous)

child = subprocess.run([sys.executable, "-c", "import tinyattn; print(tinyattn.get_backend())"],
                       env={**os.environ, "TINYATTN_BACKEND": "array_api_strict"},
                       capture_output=True, text=True, check=True)
print("a program started with TINYATTN_BACKEND=array_api_strict begins on", child.stdout.strip())

# %% [markdown]
# ## Is there a GPU?
#
# Asking for CuPy raises `tinyattn.BackendUnavailable` with one plain sentence when it cannot
# run: not installed, no driver, no device, or a wheel built for another CUDA version.

# %%
against = args.against
if against == "cupy":
    try:
        tinyattn.get_backend("cupy")
        print("CuPy works here: comparing numpy with cupy (a GPU).")
    except tinyattn.BackendUnavailable as error:
        print("No GPU backend on this machine:", error)
        print("Demonstrating the switch on array_api_strict instead: an emulated device, so the "
              "losses are a real check and its timings are not.")
        against = "array_api_strict"
backends = ["numpy", against]

# %% [markdown]
# ## One model, two backends, identical starting weights
#
# The model is built once on NumPy and its weights kept as host arrays (`state_dict`). Each
# backend then gets a fresh model with those weights loaded and moved over with
# `model.to(name)`, and trains on the same pre-drawn batches, moved with `x.to(name)`. There is
# no dropout, so nothing random happens during training: any difference in the losses comes
# from the arithmetic alone.

# %%
if args.quick:
    config, batch_size, steps, lr = dict(d_model=64, num_heads=4, num_layers=2, max_len=32), 16, 12, 3e-3
else:        # the size of tutorial 5's nanoGPT recipe
    config, batch_size, steps, lr = dict(d_model=128, num_heads=4, num_layers=4, max_len=64), 12, 100, 1e-3
steps = args.steps or steps
dataset = data.CharDataset(data.stdlib_corpus(max_chars=200_000))
rng = np.random.default_rng(args.seed)
batches = [dataset.batch("train", batch_size, config["max_len"], rng) for _ in range(steps)]
reference = GPT(dataset.vocab_size, **config)
weights = {name: t.numpy().copy() for name, t in reference.state_dict().items()}
print(f"GPT {config}, {reference.num_parameters():,} parameters; batch {batch_size}, {steps} steps")


def train_on(backend):
    """Train a copy of the reference model on `backend`: per-step losses and seconds, final weights."""
    model = GPT(dataset.vocab_size, **config)
    model.load_state_dict(weights)
    model.to(backend)
    adamw = optim.AdamW(model.parameters(), lr=lr)
    sync = tinyattn.get_backend(backend).synchronize        # GPU work is queued: wait before timing
    losses, seconds = [], []
    for inputs, targets in batches:
        began = time.perf_counter()
        x, y = tinyattn.tensor(inputs).to(backend), tinyattn.tensor(targets).to(backend)
        loss = F.cross_entropy(model(x), y)
        adamw.zero_grad()
        loss.backward()
        adamw.step()
        sync()
        seconds.append(time.perf_counter() - began)
        losses.append(loss.item())
    final = {name: t.numpy() for name, t in model.state_dict().items()}
    return losses, seconds, final


results = {}
for backend in backends:
    results[backend] = train_on(backend)
    print(f"{backend:>16}: loss {results[backend][0][0]:.4f} -> {results[backend][0][-1]:.4f}")

# %% [markdown]
# ## The results compared
#
# Same weights, same batches, same float32 arithmetic: the losses should agree to float32
# precision (relative differences around 1e-7 to 1e-5). They need not be bit-identical: a GPU
# adds up a matrix product in a different order than the CPU's BLAS, and the strict backend
# computes an embedding's gradient with the portable sort-and-cumulative-sum version of
# scatter-add instead of NumPy's `add.at`. Over many steps such rounding differences can grow
# slowly, as they would between two GPUs.
#
# The weights can differ by more than the losses, and where they differ most is instructive.
# It is often a key projection's bias (`k_proj.bias`). Adding the same vector to every key
# adds the same number to all of a query's attention scores, which softmax ignores: the true
# gradient of that bias is exactly zero, and what backward computes for it is rounding noise.
# Adam divides each gradient by its own running size, so it turns that noise into steps of
# ordinary size, different on each backend. Harmless (the loss cannot see that bias), and a
# reason why "bit-identical weights" is the wrong thing to ask of two backends.

# %%
ref_losses, other_losses = np.array(results["numpy"][0]), np.array(results[against][0])
difference = np.abs(ref_losses - other_losses)
relative = difference / np.abs(ref_losses)
print(f"{'step':>4}  {'numpy':>10}  {against:>16}  {'|difference|':>12}")
for step in sorted(set(range(min(steps, 5))) | {steps - 1}):
    if step == steps - 1 and steps > 6:
        print(f"{'...':>4}")
    print(f"{step:>4}  {ref_losses[step]:10.6f}  {other_losses[step]:16.6f}  {difference[step]:12.2e}")
weight_gaps = {name: float(np.max(np.abs(results["numpy"][2][name] - results[against][2][name])))
               for name in results["numpy"][2]}
widest = max(weight_gaps, key=weight_gaps.get)
print(f"largest relative loss difference over {steps} steps: {relative.max():.1e}")
print(f"largest weight difference after training: {weight_gaps[widest]:.1e}, in {widest}")
assert relative.max() < 1e-3, "the backends disagree by more than float32 rounding explains"

# %% [markdown]
# ## Step times
#
# The median time of a training step (forward, backward, AdamW), after the first step, which
# pays one-off costs (CuPy compiles its kernels then). A model this small keeps a GPU mostly
# idle: each of the hundreds of ops per step is a separate kernel launch with Python in
# between, so a GPU wins only once the matrices are large enough to hide that.

# %%
print(f"{'backend':>16}  {'ms/step (median)':>16}  note")
for backend in backends:
    median = statistics.median(results[backend][1][1:] or results[backend][1]) * 1000
    note = {"numpy": "the CPU", "cupy": "the GPU",
            "array_api_strict": "an emulator on the CPU: its speed means nothing"}[backend]
    print(f"{backend:>16}  {median:16.1f}  {note}")

# %% [markdown]
# ## Picture: the two loss curves, and how far apart they are

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
left.plot(ref_losses, label="numpy", linewidth=3, alpha=0.5)
left.plot(other_losses, "--", label=against, color="black")
left.set(title="Character GPT on Python stdlib: training loss,\nsame weights, same batches", xlabel="step",
         ylabel="cross-entropy loss")
left.legend()
left.grid(alpha=0.3)
steps_axis = np.arange(steps)
differs = relative > 0
right.plot(steps_axis[differs], relative[differs], "o", label="the losses differ")
right.plot(steps_axis[~differs], np.full((~differs).sum(), 1e-9), "x", color="green",
           label="bit-identical losses (drawn at 1e-9)")
right.set_yscale("log")
right.set_ylim(3e-10, 1e-2)
right.axhline(np.finfo(np.float32).eps, color="grey", linestyle=":",
              label=f"float32 machine epsilon ({np.finfo(np.float32).eps:.1e})")
right.set(title=f"The same run: relative difference\n|numpy - {against}| / numpy", xlabel="step",
          ylabel="relative difference of the loss")
right.legend()
right.grid(alpha=0.3)
fig.tight_layout()
show(fig, "backends.png")
print("figure written to", args.out)
numbers = {backend: {"loss_first": losses[0], "loss_last": losses[-1]}
           for backend, (losses, _, _) in results.items()}
numbers["comparison"] = {"largest_relative_loss_difference": float(relative.max())}
report(numbers, [f"{backend}: loss {losses[0]:.3f} -> {losses[-1]:.3f} in {steps} steps."
                 for backend, (losses, _, _) in results.items()]
       + [f"numpy and {against} agree: their losses differ by at most {relative.max():.1e} (relative)."])
