"""Text generation with GPT-2 124M's shape: tinyattn against Hugging Face transformers.

One GPT-2-shaped model (vocabulary 50,257, 1,024 positions, width 768, 12 layers of 12 heads,
the tanh GELU, head tied to the token embedding) with random weights: tinyattn makes it,
save_pretrained writes it, and transformers.GPT2LMHeadModel.from_pretrained loads the same
file, so both libraries hold the same numbers. The script first checks that the two give the
same logits on the prompt. Then, alternating the two libraries in one process, with a pause
before each timed call (OpenBLAS's threads spin for a while after a call and would steal the
cores from whatever runs next), it times

    prefill   one forward over the prompt that fills the key/value cache, logits at every
              position (ms);
    generate  greedy generation of --new tokens after the prompt, with the cache: tinyattn's
              generate(greedy=True, use_cache=True) and transformers' model.generate(
              do_sample=False), and whether both chose the same tokens;
    decode    the decoding steps' rate: generate makes new - 1 more of them than the same call
              with one new token (a prefill and a pick), also timed, so tokens per second =
              (new - 1) / (generate's time - that call's time). Each library's own prefill and
              fixed costs cancel (transformers' generate prefills with logits at the last
              position only, tinyattn's at every position).

and reports the median of --rounds rounds. Peak memory is measured in a fresh subprocess per
library (the resident high-water mark, VmHWM, minus the process's size after its imports),
since in one process the two libraries' memory would mix. float32, eval mode, no gradients,
--threads threads on both sides (torch.set_num_threads; threadpoolctl for NumPy's BLAS).

    python benchmarks/gpt2_generate.py                  # prompt 128, 128 new tokens, 2 threads
    python benchmarks/gpt2_generate.py --rounds 9 --new 256
    python benchmarks/gpt2_generate.py --quick          # a tiny GPT, a few seconds (the smoke test)
"""
import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import tinyattn
from tinyattn import nn
from tinyattn.generate import generate

GPT2_SMALL = dict(vocab_size=50257, max_len=1024, d_model=768, num_layers=12, num_heads=12)
TINY = dict(vocab_size=500, max_len=64, d_model=32, num_layers=2, num_heads=2)   # --quick
AGREEMENT = 1e-3            # largest |logit difference| on the prompt that counts as the same model


def set_threads(threads, torch=None):
    """`threads` threads for NumPy's BLAS (threadpoolctl) and, when given, for PyTorch."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)
    if torch is not None:
        torch.set_num_threads(threads)


def describe_machine(torch, transformers):
    """CPU, cores, versions, NumPy's BLAS with its threads, and the OpenBLAS variables if set."""
    from threadpoolctl import threadpool_info
    blas = ", ".join(f"{i['internal_api']} {i['version']} ({i.get('architecture', '?')}, "
                     f"{i['num_threads']} threads)" for i in threadpool_info() if i["user_api"] == "blas")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores; python {platform.python_version()}, numpy "
          f"{np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"transformers {transformers.__version__}")
    print(f"NumPy's BLAS: {blas}")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    print("environment:", env or "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set")


def load_theirs(torch, transformers, directory):
    """transformers' GPT2LMHeadModel from the files tinyattn saved, float32, eval mode. Their
    generation config would stop at GPT-2's end-of-text id (50256) and, with min_new_tokens, ban
    it instead: neither happens in tinyattn's generate, so the id is cleared."""
    model = transformers.GPT2LMHeadModel.from_pretrained(directory, dtype=torch.float32).eval()
    model.generation_config.eos_token_id = None
    return model


def our_prefill(model, prompt):
    """One forward over the prompt (1, T) that fills a fresh cache; returns the logits (1, T, V)."""
    with tinyattn.no_grad():
        return model(prompt, cache=[])


def their_prefill(torch, model, prompt):
    with torch.no_grad():
        return model(prompt, use_cache=True).logits


def our_generate(model, prompt, new):
    return generate(model, prompt, new, greedy=True, use_cache=True)


def their_generate(torch, model, prompt, new):
    with torch.no_grad():
        return model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                              max_new_tokens=new, min_new_tokens=new, pad_token_id=0)


