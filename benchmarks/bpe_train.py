"""Time BPE training: tinyattn's BPETokenizer against Hugging Face's `tokenizers` (Rust), one core.

Both learn 1,000 merges (a vocabulary of 256 bytes + 1,000 merges + <|endoftext|>) from the same
text, tiny Shakespeare by default, in one run. Hugging Face's trainer runs with
TOKENIZERS_PARALLELISM=false, so it too uses one thread. The script also says how many of the
learned merges the two have in common (they break ties between equally frequent pairs differently,
so a few late merges may differ).

    python benchmarks/bpe_train.py                          # downloads tiny Shakespeare once
    python benchmarks/bpe_train.py --text some.txt --merges 2000
"""
import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"   # before `tokenizers` is imported: one thread

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing
from tinyattn.data import TINYSHAKESPEARE_SHA256, TINYSHAKESPEARE_URL, download  # noqa: E402
from tinyattn.tokenizers import ENDOFTEXT, BPETokenizer  # noqa: E402
from tinyattn.tokenizers.gpt2_files import token_to_text  # noqa: E402


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, help="a UTF-8 text file (default: tiny Shakespeare)")
    parser.add_argument("--merges", type=int, default=1000)
    args = parser.parse_args()
    path = args.text or download(TINYSHAKESPEARE_URL, TINYSHAKESPEARE_SHA256)
    data = Path(path).read_bytes()
    text = data.decode("utf-8")
    vocab_size = 256 + args.merges + 1

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}")
    print(f"text: {path}, {len(data):,} bytes, SHA-256 {hashlib.sha256(data).hexdigest()[:16]}...")
    print(f"task: learn {args.merges:,} merges (vocab_size={vocab_size}, with {ENDOFTEXT})\n")

    start = time.perf_counter()
    ours = BPETokenizer().train(text, vocab_size)
    ours_seconds = time.perf_counter() - start
    print(f"tinyattn BPETokenizer.train:            {ours_seconds:6.2f} s  ({len(ours.merges):,} merges)")

    try:
        import tokenizers
    except ImportError:
        print("Hugging Face tokenizers: not installed (pip install tokenizers) - no comparison")
        return
    theirs = tokenizers.ByteLevelBPETokenizer()
    start = time.perf_counter()
    theirs.train_from_iterator([text], vocab_size=vocab_size, min_frequency=1, special_tokens=[ENDOFTEXT],
                               show_progress=False)
    theirs_seconds = time.perf_counter() - start
    their_merges = {tuple(m.split(" ")) for m in _merges(theirs)}
    print(f"tokenizers {tokenizers.__version__} (Rust, 1 thread):   {theirs_seconds:6.2f} s  "
          f"({len(their_merges):,} merges)")
    print(f"\ntinyattn / tokenizers: {ours_seconds / theirs_seconds:.0f}x the time")
    our_merges = {(token_to_text(a), token_to_text(b)) for a, b in ours.merges}
    print(f"merges learned by both: {len(our_merges & their_merges):,} of {len(our_merges):,}")


def _merges(hf_tokenizer):
    """Hugging Face's learned merges as "a b" strings (through its JSON form, version-proof)."""
    merges = json.loads(hf_tokenizer.to_str())["model"]["merges"]
    return [m if isinstance(m, str) else " ".join(m) for m in merges]


if __name__ == "__main__":
    main()
