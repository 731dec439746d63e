"""Pictures are drawn and saved, and the graph view lists every op and tensor of a small expression."""
import pytest

import tinyattn
from tinyattn import viz

pytest.importorskip("matplotlib")


def test_graph_nodes_name_every_op_and_connect_inputs_to_outputs():
    x = tinyattn.randn(3, 2, requires_grad=True)
    w = tinyattn.randn(2, 2, requires_grad=True)
    y = ((x @ w).tanh() + x).sum()
    nodes, edges = viz.graph_nodes(y)
    ops = sorted(label for label, kind in nodes.values() if kind == "op")
    assert ops == ["Add", "Matmul", "Sum", "Tanh"]
    assert (id(x), id(y.creator.inputs[0].creator)) in edges          # x feeds the Add directly
    assert "digraph" in viz.to_dot(y)


def test_pictures_are_figures_that_save(tmp_path):
    x = tinyattn.randn(2, 2, requires_grad=True)
    figures = {"graph.png": viz.draw_graph((x * x).sum()),
               "attn.png": viz.attention_maps(tinyattn.rand(2, 4, 4)),
               "loss.png": viz.curves({"train": [3, 2, 1], "val": [3, 2.5, 2]}, "Loss")}
    for name, fig in figures.items():
        fig.savefig(tmp_path / name, dpi=110)
        assert (tmp_path / name).stat().st_size > 5_000
