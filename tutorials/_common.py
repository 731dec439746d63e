"""What every tutorial shares: its command line, its figures, a compact progress line, its results.

    args = tutorial_args("Reverse digit sequences", default_out="out/03_reverse")
    progress = Progress(total_steps, tokens_per_step)
    ... progress.update(step, loss=..., accuracy=...)
    show(fig, "loss.png")                      # saved into --out; inline too in a notebook
    report({"reverse": {"exact_match": 1.0}}, ["reverse: 100% of the held-out sequences right."])

Every tutorial takes --quick (a few steps, for CI; also `TINYATTN_QUICK=1` in the environment,
which is how a notebook asks for it), --backend numpy|cupy|array_api_strict, --seed, --out DIR
(where its figures go: `out/<tutorial>` at the top of the repository, wherever it runs from),
--results PATH (its numbers as JSON, for benchmarks/tutorial_targets.py) and --reference (every
function through its readable composition of primitives, the code in tinyattn/functional/reference.py).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import tinyattn

REPOSITORY = Path(__file__).resolve().parent.parent
_args = None                                     # this run's options, for show() and report()


def tutorial_args(description, default_out, extra=None):
    """Parse the shared options (and any `extra(parser)` adds); set the backend and the seed."""
    global _args
    parser = argparse.ArgumentParser(description=description)
    quick_from_environment = os.environ.get("TINYATTN_QUICK", "") not in ("", "0")   # how a notebook asks
    parser.add_argument("--quick", action="store_true", default=quick_from_environment,
                        help="a few steps only (what CI runs; or TINYATTN_QUICK=1)")
    parser.add_argument("--backend", default="numpy", help="numpy | cupy | array_api_strict")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPOSITORY / default_out), help="directory for the figures")
    parser.add_argument("--results", help="write the results as JSON to this file")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default 1: these matrices are small, and a second "
                             "thread mostly waits for the first, or for whatever else runs)")
    parser.add_argument("--reference", action="store_true",
                        help="reference mode: run every function through its readable composition "
                             "of primitives instead of the fused, faster paths (slower, same numbers)")
    if extra is not None:
        extra(parser)
    args, _ = parser.parse_known_args()          # known only: a notebook kernel passes its own
    if args.reference:                           # for the whole run: entered, never left
        tinyattn.reference_mode().__enter__()
        print("reference mode: every function runs as its readable composition of primitives")
    if not _in_notebook():                       # a script writes files; it needs no screen
        import matplotlib
        matplotlib.use("Agg")
    _limit_blas_threads(args.threads)
    tinyattn.set_backend(args.backend)
    tinyattn.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    _args = args
    return args


def show(fig, name):
    """Save matplotlib figure `fig` as `name` in the --out directory and close it; in a notebook,
    also show the saved picture below the cell."""
    import matplotlib.pyplot as plt
    path = os.path.join(_args.out, name)
    fig.savefig(path, dpi=110)
    plt.close(fig)                               # closed: a long run does not keep every figure
    if _in_notebook():
        from IPython.display import Image, display
        display(Image(filename=path))


def report(results, sentences):
    """The end of a run: one sentence per task for the reader, and with --results the numbers
    as JSON ({task: {name: number}}), for benchmarks/tutorial_targets.py and the tests."""
    print("\n".join(sentences))
    if _args.results:
        with open(_args.results, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


def _in_notebook():
    """True under a Jupyter kernel (a notebook, or nbclient executing one)."""
    ipython = sys.modules.get("IPython")         # never imported here: a script has no kernel
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and "IPKernelApp" in shell.config


def _limit_blas_threads(threads):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                          # optional: without it BLAS picks for itself
        return
    threadpool_limits(threads)


class Progress:
    """Prints `step 120/2000  loss 0.412  acc 93.1%  41k tok/s  0:21 left` every `every` steps."""

    def __init__(self, total_steps, tokens_per_step=0, every=None, unit="tok"):
        self.total, self.tokens_per_step, self.unit = total_steps, tokens_per_step, unit
        self.every = every or max(1, total_steps // 20)
        self.start = time.perf_counter()

    def update(self, step, **metrics):
        """Call after each step (0-based); prints on every `every`-th step and on the last."""
        done = step + 1
        if done % self.every and done != self.total:
            return
        elapsed = time.perf_counter() - self.start
        parts = [f"step {done:>{len(str(self.total))}}/{self.total}"]
        for name, value in metrics.items():
            parts.append(f"{name} {value:.1%}" if name.startswith("acc") else f"{name} {value:.4f}")
        if self.tokens_per_step:
            parts.append(f"{done * self.tokens_per_step / elapsed / 1000:.0f}k {self.unit}/s")
        left = elapsed / done * (self.total - done)
        parts.append(f"{int(left // 60)}:{int(left % 60):02d} left")
        print("  ".join(parts), flush=True)

    def elapsed(self):
        return time.perf_counter() - self.start
