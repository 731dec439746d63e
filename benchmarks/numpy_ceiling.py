"""How fast can a GPT training step on plain NumPy be, next to PyTorch's?

benchmarks/handfused/ writes the step by hand, with no autograd engine: the forward, a derived
backward, AdamW over one flat buffer, and every trick that saves a pass or a NumPy call (see its
files). What separates it from PyTorch is the cost of running a step as a sequence of NumPy calls
on this machine: an engine built on NumPy, tinyattn included, can at best come as close. A second
variant splits the batch over 2 Python threads (BLAS on 1 thread each), the one parallelism NumPy
leaves to its caller.

First the hand-fused steps are checked against PyTorch from the same weights and tokens: the losses
over `--check` AdamW steps and the gradients of the first. Then the hand-fused step, the split step,
tinyattn's step and PyTorch's are warmed up and timed *alternately*, several rounds, 2 threads
(as in gpt_step.py, only ratios measured side by side mean anything on a machine whose speed drifts).

    python benchmarks/numpy_ceiling.py                           # nano, exact GELU
    python benchmarks/numpy_ceiling.py --activation gelu_tanh --rounds 9
    python benchmarks/numpy_ceiling.py --config small --breakdown   # also: where the step's time goes
"""
import argparse
import collections
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from gpt_step import CONFIGS, VOCAB, Pair, describe_machine, import_torch_with_threads, timed  # noqa: E402
from handfused.step import HandFusedGPT, SplitHandFusedGPT  # noqa: E402

THREADS = 2              # the split variant's two halves; the machines measured have 2 cores
LOSS_TOLERANCE = 1e-3    # relative, on every step's loss; float32 round-off gives about 1e-6
GRADIENT_TOLERANCE = 1e-4   # max |ours - theirs| / max |theirs|; float32 round-off gives ~1.5e-6


def their_gradients(torch, pair):
    """{parameter name: gradient} of PyTorch's model at its current weights, without a step."""
    logits = pair.theirs(pair.their_x)
    loss = torch.nn.functional.cross_entropy(logits.view(-1, VOCAB), pair.their_y.view(-1))
    pair.their_opt.zero_grad(set_to_none=True)
    loss.backward()
    return {name: param.grad.numpy() for name, param in pair.theirs.named_parameters()}


def check(torch, pair, models, steps):
    """Correctness before speed: every model against PyTorch from the same weights and tokens.

    Gradients of one step: max |ours - theirs| / max |theirs| per parameter, the worst printed,
    except k_proj.bias, whose true gradient is 0 (softmax ignores a shift common to a query's
    scores, and a key bias adds q . b to all of them), so only its size is printed. Then `steps`
    AdamW steps each: the largest relative difference of the losses. Exits if either passes its
    tolerance."""
    reference = their_gradients(torch, pair)
    their_losses = [pair.their_step() for _ in range(steps)]
    print(f"check against PyTorch: loss rel. diff over {steps} AdamW steps; gradients of the first step")
    for name, model in models.items():
        model.fwd_bwd(pair.x, pair.y)
        ours = model.gradients()
        worst, worst_name = max((np.abs(ours[n] - g).max() / np.abs(g).max(), n)
                                for n, g in reference.items() if not n.endswith("k_proj.bias"))
        key_bias = max(np.abs(ours[n]).max() for n in reference if n.endswith("k_proj.bias"))
        losses = [model.step(pair.x, pair.y) for _ in range(steps)]
        loss_diff = max(abs(a - b) / abs(b) for a, b in zip(losses, their_losses))
        print(f"  {name:18s} loss {loss_diff:.1e}   gradient {worst:.1e} (worst: {worst_name}),"
              f" k_proj.bias |grad| <= {key_bias:.1e}")
        if loss_diff > LOSS_TOLERANCE:
            sys.exit(f"{name}: losses differ from PyTorch's by {loss_diff:.1e} > {LOSS_TOLERANCE}")
        if worst > GRADIENT_TOLERANCE:
            sys.exit(f"{name}: the gradient of {worst_name} differs from PyTorch's by {worst:.1e} "
                     f"> {GRADIENT_TOLERANCE}")


