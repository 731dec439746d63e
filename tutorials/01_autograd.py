# %% [markdown]
# # 1. Autograd from scratch
#
# A neural network learns by nudging each weight against the gradient of the loss. This
# tutorial shows where those gradients come from: first by hand for a tiny expression, then by
# tinyattn's engine, checked against finite differences, and finally used to train a small
# network on a toy problem that a straight line cannot solve.
#
# Run it as a script (`python tutorials/01_autograd.py`, `--quick` for a few steps) or open
# it as a notebook with jupytext.

# %%
import math

import numpy as np
from _common import Progress, report, show, tutorial_args

import tinyattn
import tinyattn.functional as F
from tinyattn import viz

args = tutorial_args("Autograd from scratch", default_out="out/01_autograd")

# %% [markdown]
# ## A tiny expression, by hand
#
# Take L = (a * b + c)^2 with a = 2, b = -3, c = 10. Name the pieces: e = a * b = -6,
# d = e + c = 4, L = d^2 = 16. The chain rule walks back from L:
#
# - dL/dd = 2d = 8
# - dL/dc = dL/dd * dd/dc = 8 * 1 = 8,  dL/de = 8 * 1 = 8
# - dL/da = dL/de * de/da = 8 * b = -24,  dL/db = 8 * a = 16
#
# Backpropagation is exactly this, done by the engine for every node of the graph.

# %%
a = tinyattn.tensor(2.0, requires_grad=True)
b = tinyattn.tensor(-3.0, requires_grad=True)
c = tinyattn.tensor(10.0, requires_grad=True)
loss = (a * b + c) ** 2
loss.backward()
by_hand = {"a": -24.0, "b": 16.0, "c": 8.0}
for name, leaf in (("a", a), ("b", b), ("c", c)):
    engine = float(leaf.backend.to_numpy(leaf.grad))
    print(f"dL/d{name}: by hand {by_hand[name]:6.1f}   engine {engine:6.1f}")
    assert engine == by_hand[name]

# %% [markdown]
# ## A layer of a network, by hand
#
# For one layer h = relu(x @ W + b) and a loss L = sum(h * u) (u: any fixed weights), the chain
# rule in matrix form gives, with m = (x @ W + b > 0) the units that are active:
#
# - dL/dh = u,   dL/dz = u * m   (z = x @ W + b: relu passes gradient only where it was active)
# - dL/dW = x^T @ dL/dz   (each weight W_ij meets every row's x_i and that row's dL/dz_j)
# - dL/db = sum of dL/dz over the rows   (b was broadcast to every row, so its copies add up)
# - dL/dx = dL/dz @ W^T
#
# The engine derives the same thing one node at a time. Both, side by side:

# %%
x_np = np.random.default_rng(args.seed).standard_normal((5, 3)).astype(np.float32)
W_np = np.random.default_rng(args.seed + 1).standard_normal((3, 4)).astype(np.float32)
b_np = np.zeros(4, dtype=np.float32)
u_np = np.random.default_rng(args.seed + 2).standard_normal((5, 4)).astype(np.float32)

z = x_np @ W_np + b_np                                  # by hand, with NumPy: (5, 4)
dz = u_np * (z > 0)
by_hand = {"W": x_np.T @ dz, "b": dz.sum(axis=0), "x": dz @ W_np.T}

x_t, W_t, b_t = (tinyattn.tensor(a, requires_grad=True) for a in (x_np, W_np, b_np))
layer_loss = ((x_t @ W_t + b_t).relu() * tinyattn.tensor(u_np)).sum()
layer_loss.backward()
for name, leaf in (("W", W_t), ("b", b_t), ("x", x_t)):
    difference = np.abs(leaf.backend.to_numpy(leaf.grad) - by_hand[name]).max()
    print(f"dL/d{name}: largest difference between hand and engine {difference:.1e}")
    assert difference < 1e-5

# %% [markdown]
# ## The graph the engine recorded
#
# Every operation on a tensor that requires grad adds a node: the picture shows the leaves
# (inputs and weights, blue), the operations (orange) and the intermediate tensors with their
# shapes, from the inputs on the left to the loss on the right. `backward()` walks it from
# right to left. Tensors carry no names, so we hand the drawing a dict from tensor to name.
# (With Graphviz installed, `apt-get install graphviz`, Graphviz lays the picture out.)

# %%
u_t = tinyattn.tensor(u_np)
layer_loss = ((x_t @ W_t + b_t).relu() * u_t).sum()
names = {x_t: "x", W_t: "W", b_t: "b", u_t: "u", layer_loss: "L"}
show(viz.draw_graph(layer_loss, "The graph of L = sum(relu(x @ W + b) * u)", names), "graph.png")

