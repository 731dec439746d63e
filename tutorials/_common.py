"""What every tutorial shares: its command line and a compact progress line.

    args = tutorial_args("Reverse digit sequences", default_out="out/03_reverse")
    progress = Progress(total_steps, tokens_per_step)
    ... progress.update(step, loss=..., accuracy=...)

Every tutorial takes --quick (a few steps, for CI), --backend numpy|cupy|array_api_strict,
--seed, --out DIR (where its figures go) and --reference (every function through its readable
composition of primitives, the code in tinyattn/functional/reference.py).
"""
import argparse
import os
import time

import tinyattn


def tutorial_args(description, default_out, extra=None):
    """Parse the shared options (and any `extra(parser)` adds); set the backend and the seed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a few steps only (what CI runs)")
    parser.add_argument("--backend", default="numpy", help="numpy | cupy | array_api_strict")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=default_out, help="directory for the figures")
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
    _limit_blas_threads(args.threads)
    tinyattn.set_backend(args.backend)
    tinyattn.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    return args


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
