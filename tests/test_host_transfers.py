"""Device-to-host transfers of a training step, counted on array_api_strict's emulated device.

On a GPU every value read into Python (float(x), bool(x), int(x), an index, to_numpy) makes the
host wait until the device has finished all queued work, so a step should read only what a
check of the user's input needs. Here each such read of a strict array is counted: a GPT step
(forward, loss, backward, clipping, AdamW) reads two, the smallest and largest token id of the
embedding's input (one transfer) and whether any target of the loss is not a class id (one).
"""
import math

import array_api_strict
import pytest

import tinyattn
import tinyattn.functional as F
from tinyattn import nn, optim
from tinyattn.backend.strict_backend import StrictBackend

_READS = ("__bool__", "__int__", "__float__", "__index__", "__complex__")


@pytest.fixture
def reads(monkeypatch):
    """A list that gets the name of every read of a strict array into Python, within the
    strict backend and the fused paths."""
    seen = []
    array_type = type(array_api_strict.zeros(0))

    def counting(owner, name):
        original = getattr(owner, name)

        def read(*args, **kwargs):
            seen.append(name)
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, read)

    for name in _READS:
        counting(array_type, name)
    counting(StrictBackend, "to_numpy")
    with tinyattn.use_backend("array_api_strict"), tinyattn.reference_mode(False):
        yield seen


def _gpt_and_batch():
    tinyattn.manual_seed(0)
    model = nn.GPT(vocab_size=11, d_model=8, num_heads=2, num_layers=2, max_len=16)
    ids = tinyattn.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    return model, ids, tinyattn.tensor([[2, 3, 4, 5], [6, 7, 8, 9]])


def test_a_gpt_training_step_reads_the_device_twice(reads):
    model, ids, targets = _gpt_and_batch()
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(2):                      # the second step: AdamW's state exists
        reads.clear()
        loss = F.cross_entropy(model(ids), targets)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1e-3)
        opt.step()
        assert reads == ["to_numpy", "__bool__"]     # the ids' (min, max); any bad target


def test_an_embedding_lookup_reads_its_ids_range_once(reads):
    model, ids, _ = _gpt_and_batch()
    model.token_embedding(ids)
    assert reads == ["to_numpy"]


def test_cross_entropy_reads_once_whether_a_target_is_bad(reads):
    logits = tinyattn.randn(6, 5, requires_grad=True)
    F.cross_entropy(logits, tinyattn.tensor([0, 4, 1, -100, 2, 3]), ignore_index=-100).backward()
    assert reads == ["__bool__"]


@pytest.mark.parametrize("max_norm", [1e-3, 1e3], ids=["clipping", "not clipping"])
def test_clip_grad_norm_reads_nothing_from_the_device(reads, max_norm):
    model, ids, targets = _gpt_and_batch()
    F.cross_entropy(model(ids), targets).backward()
    reads.clear()
    total = optim.clip_grad_norm_(model.parameters(), max_norm)
    assert reads == []
    assert total.shape == () and total.backend.name == "array_api_strict"


def test_clip_grad_norm_reads_the_norm_once_when_asked_to_check_it(reads):
    w = tinyattn.tensor([3.0, 4.0], requires_grad=True)
    (w * w).sum().backward()
    reads.clear()
    total = optim.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
    assert reads == ["__float__"] and math.isclose(total.item(), 10.0)
