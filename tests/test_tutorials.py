"""Each tutorial's quick mode runs, its loss really falls, and its figures are written."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinyattn.backend import BackendUnavailable, get_backend

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parent.parent


def _backend_06_compares_with():
    try:
        get_backend("cupy")
        return "cupy"
    except (BackendUnavailable, ImportError):
        return "array_api_strict"                # its fallback without a GPU


# tutorial script -> (figures it must write, the tasks it trains (each must report its first and
# last loss in --results), largest allowed last/first loss ratio in quick mode); a tutorial that
# trains nothing reports its checks instead: {"checks": {"passed": N}}
TUTORIALS = {
    "01_autograd.py": (["spirals.png", "graph.png"], ["spirals"], 0.6),
    "02_attention.py": (["tiny_example.png", "scale_variance.png", "scale_saturation.png", "masks.png",
                         "masked_weights.png", "multihead_weights.png", "positional_encoding.png",
                         "rope.png"], [], None),
    "03_reverse.py": ([f"{task}_{kind}.png" for task in ("copy", "reverse")
                       for kind in ("loss", "accuracy", "lr", "cross_attention",
                                    "cross_attention_last_layer")],
                      ["copy", "reverse"], 0.6),
    "04_gpt_algorithms.py": ([f"{task}_{kind}.png" for task in ("sort", "addition")
                              for kind in ("loss", "accuracy", "attention_layer1", "attention_layer2")]
                             + ["addition_held_out.png"], ["sort", "addition"],
                             0.7),                                  # addition plateaus near 0.6 early
    "05_char_gpt.py": (["loss.png", "lr.png"], ["char_gpt"], 0.75),
    "06_swap_backend.py": (["backends.png"], ["numpy", _backend_06_compares_with()], 0.85),
    "07_efficient_attention.py": (["cost.png", "kv_cache.png", "loss.png"],
                                  ["standard", "flash", "window W=8", "GQA, 2 kv heads", "MQA, 1 kv head"],
                                  0.75),
    "10_read_digits.py": (["strips.png", "loss.png", "mistakes.png", "cross_attention.png",
                           "cross_attention_last_layer.png", "alignment.png"], ["digit_strips"], 0.75),
}


def _check_quick_mode(script, out, *options):
    """Run a tutorial's quick mode: it must exit cleanly, learn (or pass its own checks) and
    write its figures. Returns what it printed."""
    figures, tasks, max_ratio = TUTORIALS[script]
    results = out / "results.json"
    command = [sys.executable, str(ROOT / "tutorials" / script), "--quick", "--out", str(out),
               "--results", str(results), *options]
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]      # this checkout's tinyattn first,
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, paths)))   # not an installed one
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr
    reported = json.loads(results.read_text())
    if max_ratio is None:
        assert reported["checks"]["passed"] > 0, reported
    for task in tasks:                           # each task the tutorial trains, not only the last one
        start, end = reported[task]["loss_first"], reported[task]["loss_last"]
        assert end < max_ratio * start, f"{task}: loss only went from {start} to {end}"
    for name in figures:
        assert (out / name).stat().st_size > 10_000, f"{name} missing or empty"
    return run.stdout


@pytest.mark.parametrize("script", sorted(TUTORIALS))
def test_tutorial_quick_mode_learns_and_draws(script, tmp_path):
    _check_quick_mode(script, tmp_path)


def test_a_gpt_tutorial_learns_in_reference_mode(tmp_path):
    # --reference: every F.* function and attention as their compositions of primitives, through
    # a whole training run of a character-level GPT (about 4 s; 3 s in the default mode)
    printed = _check_quick_mode("05_char_gpt.py", tmp_path, "--reference")
    assert "reference mode: every function runs as its readable composition" in printed
