"""BPETokenizer: GPT-2's pre-tokenizer, training, encode/decode, and GPT-2's files.

The oracles are Hugging Face's: a tokenizer trained here by `tokenizers` (no download), saved as
vocab.json + merges.txt, must encode every test string exactly as `transformers`'
GPT2TokenizerFast does on the same files; the pattern must split as the `regex` package does.
"""
import random
import sys
import unicodedata

import pytest
from fake_hub import install_fake_hub
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyattn.tokenizers import ENDOFTEXT, BPETokenizer, pretokenize
from tinyattn.tokenizers.gpt2_files import bytes_to_unicode
from tinyattn.tokenizers.train import PairCounts, count_pairs

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

PIECES = [
    "Hello", "world", "the", " quick", "brown fox", "don't", "it's", "we're", "they've", "I'm",
    "you'll", "he'd", "'S", "O'Neil", "rock'n'roll", "12", "3.14159", "2026", "١٢٣", "½", "Ⅻ",
    "naïve", "café", "Straße", "日本語", "中文", "한국어", "Привет", "مرحبا", "שלום", "🙂", "👍🏽",
    "e\u0301", "\u200b", "\u00a0", "\t", "\n", "\r\n", "   ", "  \n  ", "\u3000", "\x1c", "\x85",
    "!!!", "?!", "...", "--", "(x)", "[1, 2]", "{'a': 1}", "#", "$100", "@user", "a_b", "C++",
    "<|endoftext|>", "<|endoftext", "|>", "´", "ǅ", "ꙮ", "\U0001d400", "\x00", "\x7f",
]


def _strings(count, seed=0):
    """Hand-picked edge cases, then `count` random joins of PIECES with random whitespace runs."""
    rng = random.Random(seed)
    fixed = ["", " ", "  ", "\n", "\n\n\n", " \n ", "a", " a", "a ", "a  b", "a \n b", "'s", " 's",
             "'ll've", "x's y't", "123abc", "abc123", "a1b2", "1 2  3", "\t\tindent", "trailing   "]
    fixed += PIECES
    made = []
    for _ in range(count):
        parts = rng.choices(PIECES, k=rng.randint(1, 8))
        gaps = rng.choices(["", " ", "  ", "\n", " \t", "   "], k=len(parts))
        made.append("".join(g + p for g, p in zip(gaps, parts)))
    return fixed + made


STRINGS = _strings(300)


def _corpus():
    rng = random.Random(1)
    return [" ".join(rng.choices(PIECES, k=12)) for _ in range(400)]


@pytest.fixture(scope="module")
def hf_trained_dir(tmp_path_factory):
    """vocab.json + merges.txt written by Hugging Face's `tokenizers` after training on _corpus()."""
    hf_tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is a dev-only oracle")
    directory = tmp_path_factory.mktemp("hf_bpe")
    trainer = hf_tokenizers.ByteLevelBPETokenizer()
    trainer.train_from_iterator(_corpus(), vocab_size=600, min_frequency=1, special_tokens=[ENDOFTEXT])
    trainer.save_model(str(directory))
    return directory


@pytest.fixture(scope="module")
def trained():
    return BPETokenizer().train("\n".join(_corpus()), vocab_size=500)


# ---- the pre-tokenizer ----

def test_the_pattern_cuts_words_contractions_and_whitespace_as_gpt2():
    assert pretokenize("Hello world's   end\n") == ["Hello", " world", "'s", "  ", " end", "\n"]


def test_the_pattern_splits_as_the_regex_package_on_every_test_string():
    regex = pytest.importorskip("regex", reason="regex is a dev-only oracle")
    pattern = regex.compile(GPT2_PATTERN)
    wrong = [s for s in STRINGS if pretokenize(s) != pattern.findall(s)]
    assert not wrong, f"{len(wrong)} of {len(STRINGS)} differ, e.g. {wrong[:3]!r}"


def test_the_pattern_splits_as_the_regex_package_on_every_assigned_code_point():
    """Each character between letters, digits and spaces; characters newer than Python's
    `unicodedata` are left out (the two libraries carry different Unicode versions)."""
    regex = pytest.importorskip("regex", reason="regex is a dev-only oracle")
    pattern = regex.compile(GPT2_PATTERN)
    assigned = [chr(c) for c in range(sys.maxunicode + 1)
                if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    for start in range(0, len(assigned), 4096):
        text = "".join(f"a{c}1 {c}{c}  x  {c}\n" for c in assigned[start:start + 4096])
        assert pretokenize(text) == pattern.findall(text), f"code points from U+{ord(assigned[start]):04X}"


# ---- equal to transformers' GPT2TokenizerFast on the same files ----

def test_encode_equals_gpt2_tokenizer_fast_on_files_trained_by_hf_tokenizers(hf_trained_dir):
    transformers = pytest.importorskip("transformers", reason="transformers is a dev-only oracle")
    theirs = transformers.GPT2TokenizerFast.from_pretrained(str(hf_trained_dir))
    ours = BPETokenizer.from_pretrained(hf_trained_dir)
    assert len(STRINGS) >= 300
    wrong = [s for s in STRINGS if ours.encode(s) != theirs(s)["input_ids"]]
    assert not wrong, f"{len(wrong)} of {len(STRINGS)} differ, e.g. {wrong[:3]!r}"


def test_gpt2_tokenizer_fast_reads_our_saved_files_and_encodes_alike(trained, tmp_path):
    transformers = pytest.importorskip("transformers", reason="transformers is a dev-only oracle")
    trained.save_pretrained(tmp_path)
    theirs = transformers.GPT2TokenizerFast.from_pretrained(str(tmp_path))
    wrong = [s for s in STRINGS if trained.encode(s) != theirs(s)["input_ids"]]
    assert not wrong, f"{len(wrong)} of {len(STRINGS)} differ, e.g. {wrong[:3]!r}"


def test_the_byte_table_is_gpt2s():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("A")] == "A"
    hf_tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is a dev-only oracle")
    assert set(table.values()) == set(hf_tokenizers.pre_tokenizers.ByteLevel.alphabet())


