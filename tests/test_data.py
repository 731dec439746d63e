"""Toy tasks produce what they claim; the text download verifies its checksum."""
import hashlib

import numpy as np
import pytest

from tinyattn import data


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_reverse_batch_targets_are_the_reversed_source_then_eos(rng):
    src, dec_in, dec_out = data.seq2seq_batch("reverse", 4, 6, rng)
    np.testing.assert_array_equal(dec_out[:, :-1], src[:, ::-1])
    assert np.all(dec_out[:, -1] == data.EOS) and np.all(dec_in[:, 0] == data.BOS)
    np.testing.assert_array_equal(dec_in[:, 1:], dec_out[:, :-1])


def test_sort_batch_answers_are_sorted_and_the_prompt_is_ignored(rng):
    inputs, targets = data.sort_batch(3, 5, rng)
    answer = targets[:, 5:]
    np.testing.assert_array_equal(answer, np.sort(inputs[:, :5], axis=1))
    assert np.all(targets[:, :4] == data.IGNORE)


def test_addition_batch_answer_decodes_to_the_sum(rng):
    inputs, targets, pairs = data.addition_batch(50, 3, rng)
    answer = targets[:, -4:]
    np.testing.assert_array_equal(data.decode_addition(answer), pairs.sum(axis=1))
    assert np.all(targets[:, : 2 * 3 + 1] == data.IGNORE)


def test_char_dataset_round_trips_text_and_batches_shift_by_one(rng):
    text = "hello world, hello tinyattn" * 10
    ds = data.CharDataset(text)
    assert ds.decode(ds.encode(text)) == text
    x, y = ds.batch("train", 4, 8, rng)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])


def test_download_verifies_the_checksum(tmp_path):
    source = tmp_path / "corpus.txt"
    source.write_text("to be or not to be")
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    path = data.download(source.as_uri(), good, cache_dir=tmp_path / "cache")
    assert path.read_text() == "to be or not to be"
    with pytest.raises(ValueError, match="SHA-256"):
        data.download(source.as_uri(), "0" * 64, cache_dir=tmp_path / "other")


def test_default_corpus_is_python_source_on_this_machine():
    text = data.stdlib_corpus(max_chars=50_000)
    assert len(text) == 50_000 and "def " in text


def test_char_dataset_batches_reach_the_last_window_and_need_context_plus_1_tokens():
    ds = data.CharDataset("abcdefghij", val_fraction=0.0)
    windows = (ds.batch("train", 1, 4, np.random.default_rng(seed)) for seed in range(200))
    starts = {int(x[0, 0]) for x, _ in windows}
    assert starts == set(range(len("abcdefghij") - 4))           # "a" ... "f": the last window too
    with pytest.raises(ValueError, match="the train split has 10 tokens, fewer than context \\+ 1 = 11"):
        ds.batch("train", 1, 10, np.random.default_rng(0))