def timed(fn, pause):
    """(wall seconds, process CPU seconds, result) of fn(), after `pause` seconds of sleep."""
    time.sleep(pause)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _status(field):
    """A field of /proc/self/status in bytes (VmRSS: resident now; VmHWM: its peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field} (the memory figures need Linux)")


def memory_child(args):
    """Run in a fresh process: load one library's model from args.model_dir, prefill and generate
    once, and print one JSON line of resident sizes (bytes): after the imports (the baseline),
    after loading, and the peak while prefilling and generating."""
    prompt = np.random.default_rng(args.seed).integers(0, args.vocab, (1, args.prompt))
    if args.memory_of == "transformers":
        import torch
        import transformers
        transformers.utils.logging.disable_progress_bar()
        set_threads(args.threads, torch)
        _ = transformers.GPT2LMHeadModel           # transformers imports its model code when first asked
        baseline = _status("VmRSS")
        model = load_theirs(torch, transformers, args.model_dir)
        prompt = torch.tensor(prompt)
        run = lambda: (their_prefill(torch, model, prompt), their_generate(torch, model, prompt, args.new))
    else:
        set_threads(args.threads)
        baseline = _status("VmRSS")
        model = nn.GPT.from_pretrained(args.model_dir)
        prompt = tinyattn.tensor(prompt)
        run = lambda: (our_prefill(model, prompt), our_generate(model, prompt, args.new))
    load_peak = _status("VmHWM")
    gc.collect()                              # the file's arrays, if loading left them in a cycle
    ctypes.CDLL("libc.so.6").malloc_trim(0)   # hand back what loading freed, then reset the peak
    loaded = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    run()
    print(json.dumps(dict(baseline=baseline, loaded=loaded, load_peak=load_peak, peak=_status("VmHWM"))))


def measure_memory(library, directory, args):
    """The JSON of memory_child for one library, run in its own Python process."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(tinyattn.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    command = [sys.executable, os.path.abspath(__file__), "--memory-of", library, "--model-dir", directory,
               "--vocab", str(args.vocab), "--prompt", str(args.prompt), "--new", str(args.new),
               "--threads", str(args.threads), "--seed", str(args.seed)]
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    if run.returncode:
        sys.exit(f"the memory run of {library} failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def first_difference(a, b):
    """Index of the first position where rows a and b differ, or None."""
    differ = np.flatnonzero(a != b)
    return int(differ[0]) if differ.size else None


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are printed")
    parser.add_argument("--prompt", type=int, default=128, help="prompt length in tokens")
    parser.add_argument("--new", type=int, default=128, help="new tokens to generate")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pause", type=float, default=1.5, help="seconds of sleep before each timed call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny GPT (width 32, 2 layers), 16 + 16 tokens, 2 rounds, short pauses")
    parser.add_argument("--no-memory", action="store_true", help="skip the two memory subprocesses")
    # the memory subprocess's own arguments
    parser.add_argument("--memory-of", choices=["tinyattn", "transformers"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--vocab", type=int, default=GPT2_SMALL["vocab_size"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        return memory_child(args)

    shape = TINY if args.quick else GPT2_SMALL
    if args.quick:
        args.prompt, args.new, args.rounds, args.pause = 16, 16, 2, 0.1
    args.vocab = shape["vocab_size"]
    if args.prompt + args.new > shape["max_len"]:
        sys.exit(f"--prompt + --new must be at most {shape['max_len']} (the model's positions)")
    import torch
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    set_threads(args.threads, torch)
    describe_machine(torch, transformers)

    tinyattn.manual_seed(args.seed)
    ours = nn.GPT(**shape, activation="gelu_tanh").eval()       # GPT-2's "gelu_new", head tied
    directory = tempfile.TemporaryDirectory()
    ours.save_pretrained(directory.name)
    theirs = load_theirs(torch, transformers, directory.name)
    tokens = np.random.default_rng(args.seed).integers(0, args.vocab, (1, args.prompt))
    our_prompt, their_prompt = tinyattn.tensor(tokens), torch.tensor(tokens)
    size = sum(p.numel() for p in theirs.parameters())
    print(f"model: {size / 1e6:.1f}M parameters ({', '.join(f'{k} {v}' for k, v in shape.items())}), "
          f"float32, random weights; prompt {args.prompt} tokens, {args.new} new, greedy")

    logits = our_prefill(ours, our_prompt).numpy()
    difference = float(np.abs(logits - their_prefill(torch, theirs, their_prompt).numpy()).max())
    print(f"same model: largest |logit difference| on the prompt {difference:.1e} "
          f"({'within' if difference <= AGREEMENT else 'NOT within'} {AGREEMENT:g})")
    if difference > AGREEMENT:
        sys.exit("the two models disagree: the timings would compare different computations")

    # warm-up: one short call of each, so no first-call cost lands in round 1
    our_generate(ours, our_prompt, 2)
    their_generate(torch, theirs, their_prompt, 2)
    calls = {"tinyattn": {"prefill": lambda: our_prefill(ours, our_prompt),
                          "first token": lambda: our_generate(ours, our_prompt, 1),
                          "generate": lambda: our_generate(ours, our_prompt, args.new)},
             "transformers": {"prefill": lambda: their_prefill(torch, theirs, their_prompt),
                              "first token": lambda: their_generate(torch, theirs, their_prompt, 1),
                              "generate": lambda: their_generate(torch, theirs, their_prompt, args.new)}}
    kinds = ("prefill", "first token", "generate", "prefill cpu", "generate cpu")
    times = {name: {kind: [] for kind in kinds} for name in calls}
    outputs = {}
    for round_ in range(args.rounds):
        order = list(calls) if round_ % 2 == 0 else list(calls)[::-1]   # who goes first alternates too
        for kind in ("prefill", "first token", "generate"):
            for name in order:
                wall, cpu, result = timed(calls[name][kind], args.pause)
                times[name][kind].append(wall)
                if kind != "first token":
                    times[name][kind + " cpu"].append(cpu)
                if kind == "generate":
                    outputs[name] = np.asarray(result.numpy())[0, args.prompt:]
        print(f"round {round_ + 1}: " + "; ".join(
            f"{name} prefill {t['prefill'][-1] * 1e3:.0f} ms, first token "
            f"{t['first token'][-1] * 1e3:.0f} ms, generate {t['generate'][-1]:.2f} s"
            for name, t in times.items()), flush=True)

    different = first_difference(outputs["tinyattn"], outputs["transformers"])
    print(f"same {args.new} greedy tokens: " + ("yes" if different is None else
          f"no, from new token {different + 1} on (random weights leave near-ties between "
          "logits, which the order of float32 roundings can flip)"))
    memory = {}
    if not os.path.exists("/proc/self/clear_refs"):
        print("peak memory: not measured (it reads Linux's /proc/self/status)")
    elif not args.no_memory:
        memory = {name: measure_memory(name, directory.name, args) for name in calls}
    directory.cleanup()
    report(times, memory, args)


def report(times, memory, args):
    """The table: medians, each library's row and the ratio tinyattn / transformers, then the
    spread of the per-round ratios and the memory figures behind the peak."""
    def decode(t, i=None):
        """Tokens per second of the decoding steps: generate(new) makes new - 1 of them more
        than generate(1), which prefills and picks the first token. Of the medians, or of round i."""
        generate = statistics.median(t["generate"]) if i is None else t["generate"][i]
        return (args.new - 1) / (generate - statistics.median(t["first token"]))

    rows = {name: dict(prefill=statistics.median(t["prefill"]) * 1e3, decode=decode(t),
                       generate=statistics.median(t["generate"]),
                       prefill_cpu=statistics.median(t["prefill cpu"]),
                       generate_cpu=statistics.median(t["generate cpu"]),
                       peak=(memory[name]["peak"] - memory[name]["baseline"]) / 2**20
                       if memory else float("nan"))
            for name, t in times.items()}
    ours, theirs = rows["tinyattn"], rows["transformers"]
    rows["tinyattn / transformers"] = {k: ours[k] / theirs[k] for k in ours}
    print(f"\nmedian of {args.rounds} alternating rounds, {args.threads} threads each, prompt {args.prompt}, "
          f"{args.new} new tokens")
    print("| | prefill ms | decode tok/s | generate s | peak MB | CPU s: prefill / generate |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        ratio = name.startswith("tinyattn /")
        print(f"| {name} | {r['prefill']:.{2 if ratio else 1}f} | {r['decode']:.{2 if ratio else 1}f} | "
              f"{r['generate']:.2f} | {r['peak']:.{2 if ratio else 0}f} | "
              f"{r['prefill_cpu']:.{2 if ratio else 3}f} / {r['generate_cpu']:.2f} |")
    mine, peer = times["tinyattn"], times["transformers"]
    spread = lambda values: f"{min(values):.2f}-{max(values):.2f}"
    print(f"per-round ratios: prefill {spread([a / b for a, b in zip(mine['prefill'], peer['prefill'])])}, "
          f"decode tok/s {spread([decode(mine, i) / decode(peer, i) for i in range(args.rounds)])}")
    print(f"decode tok/s = {args.new - 1} decoding steps / (generate's time - the median time of "
          "generate with 1 new token, which prefills and picks the first), higher is better; prefill, "
          "generate and CPU (process time, all threads): lower is better")
    if memory:
        print("peak MB = VmHWM while prefilling and generating, minus the resident size after the "
              "imports, each library in a process of its own; in MB, resident after the imports / after "
              "loading the model / peak while loading: " + "; ".join(
                  f"{name} " + " / ".join(f"{m[k] / 2**20:.0f}" for k in ("baseline", "loaded", "load_peak"))
                  for name, m in memory.items()))


if __name__ == "__main__":
    main()
