r"""GPT-2's pre-tokenizer: cut text into chunks that BPE never merges across.

GPT-2 splits text with this pattern, written for the `regex` package:

    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+

so a chunk is an English contraction, a run of letters, of digits or of other symbols (each may
carry one leading space), or a run of whitespace. The last two alternatives keep the final space
of a whitespace run for the word after it: "a   b" gives "a", "  ", " b".

Python's `re` has no `\p{L}` (letter) or `\p{N}` (number) classes, and tinyattn needs NumPy only,
so we build those two classes ourselves from `unicodedata`'s categories (L*: Lu Ll Lt Lm Lo;
N*: Nd Nl No) as ranges of code points, and the pattern reads as GPT-2's. One more difference:
`re`'s `\s` also matches the four separators U+001C..U+001F, which are not Unicode whitespace
(`regex` and Hugging Face's tokenizers count them as symbols), so here whitespace is `\s` without
them and symbols are the rest with them. tests/test_tokenizer.py checks the pattern against the
`regex` package over every code point assigned in Python's Unicode version (`unicodedata` does
not know characters newer than it).
"""
import functools
import re
import sys
import unicodedata


def _category_class(prefix):
    """A `re` character class body holding every code point whose category starts with `prefix`,
    e.g. "L" for letters: "A-Za-z\\xaa..." (ranges of consecutive code points)."""
    ranges, start = [], None
    for code in range(sys.maxunicode + 2):
        inside = code <= sys.maxunicode and unicodedata.category(chr(code)).startswith(prefix)
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append((start, code - 1))
            start = None
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)


@functools.cache
def gpt2_pattern():
    """GPT-2's pre-tokenizer pattern, compiled for Python's `re` (built once, in about half a second)."""
    letter, number = _category_class("L"), _category_class("N")
    space, not_space = r"[^\S\x1c-\x1f]", r"[\S\x1c-\x1f]"   # Unicode whitespace, and the rest
    symbol = rf"(?:[^\s{letter}{number}]|[\x1c-\x1f])"         # neither letter, number nor space
    return re.compile(
        r"'s|'t|'re|'ve|'m|'ll|'d"
        rf"| ?[{letter}]+"                  # letters, one optional space before them
        rf"| ?[{number}]+"                  # digits and other numbers
        rf"| ?{symbol}+"                    # anything else that is not whitespace
        rf"|{space}+(?!{not_space})"        # whitespace, leaving the last space to the next word
        rf"|{space}+"                       # whitespace at the end of the text
    )


def pretokenize(text):
    """Split `text` into GPT-2's chunks: "Hello world's" -> ["Hello", " world", "'s"].
    The chunks joined give `text` back."""
    return gpt2_pattern().findall(text)
