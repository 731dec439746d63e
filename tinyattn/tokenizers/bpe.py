"""BPETokenizer: byte-level BPE as GPT-2 does it. Text -> token ids -> text.

Encoding cuts the text at special tokens ("<|endoftext|>"), cuts each piece into chunks with
GPT-2's pattern, and turns each chunk into tokens: start from its bytes and apply the learned
merges, always the earliest-learned (lowest rank) pair present first, until none applies.
Decoding joins the tokens' bytes and reads them as UTF-8.

A token is a `bytes` value here; ids 0..255 are the single bytes of a trained tokenizer, but a
loaded one uses its file's ids (GPT-2's byte "!" is id 0), so every lookup goes through
`vocab` ({id: bytes}) and its inverse.
"""
import re

from ..hub import locate
from .gpt2_files import read_gpt2_files, text_to_token, token_to_text, write_gpt2_files
from .pretokenize import pretokenize
from .train import merge, train_merges

ENDOFTEXT = "<|endoftext|>"


class BPETokenizer:
    """vocab {id: bytes}, merges {(bytes, bytes): rank}, special {text: id}."""

    def __init__(self, vocab=None, merges=None, special=None):
        """With no arguments: the 256 bytes, no merges, no special tokens (then train())."""
        bytes_only = {b: bytes([b]) for b in range(256)}
        self._set(bytes_only if vocab is None else vocab, merges or {}, special or {})

    def _set(self, vocab, merges, special):
        self.vocab, self.merges, self.special = dict(vocab), dict(merges), dict(special)
        self._ids = {token: i for i, token in self.vocab.items()}
        self._chunk_cache = {}   # chunk -> ids, since text repeats its words

    # ---- training ----
    def train(self, text, vocab_size, special_tokens=(ENDOFTEXT,)):
        """Learn vocab_size - 256 - len(special_tokens) merges from `text`; the special tokens take
        the last ids. Returns self."""
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(f"BPETokenizer.train: vocab_size={vocab_size} is less than the 256 bytes "
                             f"plus {len(special_tokens)} special tokens")
        vocab = {b: bytes([b]) for b in range(256)}
        merges = {}
        for rank, ((a, b), new_id) in enumerate(train_merges(text, num_merges)):
            merges[vocab[a], vocab[b]] = rank
            vocab[new_id] = vocab[a] + vocab[b]
        special = {name: len(vocab) + i for i, name in enumerate(special_tokens)}
        self._set(vocab, merges, special)
        return self

    # ---- encoding ----
    def _encode_chunk(self, chunk):
        """One chunk's ids: its bytes, merged lowest rank first until no learned pair is left."""
        tokens = [bytes([b]) for b in chunk.encode("utf-8")]
        while len(tokens) > 1:
            pair = min(zip(tokens, tokens[1:]), key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            tokens = merge(tokens, pair, pair[0] + pair[1])
        return [self._ids[token] for token in tokens]

    def encode_ordinary(self, text):
        """Token ids of `text`, special tokens read as plain text."""
        ids = []
        for chunk in pretokenize(text):
            if chunk not in self._chunk_cache:
                self._chunk_cache[chunk] = self._encode_chunk(chunk)
            ids.extend(self._chunk_cache[chunk])
        return ids

    def encode(self, text, allowed_special="all"):
        """Token ids of `text`. Special tokens in it ("<|endoftext|>") become their ids when
        allowed: "all" (as GPT2TokenizerFast does), "none", or a set of their names."""
        if allowed_special == "all":
            allowed = set(self.special)
        elif allowed_special == "none":
            allowed = set()
        else:
            allowed = set(allowed_special)
            unknown = allowed - set(self.special)
            if unknown:
                raise ValueError(f"BPETokenizer.encode: unknown special tokens {sorted(unknown)}; "
                                 f"this tokenizer has {sorted(self.special)}")
        if not allowed:
            return self.encode_ordinary(text)
        # longest first, so a special token that starts another never cuts it short
        splitter = "(" + "|".join(re.escape(s) for s in sorted(allowed, key=len, reverse=True)) + ")"
        ids = []
        for i, piece in enumerate(re.split(splitter, text)):
            ids.extend([self.special[piece]] if i % 2 else self.encode_ordinary(piece))
        return ids

    # ---- decoding ----
    def decode(self, ids):
        """The text of token ids; bytes that are not valid UTF-8 become U+FFFD, as GPT-2 does."""
        names = {i: name.encode("utf-8") for name, i in self.special.items()}
        try:
            data = b"".join(names[i] if i in names else self.vocab[i] for i in ids)
        except KeyError as missing:
            raise ValueError(f"BPETokenizer.decode: no token has id {missing}; "
                             f"the vocabulary has {len(self)} ids") from None
        return data.decode("utf-8", errors="replace")

    def __len__(self):
        return len(self.vocab) + len(self.special)

    # ---- GPT-2's files ----
    @classmethod
    def from_pretrained(cls, path_or_name):
        """Load `vocab.json` + `merges.txt` from a directory, or from the Hugging Face hub by name
        ("gpt2"; needs `huggingface_hub`). Vocabulary entries that are neither a byte nor the result
        of a merge ("<|endoftext|>") are the special tokens."""
        directory = locate(path_or_name, ("vocab.json", "merges.txt"), "BPETokenizer.from_pretrained")
        texts, merge_pairs = read_gpt2_files(directory)
        merges_file = directory / "merges.txt"
        merges = {}
        for rank, (a, b) in enumerate(merge_pairs):
            merges[text_to_token(a, merges_file), text_to_token(b, merges_file)] = rank
        ordinary = {bytes([b]) for b in range(256)} | {a + b for a, b in merges}
        vocab, special = {}, {}
        for text, i in texts.items():
            token = _as_token(text)
            if token in ordinary:
                vocab[i] = token
            else:
                special[text] = i
        return cls(vocab, merges, special)

    def save_pretrained(self, directory):
        """Write `vocab.json` + `merges.txt` that this class and `transformers` load."""
        texts = {token_to_text(token): i for i, token in self.vocab.items()}
        texts.update(self.special)
        by_rank = sorted(self.merges, key=self.merges.get)
        pairs = [(token_to_text(a), token_to_text(b)) for a, b in by_rank]
        write_gpt2_files(directory, texts, pairs)


def _as_token(text):
    """The bytes a vocab.json entry stands for, or None if it is not in GPT-2's byte table."""
    try:
        return text_to_token(text, "vocab.json")
    except ValueError:
        return None
