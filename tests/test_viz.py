"""Pictures are figures that save, and say what they show: attention maps carry the tokens
and a colour bar, log axes read as plain numbers, and the graph view names the tensors it is given."""
import shutil

import numpy as np
import pytest

import tinyattn
from tinyattn import viz

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def tick_texts(axis):
    return [label.get_text() for label in axis.get_ticklabels()]


def small_layer():
    """L = sum(relu(x @ W + b) * u), the expression of tutorial 1, and names for its tensors."""
    x, w, b = tinyattn.randn(5, 3), tinyattn.randn(3, 4, requires_grad=True), tinyattn.zeros(4)
    u = tinyattn.randn(5, 4)
    loss = ((x @ w + b.requires_grad_()).relu() * u).sum()
    return loss, {x: "x", w: "W", b: "b", u: "u", loss: "L"}


def test_graph_nodes_name_every_op_and_connect_inputs_to_outputs():
    x = tinyattn.randn(3, 2, requires_grad=True)
    w = tinyattn.randn(2, 2, requires_grad=True)
    y = ((x @ w).tanh() + x).sum()
    nodes, edges = viz.graph_nodes(y)
    ops = sorted(label for label, kind in nodes.values() if kind == "op")
    assert ops == ["Add", "Matmul", "Sum", "Tanh"]
    assert (id(x), id(y.creator.inputs[0].creator)) in edges          # x feeds the Add directly
    assert "digraph" in viz.to_dot(y)


def test_graph_names_the_tensors_it_is_given_and_says_leaf_for_the_others():
    loss, names = small_layer()
    labels = {label for label, _ in viz.graph_nodes(loss, names)[0].values()}
    assert {"x (5, 3)", "W (3, 4)", "b (4,)", "u (5, 4)", "L scalar"} <= labels
    unnamed = {label for label, _ in viz.graph_nodes(loss)[0].values()}
    assert "leaf (3, 4)" in unnamed and not any(label.startswith("W") for label in unnamed)
    dot = viz.to_dot(loss, names, title="The layer")
    assert 'label="W (3, 4)"' in dot and "The layer" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_is_drawn_by_graphviz_when_it_is_installed(tmp_path):
    loss, names = small_layer()
    fig = viz.draw_graph(loss, "The layer", names)
    assert len(fig.images) == 1                                         # dot's picture, as it drew it
    fig.savefig(tmp_path / "graph.png", dpi=110)
    plt.close(fig)
    assert (tmp_path / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_layout_points_every_arrow_right_and_puts_each_leaf_beside_its_reader():
    loss, names = small_layer()
    nodes, edges = viz.graph_nodes(loss, names)
    position = viz.graph_layout(nodes, edges)
    for a, b in edges:
        assert position[b][0] > position[a][0], (nodes[a], nodes[b])
        if nodes[a][1] == "leaf":
            assert position[b][0] - position[a][0] == 1, nodes[a]   # no long arrow across boxes
    assert len(set(position.values())) == len(position)               # no two nodes on one spot


def test_pictures_are_figures_that_save(tmp_path, monkeypatch):
    loss, names = small_layer()
    monkeypatch.setattr(shutil, "which", lambda name: None)          # the matplotlib drawing
    figures = {"graph.png": viz.draw_graph(loss, names=names),
               "attn.png": viz.attention_maps(tinyattn.rand(2, 4, 4)),
               "loss.png": viz.curves({"train": [3, 2, 1], "val": [3, 2.5, 2]}, "Loss", logy=True)}
    for name, fig in figures.items():
        assert plt.fignum_exists(fig.number)                            # open: the caller shows it
        fig.savefig(tmp_path / name, dpi=110)
        plt.close(fig)
        assert (tmp_path / name).stat().st_size > 5_000


def test_attention_map_has_the_tokens_on_its_axes_and_a_labelled_colour_bar():
    fig, ax = plt.subplots()
    keys, queries = ["7", "3", "9"], ["BOS", "7", "3", "9"]
    viz.attention_map(ax, np.full((4, 3), 1 / 3), "copy", queries, keys)
    assert tick_texts(ax.xaxis) == keys and tick_texts(ax.yaxis) == queries
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("key", "query")
    colour_bar = [other for other in fig.axes if other is not ax]
    assert len(colour_bar) == 1 and colour_bar[0].get_ylabel() == "attention weight"
    plt.close(fig)


def test_attention_maps_share_one_colour_bar_and_label_every_head_with_the_tokens():
    fig = viz.attention_maps(np.full((2, 3, 3), 1 / 3), "reverse", queries=list("abc"),
                             keys=list("xyz"), xlabel="input position", ylabel="output position")
    heads = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert len(heads) == 2 and len(fig.axes) == 3
    assert [ax.get_ylabel() for ax in fig.axes if ax not in heads] == ["attention weight"]
    for ax in heads:
        assert tick_texts(ax.xaxis) == list("xyz") and tick_texts(ax.yaxis) == list("abc")
        assert ax.get_xlabel() == "input position"
    assert [ax.get_ylabel() for ax in heads] == ["output position", ""]      # once per row of maps
    plt.close(fig)


def test_attention_maps_number_the_positions_when_no_tokens_are_given():
    fig = viz.attention_maps(np.full((3, 2), 0.5))
    ax = fig.axes[0]
    assert tick_texts(ax.xaxis) == ["0", "1"] and tick_texts(ax.yaxis) == ["0", "1", "2"]
    plt.close(fig)


def log_tick_labels(low, high):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [low, high])
    ax.set_yscale("log")
    viz.readable_log_axis(ax.yaxis)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels(which="both") if t.get_text()]
    plt.close(fig)
    return labels


def test_log_axis_within_a_decade_reads_plain_numbers():
    labels = log_tick_labels(1.9, 3.6)
    assert "2" in labels and "3" in labels
    assert not any("times" in label or "^" in label for label in labels), labels


def test_log_axis_over_decades_reads_plain_numbers_near_one_and_powers_of_ten_far_away():
    assert {"0.1", "1", "10", "100"} <= set(log_tick_labels(0.1, 100))
    assert any("10^{-8}" in label for label in log_tick_labels(1e-9, 1e-2))


def test_curves_on_a_log_axis_read_plain_numbers():
    fig = viz.curves({"loss": [3.5, 2.5, 2.0]}, "copy: loss", logy=True)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].yaxis.get_ticklabels(which="both") if t.get_text()]
    assert "3" in labels and not any("times" in label for label in labels)
    plt.close(fig)
