"""One AdamW training step of a GPT: tinyattn against PyTorch eager, on the same model.

Both models are built with identical shapes and tinyattn's weights are copied into PyTorch's, so
the losses can be compared (they are printed after `--check` steps). Then both are warmed up and
timed *alternately* in one process, several rounds: the machine's speed drifts, and only ratios
measured side by side mean anything. Printed: median ms/step, tokens/s, the ratio
tinyattn/PyTorch, and the peak memory one step adds (Linux's VmHWM, reset before each step).

    python benchmarks/gpt_step.py                       # the three CPU configurations
    python benchmarks/gpt_step.py --config nano --rounds 9
    python benchmarks/gpt_step.py --sweep               # context 64..1024: time and memory plot
    python benchmarks/gpt_step.py --flat                # resident memory over 1,000 steps
    python benchmarks/gpt_step.py --backend cupy --config gpu   # on a machine with a GPU
"""
import argparse
import ctypes
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from torch_gpt import copy_weights, torch_gpt  # noqa: E402

import tinyattn  # noqa: E402
import tinyattn.functional as F  # noqa: E402
from tinyattn import nn, optim  # noqa: E402

CONFIGS = {   # vocab 65 (tiny Shakespeare's characters), float32
    "small": dict(d_model=64, num_layers=2, num_heads=4, context=32, batch=32),
    "nano": dict(d_model=128, num_layers=4, num_heads=4, context=64, batch=12),    # nanoGPT CPU recipe
    "medium": dict(d_model=256, num_layers=4, num_heads=8, context=128, batch=16),
    "gpu": dict(d_model=512, num_layers=6, num_heads=8, context=256, batch=32),
}
VOCAB = 65


