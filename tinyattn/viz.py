"""Pictures for the tutorials: attention maps, masks, positional encodings, training curves,
and the computation graph. matplotlib is imported only when a picture is drawn, so the
library itself never needs it (pip install "tinyattn[tutorials]")."""
import functools
import io
import shutil
import subprocess

import numpy as np

from .engine.tensor import Tensor


def _plt():
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")            # scripts write files; no screen is needed
    import matplotlib.pyplot as plt
    return plt


def _host(x):
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def heatmap(ax, matrix, title, xlabel, ylabel, xticklabels=None, yticklabels=None, cmap="viridis",
            colorbar=True, vmin=None, vmax=None, colorbar_label=None):
    """One labelled matrix picture on axes `ax` (rows down, columns across); the colour bar,
    when drawn, says what the colours measure (`colorbar_label`)."""
    matrix = _host(matrix)
    image = ax.imshow(matrix, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if xticklabels is not None:
        ax.set_xticks(range(len(xticklabels)), labels=xticklabels, fontsize=8)
    if yticklabels is not None:
        ax.set_yticks(range(len(yticklabels)), labels=yticklabels, fontsize=8)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=colorbar_label)
    return image


def attention_map(ax, weights, title, queries, keys, xlabel="key", ylabel="query", colorbar=True):
    """One attention map (T_q, T_k) on `ax`: the tokens themselves on the axes (`queries` down,
    `keys` across), colours from 0 to 1 with a colour bar labelled "attention weight"."""
    return heatmap(ax, weights, title, xlabel, ylabel, keys, queries, cmap="Blues", vmin=0.0, vmax=1.0,
                   colorbar=colorbar, colorbar_label="attention weight")


def attention_maps(weights, title="Attention weights", queries=None, keys=None, heads=None,
                   xlabel="key", ylabel="query"):
    """A figure of attention maps, one per head: weights (H, T_q, T_k) or (T_q, T_k).
    `queries` and `keys` are the tokens (strings) to write on the axes, positions if None; one
    colour bar, "attention weight", serves every head (they share the scale 0..1)."""
    plt = _plt()
    weights = _host(weights)
    if weights.ndim == 2:
        weights = weights[None]
    queries = [str(i) for i in range(weights.shape[1])] if queries is None else queries
    keys = [str(j) for j in range(weights.shape[2])] if keys is None else keys
    heads = range(weights.shape[0]) if heads is None else heads
    cols = min(4, len(heads))
    rows = -(-len(heads) // cols)
    side = max(3.0, 0.22 * max(len(queries), len(keys)))        # long sequences get room per token
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols + 1, (side - 0.3) * rows + 0.8),
                             squeeze=False, layout="constrained")
    for i, (ax, h) in enumerate(zip(axes.flat, heads)):
        row_label = ylabel if i % cols == 0 else ""              # once per row of maps
        image = attention_map(ax, weights[h], f"head {h}", queries, keys, xlabel, row_label, colorbar=False)
    for ax in list(axes.flat)[len(heads):]:
        ax.axis("off")
    fig.colorbar(image, ax=axes, fraction=0.02, pad=0.02, label="attention weight")
    fig.suptitle(title)
    return fig


def readable_log_axis(axis):
    """Label a log-scaled `axis` (ax.xaxis or ax.yaxis) with plain numbers, "3" rather than
    "3x10^0", wherever the number is short; far from 1 the labels stay powers of ten."""
    plain = _plain_log_formatter()
    axis.set_major_formatter(plain())
    # every minor tick labelled when the axis spans under a decade (a loss curve), some up to two
    axis.set_minor_formatter(plain(labelOnlyBase=False, minor_thresholds=(2, 1)))


@functools.cache
def _plain_log_formatter():
    """The formatter class, made on first use (matplotlib is imported only to draw)."""
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        """matplotlib's choice of which log ticks get a label, written as plain numbers
        between 0.0001 and 100000."""

        def __call__(self, x, pos=None):
            label = super().__call__(x, pos)
            return f"{x:g}" if label and 1e-4 <= abs(x) < 1e5 else label

    return PlainLogFormatter


