"""Tokenizers: text to token ids and back, byte-level BPE as GPT-2 does it, needing NumPy only
(and not even that). Nothing here uses the engine.

Read first `pretokenize.py` (GPT-2's pattern that cuts text into chunks), then `train.py` (learning
merges, with pair counts kept up to date), `gpt2_files.py` (vocab.json, merges.txt and GPT-2's
byte table), and `bpe.py` (BPETokenizer: encode, decode, special tokens, from/save_pretrained).
"""
from .bpe import ENDOFTEXT, BPETokenizer
from .pretokenize import pretokenize
