"""Run the tutorials' full modes and check what they reach against the project's targets.

Each tutorial writes its results as JSON with `--results PATH` ({task: {name: number}}); this
script runs them one after another (so they do not compete for the cores), reads those files,
and prints a table of target, measured value, wall time and verdict, with the machine it ran on.

    python benchmarks/tutorial_targets.py                  # everything (about 20-30 min on 2 cores)
    python benchmarks/tutorial_targets.py --only reverse,copy
    python benchmarks/tutorial_targets.py --text ~/tinyshakespeare.txt
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"

# name: (tutorial and arguments, (task, result) in its JSON, comparison, target, what the target says)
TARGETS = {
    "reverse": (["03_reverse.py", "--task", "reverse"], ("reverse", "exact_match"), ">=", 0.99,
                "reverse, length 10, digits 0-9: >= 99% exact match on 1,000 held-out sequences"),
    "reverse time": (None, ("reverse", "train_seconds"), "<=", 180.0, "... trained in <= 3 minutes"),
    "copy": (["03_reverse.py", "--task", "copy"], ("copy", "exact_match"), ">=", 1.0,
             "copy, length 10: 100% exact match on 1,000 held-out sequences"),
    "sort": (["04_gpt_algorithms.py", "--task", "sort"], ("sort", "exact_match"), ">=", 0.99,
             "GPT sorting: >= 99% exact match on held-out sequences"),
    "addition": (["04_gpt_algorithms.py", "--task", "addition"], ("addition", "exact_match"), ">=", 0.99,
                 "GPT 2-digit addition: >= 99% on all held-out pairs"),
    "char GPT": (["05_char_gpt.py", "--text", "{text}"], ("char_gpt", "val_loss"), "<=", 1.90,
                 "char GPT, nanoGPT CPU recipe, tiny Shakespeare: validation loss <= 1.90"),
    "induction": (["08_inside_gpt2.py", "--model", "none"], ("induction", "best_head_score"), ">=", 0.6,
                  "attention-only GPT on repeated random tokens: best induction head's score >= 0.6 "
                  "(attending evenly: 0.04)"),
    "induction time": (None, ("induction", "train_seconds"), "<=", 120.0, "... trained in <= 2 minutes"),
    "vit": (["09_vision_transformer.py"], ("vit_digits", "test_accuracy"), ">=", 0.98,
            "ViT on scikit-learn's 8x8 digits: >= 98% of the 450 test digits"),
    "vit time": (None, ("vit_digits", "train_seconds"), "<=", 180.0, "... trained in <= 3 minutes"),
    "digits": (["10_read_digits.py"], ("digit_strips", "exact_match"), ">=", 0.90,
               "read 4 held-out handwritten digits (8 x 32 pixels): >= 90% of 1,000 strips exactly"),
    "digits time": (None, ("digit_strips", "train_seconds"), "<=", 300.0, "... trained in <= 5 minutes"),
}


def run(script_args, text):
    """Run one tutorial's full mode; return its results ({task: {name: number}}) and the wall time."""
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        command = [sys.executable, str(ROOT / "tutorials" / script_args[0])]
        command += [a.format(text=text) for a in script_args[1:]]
        command += ["--out", str(ROOT / "out" / "targets"), "--results", str(results)]
        print("$", " ".join(command[1:]), flush=True)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-3000:])
            return {}, seconds
        return json.loads(results.read_text()), seconds


def _shown(metric, value):
    """A result as a reader wants it: accuracies in percent, times in seconds, losses as numbers."""
    if value is None:
        return "failed to run"
    if metric == "exact_match" or metric.endswith("accuracy"):
        return f"{value:.1%}"
    if metric.endswith("seconds"):
        return f"{value:.0f} s"
    return f"{value:.4g}"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated names: " + ", ".join(TARGETS))
    parser.add_argument("--text", default=str(SHARED_TEXT), help="the tiny-Shakespeare text file")
    args = parser.parse_args()
    wanted = [n for n in TARGETS if not args.only or n.split()[0] in args.only.split(",")]

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    machine = (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; "
               f"{env or 'OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set'}")

    results, cache = [], {}
    for name in wanted:
        script_args, (task, metric), op, target, meaning = TARGETS[name]
        if script_args is not None:
            cache[name] = run(script_args, args.text)
        results_of_run, seconds = cache.get(name, cache.get(name.split()[0], ({}, 0.0)))
        value = results_of_run.get(task, {}).get(metric)
        ok = value is not None and (value >= target if op == ">=" else value <= target)
        results.append((meaning, _shown(metric, value), seconds if script_args else None, ok))

    print(f"\nmachine: {machine}")
    print("| target | measured | whole run | verdict |\n|---|---|---|---|")
    for meaning, shown, seconds, ok in results:
        wall = "" if seconds is None else f"{seconds:.0f} s"
        print(f"| {meaning} | {shown} | {wall} | {'met' if ok else 'MISSED'} |")
    return 0 if all(r[-1] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