# %% [markdown]
# ## Checking a gradient with finite differences
#
# For any function, (f(x + eps) - f(x - eps)) / (2 eps) approximates the derivative with an
# error of order eps^2. `tinyattn.gradcheck` does this for every element of every input (in
# float64) and compares with what backward computed. Every op in tinyattn is tested this way.

# %%
x = tinyattn.randn(3, 4, requires_grad=True)
w = tinyattn.randn(4, 2, requires_grad=True)
print("gradcheck of tanh(x @ w):", tinyattn.gradcheck(lambda x, w: (x @ w).tanh(), x, w))

# %% [markdown]
# ## Training a small network on two spirals
#
# Two interleaved spirals of points, one class each. A straight line cannot separate them; a
# network with one hidden layer of 64 ReLU units can. Each step: forward pass, loss,
# `backward()` for the gradients, then move every weight a little against its gradient.

# %%
def spirals(n_per_class, rng):
    """Points (2n, 2) on two interleaved spirals with a little noise, and labels (2n,)."""
    t = np.sqrt(rng.random(n_per_class)) * 3 * math.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * math.pi)
    points = np.concatenate([arm, -arm]) + rng.normal(scale=0.03, size=(2 * n_per_class, 2))
    labels = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)]).astype(np.int64)
    return points.astype(np.float32), labels


rng = np.random.default_rng(args.seed)
points, labels = spirals(500, rng)
X, y = tinyattn.tensor(points), tinyattn.tensor(labels)


def init(fan_in, fan_out):
    """A weight (fan_in, fan_out) and bias (fan_out,), uniform in +-1/sqrt(fan_in) (PyTorch's default)."""
    bound = 1 / math.sqrt(fan_in)
    weight = (tinyattn.rand(fan_in, fan_out) * 2 - 1) * bound
    bias = (tinyattn.rand(fan_out) * 2 - 1) * bound
    return weight.requires_grad_(), bias.requires_grad_()


W1, b1 = init(2, 64)
W2, b2 = init(64, 64)
W3, b3 = init(64, 2)
params = [W1, b1, W2, b2, W3, b3]


def model(x):
    """(N, 2) points -> (N, 2) class scores."""
    h = (x @ W1 + b1).relu()
    h = (h @ W2 + b2).relu()
    return h @ W3 + b3


steps = 200 if args.quick else 2000
lr = 0.5
losses = []
progress = Progress(steps, tokens_per_step=len(points), every=max(1, steps // 10), unit="points")
for step in range(steps):
    loss = F.cross_entropy(model(X), y)
    for p in params:
        p.grad = None
    loss.backward()
    with tinyattn.no_grad():                  # the update itself must not become part of a graph
        for p in params:
            p.data = p.data - lr * p.grad
    losses.append(loss.item())
    progress.update(step, loss=losses[-1])

with tinyattn.no_grad():
    accuracy = float((model(X).argmax(axis=-1) == y).numpy().mean())
print(f"training accuracy {accuracy:.1%} after {steps} steps; loss {losses[0]:.3f} -> {losses[-1]:.3f}")

# %% [markdown]
# ## Pictures: the loss curve and what the network learned

# %%
def plot():
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax_loss.plot(losses)
    ax_loss.set(title="Two spirals: training loss", xlabel="step", ylabel="cross-entropy", yscale="log")
    viz.readable_log_axis(ax_loss.yaxis)

    grid = np.linspace(-1.3, 1.3, 200, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    with tinyattn.no_grad():
        scores = model(tinyattn.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1)))
        prob = F.softmax(scores).numpy()[:, 1].reshape(gx.shape)
    shading = ax_map.contourf(gx, gy, prob, levels=20, cmap="coolwarm", alpha=0.6, vmin=0, vmax=1)
    ax_map.scatter(points[:, 0], points[:, 1], c=labels, cmap="coolwarm", s=6, edgecolors="none")
    ax_map.set(title=f"Two spirals: what the network predicts (accuracy {accuracy:.1%})",
               xlabel="x1", ylabel="x2", aspect="equal")
    fig.colorbar(shading, ax=ax_map, label="predicted probability of the red class", ticks=[0, 0.5, 1])
    fig.tight_layout()
    show(fig, "spirals.png")


plot()
print("figures written to", args.out)
report({"spirals": {"accuracy": accuracy, "loss_first": losses[0], "loss_last": losses[-1]}},
       [f"Two spirals: the network classifies {accuracy:.1%} of the training points right after "
        f"{steps} steps (loss {losses[0]:.3f} -> {losses[-1]:.3f})."])
