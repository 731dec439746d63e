"""Each tutorial's quick mode runs, its loss really falls, and its figures are written."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parent.parent

# tutorial script -> (figures it must write, largest allowed final/initial loss ratio in quick mode,
# or None for a tutorial that trains nothing: it must then print "RESULT all N checks passed")
TUTORIALS = {
    "01_autograd.py": (["spirals.png", "graph.png"], 0.6),
    "02_attention.py": (["tiny_example.png", "scale_variance.png", "scale_saturation.png", "masks.png",
                         "masked_weights.png", "multihead_weights.png", "positional_encoding.png",
                         "rope.png"], None),
    "03_reverse.py": ([f"{task}_{kind}.png" for task in ("copy", "reverse")
                       for kind in ("loss", "accuracy", "lr", "cross_attention")], 0.6),
    "04_gpt_algorithms.py": ([f"{task}_{kind}.png" for task in ("sort", "addition")
                              for kind in ("loss", "accuracy", "attention_layer1", "attention_layer2")]
                             + ["addition_held_out.png"], 0.7),     # addition plateaus near 0.6 early
    "05_char_gpt.py": (["loss.png", "lr.png"], 0.75),
    "06_swap_backend.py": (["backends.png"], 0.85),
    "07_efficient_attention.py": (["cost.png", "kv_cache.png", "loss.png"], 0.75),
}


def _check_quick_mode(script, out, *options):
    """Run a tutorial's quick mode: it must exit cleanly, learn (or pass its own checks) and
    write its figures. Returns what it printed."""
    figures, max_ratio = TUTORIALS[script]
    command = [sys.executable, str(ROOT / "tutorials" / script), "--quick", "--out", str(out), *options]
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]      # this checkout's tinyattn first,
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, paths)))   # not an installed one
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr
    if max_ratio is None:
        assert re.search(r"^RESULT all \d+ checks passed", run.stdout, re.MULTILINE), run.stdout[-2000:]
    else:
        # every "loss A -> B" printed: each task the tutorial trains, not only the last one
        losses = re.findall(r"loss ([\d.]+) -> ([\d.]+)", run.stdout)
        assert losses, run.stdout[-2000:]
        for start, end in (map(float, pair) for pair in losses):
            assert end < max_ratio * start, f"loss only went from {start} to {end}"
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
