"""Each tutorial's quick mode runs, its loss really falls, and its figures are written."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tinyattn
from tinyattn.backend import BackendUnavailable, get_backend
from tinyattn.nn import GPT
from tinyattn.tokenizers import BPETokenizer

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
    "08_inside_gpt2.py": ([f"toy_{kind}.png" for kind in ("phase_change", "loss_by_position", "head_scores",
                                                           "heads")], ["induction"], 0.9),
    "09_vision_transformer.py": (["patches.png", "training.png", "accuracy.png", "confusion.png",
                                  "misread.png", "positions.png", "rollout.png"], ["vit_digits"], 0.6),
    "10_read_digits.py": (["strips.png", "loss.png", "mistakes.png", "cross_attention.png",
                           "cross_attention_last_layer.png", "alignment.png"], ["digit_strips"], 0.75),
}
GPT2_FIGURES = ["gpt2_head_scores.png", "gpt2_induction_head.png", "gpt2_heads_on_text.png"]


def _check_quick_mode(script, out, *options, hf_home=None):
    """Run a tutorial's quick mode: it must exit cleanly, learn (or pass its own checks) and
    write its figures. Returns what it printed. No tutorial downloads in a test, nor reads this
    machine's Hugging Face cache: huggingface_hub (where installed) is offline, and its cache is
    hf_home, or an empty directory."""
    figures, tasks, max_ratio = TUTORIALS[script]
    results = out / "results.json"
    command = [sys.executable, str(ROOT / "tutorials" / script), "--quick", "--out", str(out),
               "--results", str(results), *options]
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]      # this checkout's tinyattn first,
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, paths)),   # not an installed one
               HF_HUB_OFFLINE="1", HF_HOME=str(hf_home or out / "empty_huggingface_cache"))
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


def _gpt2_stand_in(directory):
    """The four files of a GPT-2 (config.json, model.safetensors, vocab.json, merges.txt) for a
    small random GPT saved by tinyattn itself, with a BPE tokenizer trained here: tutorial 8's
    GPT-2 part runs on it with no download and no transformers."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")[:20_000]
    tokenizer = BPETokenizer().train(text, vocab_size=320)
    tinyattn.manual_seed(0)
    GPT(len(tokenizer), 32, 4, 3, 128).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _check_gpt2_part(out, printed):
    assert "No GPT-2 here" not in printed and "tokens/s" in printed, printed
    gpt2 = json.loads((out / "results.json").read_text())["gpt2"]
    assert gpt2["tokens_per_second"] > 0 and 0 <= gpt2["best_head_score"] <= 1, gpt2
    for name in GPT2_FIGURES:
        assert (out / name).stat().st_size > 10_000, f"{name} missing or empty"


def test_tutorial_8_without_gpt2_says_so_in_one_sentence_and_goes_on(tmp_path):
    printed = _check_quick_mode("08_inside_gpt2.py", tmp_path)       # offline, nothing cached
    assert sum("No GPT-2 here" in line for line in printed.splitlines()) == 1, printed
    assert not any((tmp_path / name).exists() for name in GPT2_FIGURES)
    assert json.loads((tmp_path / "results.json").read_text())["induction"]["round_trip_max_diff"] == 0.0


def test_tutorial_8_reads_gpt2_from_a_directory(tmp_path):
    model = _gpt2_stand_in(tmp_path / "gpt2")
    printed = _check_quick_mode("08_inside_gpt2.py", tmp_path / "out", "--model", str(model))
    _check_gpt2_part(tmp_path / "out", printed)


def test_tutorial_8_finds_gpt2_in_huggingface_hubs_cache_without_the_network(tmp_path):
    pytest.importorskip("huggingface_hub")
    # the cache's layout: hub/models--gpt2/refs/main names a commit, snapshots/<commit>/ holds the files
    repository = tmp_path / "huggingface" / "hub" / "models--gpt2"
    commit = "0123456789abcdef0123456789abcdef01234567"
    _gpt2_stand_in(repository / "snapshots" / commit)
    (repository / "refs").mkdir()
    (repository / "refs" / "main").write_text(commit)
    printed = _check_quick_mode("08_inside_gpt2.py", tmp_path / "out", hf_home=tmp_path / "huggingface")
    _check_gpt2_part(tmp_path / "out", printed)