def compare(runs, rounds, steps):
    """Warm each run up, then time all of them in turn, `rounds` times: ms/step per round."""
    for run in runs.values():
        for _ in range(5):
            run()
    ms = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            ms[name].append(timed(run, steps))
    return ms


class SectionTimer:
    """The profiling hook: mark(category) adds the time since the previous mark to that category."""

    def __init__(self):
        self.seconds = collections.defaultdict(float)
        self.last = time.perf_counter()

    def mark(self, category):
        now = time.perf_counter()
        self.seconds[category] += now - self.last
        self.last = now


def breakdown(pair, hand, rounds, steps):
    """Where the hand-fused step's time goes: rounds of `steps` profiled steps, each followed by as
    many PyTorch steps; the round with the median ratio is printed, part by part."""
    results = []
    for _ in range(rounds):
        timer = SectionTimer()
        start = time.perf_counter()
        for _ in range(steps):
            hand.step(pair.x, pair.y, timer.mark)
        total = (time.perf_counter() - start) / steps * 1000
        results.append((total / timed(pair.their_step, steps), total,
                        {part: s / steps * 1000 for part, s in timer.seconds.items()}))
    ratio, total, parts = sorted(results, key=lambda result: result[0])[len(results) // 2]
    print(f"hand-fused step, profiled: {total:.2f} ms/step, {ratio:.2f}x PyTorch (median round)")
    for part, ms in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {part:20s} {ms:7.2f} ms  {100 * ms / total:5.1f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="nano", choices=["small", "nano", "medium"])
    parser.add_argument("--activation", default="gelu", choices=["gelu", "gelu_tanh"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--check", type=int, default=20, help="steps whose losses are compared")
    parser.add_argument("--breakdown", action="store_true", help="also time the hand-fused step by part")
    args = parser.parse_args()

    torch = import_torch_with_threads(THREADS)
    describe_machine(torch, THREADS)
    cfg = CONFIGS[args.config]
    pair = Pair(torch, cfg, args.activation)
    state = {name: value.numpy() for name, value in pair.ours.state_dict().items()}
    hand = HandFusedGPT(state, VOCAB, args.activation, **cfg)
    split = SplitHandFusedGPT(state, VOCAB, args.activation, **cfg)
    print(f"config {args.config} ({', '.join(f'{k} {v}' for k, v in cfg.items())}), float32, AdamW,"
          f" activation {args.activation}")
    check(torch, pair, {"hand-fused": hand, f"hand-fused split {THREADS}": split}, args.check)

    # as in gpt_step.py: rounds of about the same work whatever the configuration's size
    steps = max(3, int(2000 / (cfg["batch"] * cfg["context"] * cfg["d_model"] / 4096)))
    runs = {"hand-fused": lambda: hand.step(pair.x, pair.y),
            f"hand-fused split {THREADS}": lambda: split.step(pair.x, pair.y),
            "tinyattn": pair.our_step, "pytorch": pair.their_step}
    ms = compare(runs, args.rounds, steps)
    print(f"median of {args.rounds} alternating rounds of {steps} steps, {THREADS} threads")
    print(f"  {'':18s} {'ms/step':>8s}  {'ratio':>5s}  per-round ratios")
    theirs = statistics.median(ms["pytorch"])
    for name, times in ms.items():
        ratios = [ours / their for ours, their in zip(times, ms["pytorch"])]
        print(f"  {name:18s} {statistics.median(times):8.2f}  {statistics.median(times) / theirs:5.2f}"
              f"  {min(ratios):.2f}-{max(ratios):.2f}")
    if args.breakdown:
        breakdown(pair, hand, args.rounds, steps)


if __name__ == "__main__":
    main()
