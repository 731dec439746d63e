"""Time one training step of a small MLP in tinyattn and in PyTorch, on the CPU.

The model: 64 -> 128 -> 128 -> 10, ReLU between the layers, batch 64, float32, a softmax
cross-entropy written from primitives (logits - logsumexp via max / exp / sum / log, then the
target's log-probability picked with a one-hot mask), and an Adam update (each library's own
optimiser, the same hyper-parameters). Both libraries start
from the same weights, so their losses can be compared, and are timed alternately in one process
(round after round) so that a change in the machine's speed affects both alike.

    python benchmarks/mlp_step.py                   # 7 rounds x 200 steps each, 2 threads
    python benchmarks/mlp_step.py --threads 1
    python benchmarks/mlp_step.py --rounds 3 --steps 50 --backend array_api_strict
"""
import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import threadpoolctl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing
import tinyattn  # noqa: E402

WIDTHS = (64, 128, 128, 10)
BATCH = 64
LR = 1e-3


def initial_weights(seed=0):
    """[(W, b), ...] as float32 NumPy arrays, W of shape (in, out): the layer is x @ W + b."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n_in, n_out), dtype=np.float32) / np.float32(np.sqrt(n_in)),
             np.zeros(n_out, dtype=np.float32)) for n_in, n_out in zip(WIDTHS[:-1], WIDTHS[1:])]


def batch(seed=1):
    """Inputs (BATCH, 64) and the one-hot encoding (BATCH, 10) of random class labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, WIDTHS[0]), dtype=np.float32)
    onehot = np.eye(WIDTHS[-1], dtype=np.float32)[rng.integers(0, WIDTHS[-1], BATCH)]
    return x, onehot


# -- the same step, written once per library ----------------------------------------------------
def tinyattn_step(params, opt, x, onehot):
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = h.relu()
    m = h.max(axis=-1, keepdims=True).detach()          # for stability only: no gradient through it
    log_probs = h - m - (h - m).exp().sum(axis=-1, keepdims=True).log()
    loss = -(log_probs * onehot).sum() / BATCH
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def torch_step(params, opt, x, onehot):
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = h.relu()
    m = h.max(dim=-1, keepdim=True).values.detach()
    log_probs = h - m - (h - m).exp().sum(dim=-1, keepdim=True).log()
    loss = -(log_probs * onehot).sum() / BATCH
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def make_tinyattn(backend):
    params = [tinyattn.tensor(a, requires_grad=True, backend=backend)
              for layer in initial_weights() for a in layer]
    x, onehot = (tinyattn.tensor(a, backend=backend) for a in batch())
    opt = tinyattn.optim.Adam(params, lr=LR)
    return lambda: tinyattn_step(params, opt, x, onehot)


def make_torch():
    params = [torch.tensor(a, requires_grad=True) for layer in initial_weights() for a in layer]
    x, onehot = (torch.tensor(a) for a in batch())
    opt = torch.optim.Adam(params, lr=LR)
    return lambda: torch_step(params, opt, x, onehot)


# -- measuring ------------------------------------------------------------------------------------
def ms_per_step(step, steps, synchronize=lambda: None):
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return (time.perf_counter() - start) * 1000 / steps


def machine():
    """Lines describing what the numbers were measured on."""
    model = "unknown"
    if os.path.exists("/proc/cpuinfo"):
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                      if line.startswith("model name")), model)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [f"CPU: {model}, {os.cpu_count()} cores ({usable} usable), {platform.machine()}",
             f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}"]
    for pool in threadpoolctl.threadpool_info():
        if pool["user_api"] == "blas":
            lines.append(f"BLAS: {pool['internal_api']} {pool.get('version')} ({pool.get('architecture')}), "
                         f"{pool['num_threads']} threads, {Path(pool['filepath']).name}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if var in os.environ:
            lines.append(f"{var}={os.environ[var]}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200, help="steps per round")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--backend", default="numpy", choices=["numpy", "array_api_strict", "cupy"])
    parser.add_argument("--threads", type=int, default=2, help="for PyTorch and for NumPy's BLAS alike")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    threadpoolctl.threadpool_limits(args.threads, user_api="blas")    # NumPy's BLAS: the same number

    ours, theirs = make_tinyattn(args.backend), make_torch()
    losses = [(ours().item(), theirs().item()) for _ in range(5)]    # identical weights and data
    for _ in range(args.warmup):
        ours(), theirs()

    sync = tinyattn.get_backend(args.backend).synchronize
    times = {"tinyattn": [], "pytorch": []}
    for _ in range(args.rounds):
        times["tinyattn"].append(ms_per_step(ours, args.steps, sync))
        times["pytorch"].append(ms_per_step(theirs, args.steps))

    print("\n".join(machine()))
    print(f"threads: torch.set_num_threads({args.threads}); NumPy's BLAS limited to {args.threads} "
          "(threadpoolctl)")
    print(f"model {' -> '.join(map(str, WIDTHS))}, batch {BATCH}, float32, tinyattn backend {args.backend}")
    print("first 5 losses, tinyattn vs pytorch: " + ", ".join(f"{a:.5f}/{b:.5f}" for a, b in losses))
    print(f"max |loss difference| over them: {max(abs(a - b) for a, b in losses):.2e}")
    print()
    print(f"{args.rounds} rounds x {args.steps} steps, alternating")
    print(f"{'':10} {'median ms/step':>15} {'min':>8} {'max':>8}")
    for name, ts in times.items():
        print(f"{name:10} {statistics.median(ts):15.3f} {min(ts):8.3f} {max(ts):8.3f}")
    ratio = statistics.median(times["tinyattn"]) / statistics.median(times["pytorch"])
    print(f"ratio tinyattn / pytorch: {ratio:.2f}")


if __name__ == "__main__":
    main()