# ---- round trips and special tokens ----

def test_decode_inverts_encode_on_every_test_string(trained, hf_trained_dir):
    for tokenizer in (trained, BPETokenizer.from_pretrained(hf_trained_dir)):
        wrong = [s for s in STRINGS if tokenizer.decode(tokenizer.encode(s)) != s]
        assert not wrong, wrong[:3]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_decode_inverts_encode_on_any_text(trained, text):
    assert trained.decode(trained.encode(text)) == text


def test_save_and_load_give_the_same_tokenizer(trained, tmp_path):
    trained.save_pretrained(tmp_path)
    loaded = BPETokenizer.from_pretrained(tmp_path)
    assert loaded.vocab == trained.vocab and loaded.merges == trained.merges
    assert loaded.special == trained.special == {ENDOFTEXT: 499}


def test_the_special_token_is_one_id_and_can_be_read_as_text(trained):
    eot = trained.special[ENDOFTEXT]
    assert trained.encode(f"a{ENDOFTEXT}b") == trained.encode("a") + [eot] + trained.encode("b")
    as_text = trained.encode(ENDOFTEXT, allowed_special="none")
    assert eot not in as_text and trained.decode(as_text) == ENDOFTEXT
    assert trained.encode(ENDOFTEXT, allowed_special={ENDOFTEXT}) == [eot]


# ---- training ----

def test_training_is_deterministic_and_gives_the_vocab_size():
    text = "\n".join(_corpus())
    first, second = BPETokenizer().train(text, 400), BPETokenizer().train(text, 400)
    assert first.merges == second.merges and first.vocab == second.vocab
    assert len(first) == 400


def test_training_merges_the_most_frequent_pair_first_and_ties_to_the_smallest_ids():
    """Chunks "aaab" once and " aaab" twice: "aa" occurs 6 times; then ("aa", "a") and ("a", "b")
    occur 3 times each, and ("a", "b") = (97, 98) is smaller than ("aa", "a") = (256, 97)."""
    tokenizer = BPETokenizer().train("aaab aaab aaab", 258, special_tokens=())
    assert list(tokenizer.merges) == [(b"a", b"a"), (b"a", b"b")]


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="ab c\n'é1", max_size=60), st.integers(1, 20))
def test_incremental_pair_counts_equal_a_recount_after_every_merge(text, steps):
    state = PairCounts(text)
    for step in range(steps):
        if not state.counts:
            break
        state.merge(state.most_frequent(), 256 + step)
        assert state.counts == count_pairs(state.chunks, state.weights)
        for pair, holders in state.where.items():
            assert holders == {i for i, ids in enumerate(state.chunks) if pair in zip(ids, ids[1:])}


# ---- clear errors ----

def test_a_vocab_size_below_the_bytes_is_refused():
    with pytest.raises(ValueError, match="vocab_size=255 is less than the 256 bytes"):
        BPETokenizer().train("abc", 255, special_tokens=())


def test_an_unknown_special_token_is_named(trained):
    with pytest.raises(ValueError, match=r"unknown special tokens \['<\|im_start\|>'\]"):
        trained.encode("hi", allowed_special={"<|im_start|>"})


def test_an_unknown_id_is_refused_on_decode(trained):
    with pytest.raises(ValueError, match="no token has id 500"):
        trained.decode([1, 500])


def test_a_missing_file_is_named(trained, tmp_path):
    trained.save_pretrained(tmp_path)
    (tmp_path / "merges.txt").unlink()
    with pytest.raises(FileNotFoundError, match="merges.txt"):
        BPETokenizer.from_pretrained(tmp_path)


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory: .*nowhere"):
        BPETokenizer.from_pretrained(tmp_path / "nowhere")


def test_a_malformed_merges_line_is_named(trained, tmp_path):
    trained.save_pretrained(tmp_path)
    with open(tmp_path / "merges.txt", "a", encoding="utf-8") as f:
        f.write("a b c\n")
    with pytest.raises(ValueError, match=r"merges.txt, line \d+: expected two tokens"):
        BPETokenizer.from_pretrained(tmp_path)


# ---- hub names ----

def test_a_hub_name_is_fetched_through_huggingface_hub(trained, tmp_path, monkeypatch):
    trained.save_pretrained(tmp_path / "repo")
    asked = install_fake_hub(monkeypatch, {"openai-community/gpt2": tmp_path / "repo"}, tmp_path / "cache")
    loaded = BPETokenizer.from_pretrained("openai-community/gpt2")
    assert asked == [("openai-community/gpt2", "vocab.json"), ("openai-community/gpt2", "merges.txt")]
    assert loaded.merges == trained.merges


def test_a_hub_name_without_huggingface_hub_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ImportError, match="pip install huggingface_hub"):
        BPETokenizer.from_pretrained("gpt2")