def peak_memory_of(fn):
    """Bytes by which the process's peak resident memory rose while fn ran (Linux only).

    Freed memory is first handed back to the system (glibc's malloc_trim), or memory that an
    earlier step freed but the allocator kept would hide what this step needs."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                      # resets VmHWM (the peak) to the current size
    except OSError:
        fn()
        return float("nan")
    before = _status("VmRSS")
    fn()
    return _status("VmHWM") - before


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return float("nan")


class Pair:
    """The same GPT in both libraries, with AdamW, and one step function for each."""

    def __init__(self, torch, cfg, activation, seed=0, attention="standard"):
        tinyattn.manual_seed(seed)
        self.cfg, self.torch = cfg, torch
        shape = dict(vocab_size=VOCAB, d_model=cfg["d_model"], num_heads=cfg["num_heads"],
                     num_layers=cfg["num_layers"], max_len=cfg["context"])
        self.ours = nn.GPT(**shape, activation=activation, attention=attention)
        self.theirs = torch_gpt(torch, **shape, activation=activation)
        copy_weights(self.ours, self.theirs, torch)
        self.our_opt = optim.AdamW(self.ours.parameters(), lr=1e-3, weight_decay=0.1)
        self.their_opt = torch.optim.AdamW(self.theirs.parameters(), lr=1e-3, weight_decay=0.1)
        rng = np.random.default_rng(seed)
        tokens = rng.integers(0, VOCAB, size=(cfg["batch"], cfg["context"] + 1))
        self.x, self.y = tokens[:, :-1], tokens[:, 1:]
        self.our_x, self.our_y = tinyattn.tensor(self.x), tinyattn.tensor(self.y)
        self.their_x, self.their_y = torch.tensor(self.x), torch.tensor(self.y)

    def our_step(self):
        loss = F.cross_entropy(self.ours(self.our_x), self.our_y)
        self.our_opt.zero_grad()
        loss.backward()
        self.our_opt.step()
        return loss.item()

    def their_step(self):
        logits = self.theirs(self.their_x)
        loss = self.torch.nn.functional.cross_entropy(logits.view(-1, VOCAB), self.their_y.view(-1))
        self.their_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.their_opt.step()
        return loss.item()


def timed(step, steps, sync=lambda: None):
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - start) / steps * 1000


def compare(torch, name, args):
    cfg = CONFIGS[name]
    pair = Pair(torch, cfg, args.activation)
    ours_losses = [pair.our_step() for _ in range(args.check)]
    their_losses = [pair.their_step() for _ in range(args.check)]
    worst = max(abs(a - b) / abs(b) for a, b in zip(ours_losses, their_losses))
    steps = args.steps or max(3, int(2000 / (cfg["batch"] * cfg["context"] * cfg["d_model"] / 4096)))
    ours_ms, theirs_ms = [], []
    for _ in range(args.rounds):               # alternate, so drifts in machine speed hit both
        ours_ms.append(timed(pair.our_step, steps, tinyattn.get_backend().synchronize))
        theirs_ms.append(timed(pair.their_step, steps))
    ours_mem = peak_memory_of(pair.our_step)
    theirs_mem = peak_memory_of(pair.their_step)
    tokens = cfg["batch"] * cfg["context"]
    o, t = statistics.median(ours_ms), statistics.median(theirs_ms)
    print(f"{name:7s} {o:9.2f} {t:9.2f} {o / t:7.2f}   {tokens / o:8.1f} {tokens / t:8.1f}"
          f"   {ours_mem / 2**20:8.1f} {theirs_mem / 2**20:8.1f}   {worst:.1e} ({args.check} steps)")
    return o, t


def sweep(torch, args):
    """Time and peak memory of a step against the context length (nano model, batch 1), for
    tinyattn's standard attention, its flash attention, and PyTorch (whose CPU SDPA is itself a
    flash-style kernel)."""
    lengths = [64, 128, 256, 512, 1024]
    rows = []
    print("context   ms/step: standard    flash  PyTorch   peak MB: standard    flash  PyTorch")
    for length in lengths:
        cfg = dict(CONFIGS["nano"], context=length, batch=1)
        pair, flash = Pair(torch, cfg, args.activation), Pair(torch, cfg, args.activation, attention="flash")
        steps = (pair.our_step, flash.our_step, pair.their_step)
        for step in steps:
            step()
        times = [statistics.median(timed(step, 3) for _ in range(3)) for step in steps]
        rows.append((length, *times, *(peak_memory_of(step) / 2**20 for step in steps)))
        print("%7d   %17.1f %8.1f %8.1f   %17.1f %8.1f %8.1f" % rows[-1])
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    for column, label in ((1, "tinyattn, standard attention"), (2, "tinyattn, attention='flash'"),
                          (3, "PyTorch (flash-style SDPA)")):
        ax_t.plot(lengths, [r[column] for r in rows], "o-", label=label)
        ax_m.plot(lengths, [r[column + 3] for r in rows], "o-", label=label)
    ax_t.set(xscale="log", yscale="log", xlabel="context length T", ylabel="ms per step",
             title="Step time vs context (nano GPT, batch 1)")
    ax_m.set(xscale="log", yscale="log", xlabel="context length T", ylabel="peak MB added by a step",
             title="Step memory vs context")
    for ax in (ax_t, ax_m):
        ax.set_xticks(lengths, labels=[str(n) for n in lengths])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(f"{args.out}/context_sweep.png", dpi=110)
    print("plot written to", f"{args.out}/context_sweep.png")


def flat_memory(torch, args, steps=1000):
    """Resident memory of tinyattn's training loop (small config) at intervals over `steps`
    steps: a loop that keeps something alive per step shows a steady climb."""
    pair = Pair(torch, CONFIGS["small"], args.activation)
    marks = {}
    for step in range(1, steps + 1):
        pair.our_step()
        if step in (10, 100, 250, 500, 750, 1000):
            marks[step] = _status("VmRSS") / 2**20
    print("tinyattn small, resident MB after step: "
          + ", ".join(f"{s}: {mb:.1f}" for s, mb in marks.items()))
    print(f"growth from step 100 to step {steps}: {marks[steps] - marks[100]:+.1f} MB")


def import_torch_with_threads(threads):
    """PyTorch, with both libraries set to `threads` threads (NumPy's BLAS through threadpoolctl)."""
    import torch
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
    except ImportError:
        pass
    return torch


def describe_machine(torch, threads):
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i['internal_api']} {i['version']} ({i.get('architecture', '?')})"
                         for i in threadpool_info() if i["user_api"] == "blas")
    except ImportError:
        blas = "threadpoolctl not installed"
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores; python {platform.python_version()}, "
          f"numpy {np.__version__}, torch {torch.__version__}")
    print(f"BLAS: {blas}; threads: {threads} (torch.set_num_threads and threadpoolctl)")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    print("environment:", env or "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small,nano,medium",
                        help="comma-separated: " + ", ".join(CONFIGS))
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=0, help="steps per round (default: by size)")
    parser.add_argument("--check", type=int, default=20, help="steps whose losses are compared")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--activation", default="gelu", choices=["gelu", "gelu_tanh", "relu"])
    parser.add_argument("--sweep", action="store_true", help="context-length sweep instead")
    parser.add_argument("--flat", action="store_true", help="memory over 1,000 steps instead")
    parser.add_argument("--out", default="out/benchmarks")
    args = parser.parse_args()

    torch = import_torch_with_threads(args.threads)
    try:
        tinyattn.set_backend(args.backend)
    except tinyattn.BackendUnavailable as e:
        sys.exit(str(e))
    if args.backend != "numpy":
        # the PyTorch twin is always built on the CPU: the ratio is then not like for like
        print(f"note: PyTorch runs on the CPU here; tinyattn on {args.backend}. The ratio compares the two "
              "devices, not the two libraries.")
    describe_machine(torch, args.threads)
    if args.sweep:
        return sweep(torch, args)
    if args.flat:
        return flat_memory(torch, args)
    print(f"float32, AdamW, activation {args.activation}; median of {args.rounds} alternating rounds")
    print("config   ms/step: tinyattn  pytorch  ratio   tok/ms: tinyattn pytorch   peak MB: tinyattn pytorch"
          "   loss rel. diff")
    for name in args.config.split(","):
        compare(torch, name, args)


if __name__ == "__main__":
    main()
