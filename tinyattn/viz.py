"""Pictures for the tutorials: attention maps, masks, positional encodings, training curves,
and the computation graph. matplotlib is imported only when a picture is drawn, so the
library itself never needs it (pip install "tinyattn[tutorials]")."""
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
            colorbar=True, vmin=None, vmax=None):
    """One labelled matrix picture on axes `ax` (rows down, columns across)."""
    matrix = _host(matrix)
    image = ax.imshow(matrix, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if xticklabels is not None:
        ax.set_xticks(range(len(xticklabels)), labels=xticklabels, fontsize=8)
    if yticklabels is not None:
        ax.set_yticks(range(len(yticklabels)), labels=yticklabels, fontsize=8)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return image


def attention_maps(weights, title="Attention weights", queries=None, keys=None, heads=None):
    """A figure of attention maps, one per head: weights (H, T_q, T_k) or (T_q, T_k)."""
    plt = _plt()
    weights = _host(weights)
    if weights.ndim == 2:
        weights = weights[None]
    heads = range(weights.shape[0]) if heads is None else heads
    cols = min(4, len(heads))
    rows = -(-len(heads) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.3 * rows), squeeze=False)
    for ax, h in zip(axes.flat, heads):
        heatmap(ax, weights[h], f"head {h}", "key position", "query position",
                keys, queries, cmap="Blues", colorbar=False, vmin=0.0, vmax=1.0)
    for ax in list(axes.flat)[len(heads):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


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
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def graph_nodes(root):
    """The computation graph behind `root` as (nodes, edges): nodes maps id -> label, edges are
    (from_id, to_id). Tensors are boxes labelled with their shape; ops are named by Function."""
    nodes, edges, stack, seen = {}, [], [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        kind = "leaf" if t.creator is None else "tensor"
        nodes[id(t)] = (f"{kind} {t.shape}", kind)
        if t.creator is not None and t.creator.inputs is not None:
            op = t.creator
            nodes[id(op)] = (type(op).__name__, "op")
            edges.append((id(op), id(t)))
            for inp in op.inputs:
                edges.append((id(inp), id(op)))
                stack.append(inp)
    return nodes, edges


def to_dot(root):
    """The graph behind `root` in Graphviz's DOT language (render with `dot -Tpng`)."""
    nodes, edges = graph_nodes(root)
    shapes = {"op": "ellipse", "leaf": "box", "tensor": "box"}
    lines = ["digraph G {", "  rankdir=LR;"]
    for nid, (label, kind) in nodes.items():
        style = ', style=filled, fillcolor="#dde8f6"' if kind == "leaf" else ""
        lines.append(f'  n{nid} [label="{label}", shape={shapes[kind]}{style}];')
    lines += [f"  n{a} -> n{b};" for a, b in edges]
    return "\n".join(lines + ["}"])


def draw_graph(root, title="Computation graph"):
    """A figure of the graph behind `root`: Graphviz's drawing when `dot` is installed,
    otherwise a matplotlib drawing with the inputs on the left and the result on the right."""
    plt = _plt()
    if shutil.which("dot"):
        png = subprocess.run(["dot", "-Tpng"], input=to_dot(root).encode(), capture_output=True,
                             check=True).stdout
        image = plt.imread(io.BytesIO(png))
        fig = plt.figure(figsize=(image.shape[1] / 110, image.shape[0] / 110))
        fig.figimage(image)                  # pixel for pixel when saved at dpi=110
        return fig
    nodes, edges = graph_nodes(root)
    depth = _depths(nodes, edges)
    columns = {}
    for nid in nodes:
        columns.setdefault(depth[nid], []).append(nid)
    position = {nid: (depth[nid], -row) for col in columns.values() for row, nid in enumerate(col)}
    width = max(6, 1.6 * len(columns))
    height = max(3, 0.9 * max(len(c) for c in columns.values()))
    fig, ax = plt.subplots(figsize=(width, height))
    for a, b in edges:
        (xa, ya), (xb, yb) = position[a], position[b]
        bend = 0.0 if xb - xa == 1 else -0.25          # long edges arc, so they do not hide others
        ax.annotate("", xy=(xb, yb), xytext=(xa, ya),
                    arrowprops=dict(arrowstyle="-|>", color="0.45", shrinkA=28, shrinkB=28,
                                    connectionstyle=f"arc3,rad={bend}"))
    colours = {"op": "#fde3c8", "leaf": "#dde8f6", "tensor": "white"}
    for nid, (label, kind) in nodes.items():
        x, y = position[nid]
        ax.text(x, y, label, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round" if kind == "op" else "square", fc=colours[kind], ec="0.4"))
    ax.set_xlim(-0.7, max(columns) + 0.7)
    ax.set_ylim(-max(len(c) for c in columns.values()) + 0.4, 1.4)   # room for arcs above
    ax.axis("off")
    ax.set_title(title + "  (blue: leaves, orange: operations)")
    fig.tight_layout()
    return fig


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
