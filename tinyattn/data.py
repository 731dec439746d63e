"""Toy tasks and text for the tutorials, as batches of integer token ids (host NumPy arrays;
wrap them with tinyattn.tensor to put them on the active backend).

Sequence tasks for the encoder-decoder (copy, reverse) share one small vocabulary:
    0 = PAD, 1 = BOS (begin), 2 = EOS (end), digit d = d + 3.
The decoder reads [BOS, y1 .. yn] and must predict [y1 .. yn, EOS] (teacher forcing).

Tasks for the decoder-only GPT (sort, addition) are one string of tokens per example, prompt
then answer; the targets are the next tokens, with the prompt's positions set to IGNORE so
only the answer is learned and scored.
"""
import hashlib
import os
import sysconfig
import urllib.request
from pathlib import Path

import numpy as np

PAD, BOS, EOS, FIRST_DIGIT = 0, 1, 2, 3
IGNORE = -100          # cross_entropy's default ignore_index


def digits_to_tokens(digits):
    return np.asarray(digits) + FIRST_DIGIT


def tokens_to_digits(tokens):
    return np.asarray(tokens) - FIRST_DIGIT


def seq2seq_batch(task, batch_size, length, rng, num_digits=10):
    """A batch of a sequence task for the encoder-decoder.

    task: "copy" (output = input) or "reverse" (output = input backwards).
    Returns src (B, L), decoder input (B, L + 1) = [BOS, y], decoder target (B, L + 1) = [y, EOS].
    """
    digits = rng.integers(0, num_digits, size=(batch_size, length))
    if task == "copy":
        answer = digits
    elif task == "reverse":
        answer = digits[:, ::-1]
    else:
        raise ValueError(f"seq2seq_batch: unknown task {task!r}; use 'copy' or 'reverse'")
    src = digits_to_tokens(digits)
    out = digits_to_tokens(answer)
    bos = np.full((batch_size, 1), BOS)
    eos = np.full((batch_size, 1), EOS)
    return src, np.concatenate([bos, out], axis=1), np.concatenate([out, eos], axis=1)


def seq2seq_vocab_size(num_digits=10):
    return FIRST_DIGIT + num_digits


# -- decoder-only tasks ---------------------------------------------------------------------------
SEP = 10               # in the sort and addition tasks, digits are themselves (0-9); then:
PLUS, EQUALS = 11, 12
GPT_TASK_VOCAB = 13


def sort_batch(batch_size, length, rng, num_digits=10):
    """Sorting for a GPT: [x1 .. xn, SEP, sorted(x)] -> inputs (B, 2n) and targets (B, 2n),
    where a target is the next token, or IGNORE inside the prompt."""
    x = rng.integers(0, num_digits, size=(batch_size, length))
    sequence = np.concatenate([x, np.full((batch_size, 1), SEP), np.sort(x, axis=1)], axis=1)
    return _next_token_pairs(sequence, prompt_length=length + 1)


def addition_batch(batch_size, num_digits, rng, pairs=None):
    """Addition for a GPT: "a + b = c" with a, b of num_digits digits (zero-padded) and c of
    num_digits + 1 digits written *least significant first*, the order a carry travels.
    pairs: optional (B, 2) array of the operands to use instead of random ones.
    Returns inputs (B, T), targets (B, T), and the operand pairs."""
    if pairs is None:
        pairs = rng.integers(0, 10 ** num_digits, size=(batch_size, 2))
    a, b = pairs[:, 0], pairs[:, 1]
    columns = [_digits(a, num_digits), np.full((len(a), 1), PLUS), _digits(b, num_digits),
               np.full((len(a), 1), EQUALS), _digits(a + b, num_digits + 1)[:, ::-1]]
    sequence = np.concatenate(columns, axis=1)
    inputs, targets = _next_token_pairs(sequence, prompt_length=2 * num_digits + 2)
    return inputs, targets, pairs


def decode_addition(answer_tokens):
    """The integer written least significant digit first in answer_tokens (B, n) -> (B,)."""
    place = 10 ** np.arange(answer_tokens.shape[1])
    return (np.asarray(answer_tokens) * place).sum(axis=1)


def _digits(numbers, width):
    """(B,) non-negative integers -> (B, width) their decimal digits, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1)
    return (np.asarray(numbers)[:, None] // powers) % 10


def _next_token_pairs(sequence, prompt_length):
    inputs, targets = sequence[:, :-1], sequence[:, 1:].copy()
    targets[:, :prompt_length - 1] = IGNORE
    return inputs, targets


# -- character-level text ---------------------------------------------------------------------------
class CharDataset:
    """A text as character ids: vocabulary = its distinct characters, 90% train / 10% validation."""

    def __init__(self, text, val_fraction=0.1):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}
        ids = self.encode(text)
        split = int(len(ids) * (1 - val_fraction))
        self.train, self.val = ids[:split], ids[split:]

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text):
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))

    def batch(self, split, batch_size, context, rng):
        """Random windows: inputs (B, context) and targets (B, context) shifted by one."""
        data = self.train if split == "train" else self.val
        if len(data) < context + 1:
            raise ValueError(f"batch: the {split} split has {len(data)} tokens, fewer than "
                             f"context + 1 = {context + 1} (a window and its next token)")
        starts = rng.integers(0, len(data) - context, size=batch_size)      # last start: len - context - 1
        window = starts[:, None] + np.arange(context + 1)
        chunk = data[window]
        return chunk[:, :-1], chunk[:, 1:]


def stdlib_corpus(max_chars=1_000_000):
    """Text that is on every machine without shipping anyone's book: the Python standard
    library's own source files, read from the running interpreter (deterministic order)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    pieces, total = [], 0
    for path in sorted(root.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        pieces.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return "".join(pieces)[:max_chars]


TINYSHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def download(url, sha256, cache_dir=None, filename=None):
    """Fetch url into cache_dir (default ~/.cache/tinyattn) once, verify its SHA-256, return the path.

    A cached file is checked again before use; a wrong checksum is an error, never a silent
    use of different data. `file://` URLs work too (tests use them)."""
    cache_dir = Path(cache_dir or os.environ.get("TINYATTN_CACHE", Path.home() / ".cache" / "tinyattn"))
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / (filename or url.rstrip("/").rsplit("/", 1)[-1])
    if not path.exists():
        with urllib.request.urlopen(url, timeout=60) as response:
            payload = response.read()
        partial = path.with_suffix(path.suffix + ".part")
        partial.write_bytes(payload)
        partial.replace(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ValueError(f"download: {path} has SHA-256 {digest}, expected {sha256}; delete it and retry")
    return path


def tinyshakespeare(cache_dir=None, url=TINYSHAKESPEARE_URL, sha256=TINYSHAKESPEARE_SHA256):
    """The tiny-Shakespeare text (1.1 MB), downloaded once into the cache and verified.
    url and sha256 can point elsewhere (a mirror, or a test's small `file://` stand-in)."""
    path = download(url, sha256, cache_dir, filename="tinyshakespeare.txt")
    return path.read_text(encoding="utf-8")
