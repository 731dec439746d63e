"""Peak memory and time of one attention forward + backward: standard, flash and sliding window.

One sequence, one head, width 64, float32: q, k, v of shape (1, 1, T, 64) requiring grad, and a
fixed random upstream gradient; causal attention by
  standard  tinyattn.attention.scaled_dot_product_attention(q, k, v, is_causal=True): T x T weights
  flash     tinyattn.flash_attention(q, k, v, is_causal=True): tiles of 128 x 128, recomputed in backward
  window    tinyattn.window_attention(q, k, v, W): each query sees the last W keys, T x 2W scores

First the peak memory at T = 4096 (tracemalloc, and Linux's VmHWM as gpt_step.py measures it),
checked against the efficient-attention issue's requirement: flash's peak <= 1/8 of standard's.
Then the median time over T = 1024 .. 8192, a line time = a T + b and the exponent p of
time ~ T^p fitted for each, and a log-log plot of time and memory.

    python benchmarks/attention_cost.py                   # about 2 minutes on one core
    python benchmarks/attention_cost.py --window 128 --rounds 9
    python benchmarks/attention_cost.py --standard-up-to 4096    # skip the 2 GB standard run
"""
import argparse
import functools
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tutorials"))
from _attention_cost import (  # noqa: E402
    attention_functions,
    attention_inputs,
    fit,
    keep_freed_memory,
    peak_bytes,
    plot_costs,
    step,
    sweep,
)
from gpt_step import peak_memory_of  # noqa: E402

MIB = 2**20


def describe_machine():
    """The CPU, the versions, and the BLAS library with its thread count (read back after pinning)."""
    from threadpoolctl import threadpool_info
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores; python {platform.python_version()}, "
          f"numpy {np.__version__}")
    for pool in threadpool_info():
        if pool["user_api"] == "blas":
            print(f"BLAS: {pool['internal_api']} {pool['version']} ({pool.get('architecture', '?')}), "
                  f"{pool['num_threads']} thread(s)")
    env = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    print("environment:", ", ".join(env) or "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set")


def peak_memory_table(attentions, length):
    """Peak memory of each attention's step at `length`: {name: (tracemalloc bytes, VmHWM bytes)}."""
    print(f"\npeak memory of one forward + backward at T = {length} (q, k, v and the upstream "
          "gradient allocated before, so not counted):")
    print("  tracemalloc: the most bytes NumPy and Python held at once during the step, above the start")
    print("  VmHWM: how far the process's peak resident size rose above its size before the step")
    print(f"  {'attention':<14} {'tracemalloc MB':>15} {'VmHWM MB':>10}")
    q, k, v, g = attention_inputs(length)
    peaks = {}
    for name, attend in attentions.items():
        step(attend, q, k, v, g)                      # warm-up: first-call work is not the step's
        peaks[name] = (peak_bytes(attend, q, k, v, g),
                       peak_memory_of(functools.partial(step, attend, q, k, v, g)))
        print(f"  {name:<14} {peaks[name][0] / MIB:15.1f} {peaks[name][1] / MIB:10.1f}")
    return peaks


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=int, default=256, help="W of the window attention")
    parser.add_argument("--memory-length", type=int, default=4096, help="T of the memory comparison")
    parser.add_argument("--lengths", default="1024,2048,4096,8192", help="T of the time sweep")
    parser.add_argument("--standard-up-to", type=int, default=8192,
                        help="longest T for standard attention (at 8192 it holds about 2 GB)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="timing rounds, each one step of every point; a point's time is the median")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default 1: on a shared 2-core machine two threads "
                             "make timings erratic)")
    parser.add_argument("--out", default="out/benchmarks")
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        sys.exit("attention_cost needs threadpoolctl to pin the BLAS threads: pip install threadpoolctl")
    keep_freed_memory()
    describe_machine()
    print(f"BLAS pinned to {args.threads} thread(s) with threadpoolctl; malloc keeps freed memory (arrays up "
          "to 32 MB are reused, not mapped afresh); float32, batch 1, one head, width 64")

    attentions = attention_functions(args.window)
    standard, flash, window = attentions
    peaks = peak_memory_table(attentions, args.memory_length)
    met = True
    for i, measure in enumerate(("tracemalloc", "VmHWM")):
        ratio = peaks[flash][i] / peaks[standard][i]
        met &= ratio <= 1 / 8
        print(f"flash / standard peak memory at T = {args.memory_length} by {measure}: {ratio:.4f} "
              f"(1/{1 / ratio:.0f}); requirement <= 1/8 = 0.125: {'met' if ratio <= 1 / 8 else 'NOT MET'}")

    lengths = [int(t) for t in args.lengths.split(",")]
    print(f"\nforward + backward against T: median of {args.rounds} rounds, each timing one step of every "
          "point in turn (after a warm-up step of each)")
    costs = sweep(attentions, lengths, args.rounds, longest={standard: args.standard_up_to})
    print("\nfitted over the measured lengths: time = a T + b, and the exponent p of time ~ T^p")
    for name, row in costs.items():
        a, b, p = fit(row["lengths"], row["seconds"])
        print(f"  {name:<14} a = {a * 1e6:8.2f} ms per 1,000 tokens, b = {b * 1e3:8.1f} ms, p = {p:.2f}")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "attention_cost.png")
    plot_costs(costs, "Causal self-attention, one forward + backward: batch 1, one head, width 64, "
                      f"float32, {args.threads} BLAS thread(s)").savefig(path, dpi=110)
    print("plot written to", path)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
