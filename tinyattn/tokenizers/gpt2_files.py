"""GPT-2's tokenizer files: `vocab.json` (token -> id) and `merges.txt` (one merge a line, by rank).

Both files store tokens as text, yet BPE tokens are bytes. GPT-2 maps each of the 256 bytes to a
printable character: the printable Latin-1 bytes stand for themselves, and the others (control
bytes, the space, ...) are moved to the characters from U+0100 on, in byte order. So the space
0x20 is written "Ġ" (U+0120) and " the" is the token "Ġthe".
"""
import json
from pathlib import Path

MERGES_HEADER = "#version: 0.2"


def bytes_to_unicode():
    """{byte: character} for all 256 bytes, GPT-2's table."""
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}   # "!".."~", "¡".."¬", "®".."ÿ"
    table, moved = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + moved)
            moved += 1
    return table


_BYTE_TO_CHAR = bytes_to_unicode()
_CHAR_TO_BYTE = {char: byte for byte, char in _BYTE_TO_CHAR.items()}


def token_to_text(token):
    """bytes -> the text vocab.json stores: b" the" -> "Ġthe"."""
    return "".join(_BYTE_TO_CHAR[b] for b in token)


def text_to_token(text, path):
    """The inverse of token_to_text; a character outside GPT-2's table is an error naming the file."""
    try:
        return bytes(_CHAR_TO_BYTE[c] for c in text)
    except KeyError as missing:
        raise ValueError(f"{path}: token {text!r} has a character {missing} "
                         "outside GPT-2's byte table") from None


def _require(path):
    if not path.is_file():
        raise FileNotFoundError(f"BPETokenizer: no such file: {path}")
    return path


def read_gpt2_files(directory):
    """-> (vocab {text: id}, merges [(text, text)] in rank order) from `directory`."""
    directory = Path(directory)
    vocab_path, merges_path = _require(directory / "vocab.json"), _require(directory / "merges.txt")
    vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    merges = []
    for number, line in enumerate(merges_path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#version") or not line.strip():
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"{merges_path}, line {number}: expected two tokens, got {line!r}")
        merges.append((parts[0], parts[1]))
    return vocab, merges


def write_gpt2_files(directory, vocab, merges):
    """Write vocab {text: id} and merges [(text, text)] as `transformers` writes them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ordered = dict(sorted(vocab.items(), key=lambda item: item[1]))
    (directory / "vocab.json").write_text(json.dumps(ordered, ensure_ascii=False), encoding="utf-8")
    lines = [MERGES_HEADER] + [f"{a} {b}" for a, b in merges]
    (directory / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
