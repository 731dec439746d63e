"""Where one GPT training step's time goes, in tinyattn, and what each part costs in PyTorch.

Part 1 times every Function's forward and backward during real training steps (each class's
methods are wrapped with a timer, in this script only), plus the optimiser, and calls the rest
"graph and Python": the step minus what the Functions and the optimiser took.

Part 2 times the step's building blocks on their own, forward + backward at the configuration's
shapes, in both libraries: the linear layers (BLAS matrix products), exact and tanh GELU, layer
norm and causal self-attention. Which parts are at PyTorch's speed and which are not is the
list of what to work on.

    python benchmarks/step_profile.py                    # nano, 2 threads
    python benchmarks/step_profile.py --config medium --threads 1
"""
import argparse
import collections
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from gpt_step import CONFIGS, Pair, describe_machine, import_torch_with_threads  # noqa: E402

import tinyattn  # noqa: E402
import tinyattn.functional as F  # noqa: E402
from tinyattn import nn  # noqa: E402
from tinyattn.engine.autograd import Function  # noqa: E402


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _timed(method, key, totals):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = method(*args, **kwargs)
        totals[key] += time.perf_counter() - start
        return result
    return wrapper


def profile_step(torch, cfg, steps):
    """ms per step spent in each Function's forward/backward and in the optimiser."""
    totals = collections.defaultdict(float)
    for cls in set(_subclasses(Function)):
        for name in ("forward", "backward"):
            if name in cls.__dict__:
                setattr(cls, name, _timed(cls.__dict__[name], f"{cls.__name__}.{name}", totals))
    pair = Pair(torch, cfg, "gelu")
    pair.our_opt.step = _timed(pair.our_opt.step, "AdamW.step", totals)
    for _ in range(3):
        pair.our_step()
    totals.clear()
    start = time.perf_counter()
    for _ in range(steps):
        pair.our_step()
    step_ms = (time.perf_counter() - start) / steps * 1000
    rows = sorted(((k, v / steps * 1000) for k, v in totals.items()), key=lambda kv: -kv[1])
    print(f"\ntinyattn step: {step_ms:.1f} ms (mean of {steps} steps); parts above 0.1 ms:")
    for key, ms in rows:
        if ms >= 0.1:
            print(f"  {key:34s} {ms:7.2f} ms  {100 * ms / step_ms:5.1f} %")
    rest = step_ms - sum(ms for _, ms in rows)
    print(f"  {'graph and Python (the rest)':34s} {rest:7.2f} ms  {100 * rest / step_ms:5.1f} %")


def median_ms(fn, repeats=5, number=5):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number * 1000)
    return statistics.median(times)


def forward_backward(module, x):
    """A function running module(x).backward(upstream) in whichever library x belongs to."""
    upstream = None

    def run():
        nonlocal upstream
        out = module(x)
        if upstream is None:
            upstream = out.detach() * 0 + 1
        out.backward(upstream)
    return run


def compare_parts(torch, cfg):
    """Forward + backward of each building block at the configuration's shapes, both libraries."""
    width, rows = cfg["d_model"], cfg["batch"] * cfg["context"]
    heads, context = cfg["num_heads"], cfg["context"]
    rng = np.random.default_rng(0)
    tinyattn.manual_seed(0)

    def pair_of(shape):
        values = rng.standard_normal(shape).astype(np.float32)
        return (tinyattn.tensor(values, requires_grad=True),
                torch.tensor(values, requires_grad=True))

    attention = nn.MultiHeadAttention(width, heads)
    q, k, v = (torch.nn.Linear(width, width) for _ in range(3))
    out_proj = torch.nn.Linear(width, width)

    def their_attention(x):
        split = lambda t: t.view(x.shape[0], context, heads, -1).transpose(1, 2)
        y = torch.nn.functional.scaled_dot_product_attention(split(q(x)), split(k(x)), split(v(x)),
                                                             is_causal=True)
        return out_proj(y.transpose(1, 2).reshape(x.shape))

    parts = [
        ("linear, all of one layer's", (rows, width), lambda x: _mlp_and_qkv(nn, x, width),
         lambda x: _mlp_and_qkv(torch.nn, x, width)),
        ("GELU, exact", (rows, 4 * width), F.gelu, torch.nn.functional.gelu),
        ("GELU, tanh", (rows, 4 * width), lambda x: F.gelu(x, approximate="tanh"),
         lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
        ("layer norm", (rows, width), nn.LayerNorm(width), torch.nn.LayerNorm(width)),
        ("self-attention + projections", (cfg["batch"], context, width),
         lambda x: attention(x, is_causal=True), their_attention),
    ]
    print("\none forward + backward of each part at this configuration's shapes, median ms of 5:")
    print(f"  {'part':28s} {'tinyattn':>9s} {'PyTorch':>9s} {'ratio':>7s}")
    for name, shape, ours, theirs in parts:
        x_ours, x_theirs = pair_of(shape)
        o = median_ms(forward_backward(ours, x_ours))
        t = median_ms(forward_backward(theirs, x_theirs))
        print(f"  {name:28s} {o:9.2f} {t:9.2f} {o / t:7.2f}")


_LAYERS = {}


def _mlp_and_qkv(library, x, width):
    """The four linear layers of a block (q, k, v packed; out; the two of the MLP), one after
    the other on the same input rows: the BLAS work of one layer."""
    if library not in _LAYERS:
        _LAYERS[library] = [library.Linear(width, 3 * width), library.Linear(width, width),
                            library.Linear(width, 4 * width), library.Linear(4 * width, width)]
    qkv, out, up, down = _LAYERS[library]
    return qkv(x).sum() + out(x).sum() + down(up(x)).sum()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="nano", choices=[c for c in CONFIGS if c != "gpu"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch = import_torch_with_threads(args.threads)
    describe_machine(torch, args.threads)
    print(f"config {args.config}: {CONFIGS[args.config]}, float32, exact GELU, AdamW")
    compare_parts(torch, CONFIGS[args.config])           # first: profile_step wraps the Functions
    profile_step(torch, CONFIGS[args.config], args.steps)


if __name__ == "__main__":
    main()