def curves(series, title, xlabel="step", ylabel="loss", logy=False):
    """A figure of line plots: series maps a label to a list of y values, or to (xs, ys)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, values in series.items():
        xs, ys = values if isinstance(values, tuple) else (range(len(values)), values)
        ax.plot(list(xs), list(ys), label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
        readable_log_axis(ax.yaxis)
    ax.grid(alpha=0.3, which="both")              # minor lines too: a loss spans under a decade
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def graph_nodes(root, names=None):
    """The computation graph behind `root` as (nodes, edges): nodes maps id -> (label, kind),
    edges are (from_id, to_id) in the order each op lists its inputs. Ops are named by their
    Function; tensors by `names` (a dict from tensor to name, since tensors carry none) and
    their shape. kind is "op", "leaf" (made by no op: an input or a weight) or "tensor"."""
    names = names or {}
    nodes, edges, stack, seen = {}, [], [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        kind = "leaf" if t.creator is None else "tensor"
        shape = str(t.shape) if t.shape else "scalar"
        nodes[id(t)] = (f"{names.get(t, 'leaf' if kind == 'leaf' else '')} {shape}".strip(), kind)
        if t.creator is not None and t.creator.inputs is not None:
            op = t.creator
            nodes[id(op)] = (type(op).__name__, "op")
            edges.append((id(op), id(t)))
            for inp in op.inputs:
                edges.append((id(inp), id(op)))
                stack.append(inp)
    return nodes, edges


_FILL = {"op": "#fde3c8", "leaf": "#dde8f6", "tensor": "white"}


def to_dot(root, names=None, title=None):
    """The graph behind `root` in Graphviz's DOT language (render with `dot -Tpng`)."""
    nodes, edges = graph_nodes(root, names)
    lines = ["digraph G {", "  rankdir=LR;"]
    if title:
        lines.append(f'  labelloc=t; label="{title}  (blue: leaves, orange: operations)";')
    for nid, (label, kind) in nodes.items():
        shape = "ellipse" if kind == "op" else "box"
        lines.append(f'  n{nid} [label="{label}", shape={shape}, style=filled, fillcolor="{_FILL[kind]}"];')
    lines += [f"  n{a} -> n{b};" for a, b in edges]
    return "\n".join(lines + ["}"])


def draw_graph(root, title="Computation graph", names=None):
    """A figure of the graph behind `root`, inputs on the left and the result on the right,
    tensors named by `names` (a dict from tensor to name): Graphviz's drawing when `dot` is
    installed, otherwise a matplotlib drawing (see `graph_layout`)."""
    plt = _plt()
    if shutil.which("dot"):
        png = subprocess.run(["dot", "-Tpng", "-Gdpi=110"], input=to_dot(root, names, title).encode(),
                             capture_output=True, check=True).stdout
        image = plt.imread(io.BytesIO(png))
        fig = plt.figure(figsize=(image.shape[1] / 110, image.shape[0] / 110))
        fig.figimage(image)                  # pixel for pixel when saved at dpi=110
        return fig
    nodes, edges = graph_nodes(root, names)
    position = graph_layout(nodes, edges)
    columns = max(x for x, _ in position.values()) + 1
    rows = max(-y for _, y in position.values()) + 1
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * columns), 1.2 + 0.8 * rows))
    for a, b in edges:
        (xa, ya), (xb, yb) = position[a], position[b]
        bend = -0.3 / (xb - xa) if xb - xa > 1 else 0.0    # a long edge arcs a little over the boxes
        ax.annotate("", xy=(xb, yb), xytext=(xa, ya),
                    arrowprops=dict(arrowstyle="-|>", color="0.45", shrinkA=24, shrinkB=24,
                                    connectionstyle=f"arc3,rad={bend}"))
    for nid, (label, kind) in nodes.items():
        ax.text(*position[nid], label, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round" if kind == "op" else "square", fc=_FILL[kind], ec="0.4"))
    ax.set_xlim(-0.7, columns - 0.3)
    ax.set_ylim(-rows + 0.5, 0.6)
    ax.axis("off")
    ax.set_title(title + "  (blue: leaves, orange: operations)")
    fig.tight_layout()
    return fig


def graph_layout(nodes, edges):
    """(column, -row) of every node, for drawing without Graphviz. Ops and the tensors they make
    go in the column of their longest distance from an input, so every arrow points right; a
    leaf goes just left of the first op that reads it, below the chain, so its arrow is short
    and crosses no box. Leaves of one column keep the order in which ops list them."""
    depth = _depths(nodes, edges)
    readers = {}
    for a, b in edges:
        readers.setdefault(a, []).append(b)
    for nid, (_, kind) in nodes.items():
        if kind == "leaf" and nid in readers:
            depth[nid] = min(depth[op] for op in readers[nid]) - 1
    first_edge = {}
    for i, (a, _) in enumerate(edges):
        first_edge.setdefault(a, i)
    columns = {}
    for nid in sorted(nodes, key=lambda n: (nodes[n][1] == "leaf", first_edge.get(n, -1))):
        columns.setdefault(depth[nid], []).append(nid)
    return {nid: (col, -row) for col, ids in columns.items() for row, nid in enumerate(ids)}


def _depths(nodes, edges):
    """Column of each node: its longest distance from an input, so every arrow points right.
    (Kahn's algorithm: visit a node once all the nodes feeding it have been visited.)"""
    feeds = {nid: [] for nid in nodes}
    waiting = {nid: 0 for nid in nodes}
    for a, b in edges:
        feeds[a].append(b)
        waiting[b] += 1
    depth = {nid: 0 for nid in nodes}
    ready = [nid for nid, n in waiting.items() if n == 0]
    while ready:
        nid = ready.pop()
        for nxt in feeds[nid]:
            depth[nxt] = max(depth[nxt], depth[nid] + 1)
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
    return depth
