"""What one forward + backward pass of causal self-attention costs: its peak memory and its time.

Shared by tutorial 7 and benchmarks/attention_cost.py, so that both measure the same way:

    attentions = attention_functions(window=256)        # "standard", "flash", "window W=256"
    keep_freed_memory()                                  # so that timings do not depend on order
    costs = sweep(attentions, lengths=[1024, 2048, 4096], rounds=5)
    costs["flash"]["bytes"], costs["flash"]["seconds"]   # one number per length
    fig = plot_costs(costs, "...")                      # a matplotlib figure, to show or save

One step is `attend(q, k, v).backward(g)` for q, k, v of shape (1, 1, T, D) (one sequence, one
head) and a fixed random upstream gradient g (1, 1, T, D): the attention alone, no projections.

Memory is measured with tracemalloc. NumPy reports each array it allocates to tracemalloc, so the
traced peak during the step, minus what was traced when it began, is the most memory the step held
at once: its scores, weights and saved arrays, and the gradients of q, k and v it leaves behind.
q, k, v and g are allocated before the step, so they are not counted.
"""
import ctypes
import statistics
import time
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullLocator

import tinyattn
from tinyattn import viz
from tinyattn.attention import scaled_dot_product_attention

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # glibc's mallopt parameters (malloc.h)


def attention_functions(window):
    """name -> attend(q, k, v): the three ways to compute causal self-attention compared here."""
    return {
        "standard": lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True),
        "flash": lambda q, k, v: tinyattn.flash_attention(q, k, v, is_causal=True),
        f"window W={window}": lambda q, k, v: tinyattn.window_attention(q, k, v, window),
    }


def attention_inputs(length, width=64, seed=0):
    """q, k, v (1, 1, T, D) float32 tensors that require grad, and an upstream gradient g (1, 1, T, D)."""
    rng = np.random.default_rng(seed)
    q, k, v = (tinyattn.tensor(rng.standard_normal((1, 1, length, width), dtype=np.float32),
                               requires_grad=True) for _ in range(3))
    return q, k, v, tinyattn.tensor(rng.standard_normal((1, 1, length, width), dtype=np.float32))


def step(attend, q, k, v, g):
    """One forward and backward pass, from fresh gradients."""
    q.grad = k.grad = v.grad = None
    attend(q, k, v).backward(g)


def peak_bytes(attend, q, k, v, g):
    """Most bytes held at once during one step, above what was allocated before it (tracemalloc);
    NaN when the backend's arrays are invisible to tracemalloc (CuPy's live on the GPU)."""
    tracemalloc.start()
    try:
        if not _arrays_are_traced():
            return float("nan")
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        step(attend, q, k, v, g)
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def _arrays_are_traced():
    """Whether tracemalloc sees an array of the active backend being allocated (NumPy reports its
    allocations to it; a library that does not would make every peak look like zero)."""
    before = tracemalloc.get_traced_memory()[0]
    probe = tinyattn.zeros(1 << 18)                      # 1 MiB of float32
    seen = tracemalloc.get_traced_memory()[0] - before
    del probe
    return seen >= 1 << 20


def seconds(attend, q, k, v, g):
    """Wall time of one step (waiting for the device, on a GPU)."""
    start = time.perf_counter()
    step(attend, q, k, v, g)
    tinyattn.get_backend().synchronize()
    return time.perf_counter() - start


def sweep(attentions, lengths, rounds, width=64, longest=None):
    """Peak bytes and median seconds of a step for each attention at each length, printed as a table.

    Each round times one step of every (length, attention) in turn, and a point's time is its
    median over the rounds: a slow spell of a shared machine then spoils one round of many
    points, which the median drops, rather than every step of one point.
    longest: {name: T}, the longest length to try for that attention (default: all of them).
    Returns {name: {"lengths": [...], "bytes": [...], "seconds": [...]}}.
    """
    points = [(t, name) for t in lengths for name in attentions if t <= (longest or {}).get(name, t)]
    inputs = {t: attention_inputs(t, width) for t in lengths}
    peaks, times = {}, {point: [] for point in points}
    for t, name in points:
        step(attentions[name], *inputs[t])                  # warm-up: first-call work is not the step's
        peaks[t, name] = peak_bytes(attentions[name], *inputs[t])
    for _ in range(rounds):
        for t, name in points:
            times[t, name].append(seconds(attentions[name], *inputs[t]))
    costs = {name: {"lengths": [], "bytes": [], "seconds": []} for name in attentions}
    print(f"{'T':>6}  {'attention':<14} {'ms/step':>9} {'peak MB':>9}")
    for t, name in points:
        row = costs[name]
        row["lengths"].append(t)
        row["bytes"].append(peaks[t, name])
        row["seconds"].append(statistics.median(times[t, name]))
        print(f"{t:>6}  {name:<14} {row['seconds'][-1] * 1e3:9.1f} {row['bytes'][-1] / 2**20:9.1f}")
    return costs


def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse: arrays up to 32 MB then come from its
    heap, which it does not hand back to the system by itself. Otherwise whether a step's arrays
    must have their pages faulted in afresh (a cost per byte) depends on which steps ran before,
    and so does its time. (Larger arrays are still mapped afresh each time.)"""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:                                      # not glibc: its allocator decides
        return
    libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20)
    libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)


def fit(lengths, values):
    """(a, b, p): the least-squares line value = a T + b, and the exponent p of value ~ T^p (the
    slope on log-log axes: 1 for linear growth, 2 for quadratic)."""
    a, b = np.polyfit(lengths, values, 1)
    p = np.polyfit(np.log(lengths), np.log(values), 1)[0]
    return a, b, p


def plot_costs(costs, title):
    """A figure of the time and peak memory of a step against T, on log-log axes, with T and T^2 guides."""
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, key, scale, label in ((ax_t, "seconds", 1e3, "ms per forward + backward"),
                                  (ax_m, "bytes", 2**-20, "peak MB during the step (tracemalloc)")):
        for i, (name, row) in enumerate(costs.items()):
            values = [v * scale for v in row[key]]
            ax.plot(row["lengths"], values, "o-", color=f"C{i}", label=name)
        _guides(ax, costs, key, scale)
        lengths = sorted({t for row in costs.values() for t in row["lengths"]})
        ax.set(xscale="log", yscale="log", xlabel="context length T", ylabel=label)
        ax.set_xticks(lengths, labels=[str(t) for t in lengths])
        ax.xaxis.set_minor_locator(NullLocator())              # T is labelled where measured
        viz.readable_log_axis(ax.yaxis)                        # 0.4, 1, 2 rather than 4x10^-1
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9)
    ax_t.set_title("time")
    ax_m.set_title("memory")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _guides(ax, costs, key, scale):
    """Dotted reference lines of slope 1 (~T) and 2 (~T^2), starting below the lowest first point."""
    rows = costs.values()
    t0 = min(row["lengths"][0] for row in rows)
    v0 = min(row[key][0] for row in rows) * scale / 2
    ts = np.array([t0, max(row["lengths"][-1] for row in rows)])
    ax.plot(ts, v0 * ts / t0, ":", color="0.4", linewidth=1.2, label="slope 1: ~ T (reference)")
    ax.plot(ts, v0 * (ts / t0) ** 2, "--", color="0.4", linewidth=1.2, label="slope 2: ~ T² (reference)")
