"""safetensors with NumPy alone: tinyattn.load_safetensors / save_safetensors against the
`safetensors` package (and torch for BF16), and hostile files, built byte by byte, refused with a
ValueError naming the file. The hostile-file tests need neither package."""
import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyattn


def _file(path, header, data=b"", header_size=None):
    """A safetensors file: the 8-byte length (header_size, or the real one), the JSON, the data."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    size = len(text) if header_size is None else header_size
    path.write_bytes(struct.pack("<Q", size) + text + data)
    return path


def _refused(path, *words):
    with pytest.raises(ValueError) as info:
        tinyattn.load_safetensors(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    return message


def _arrays(rng):
    return {"wte.weight": rng.standard_normal((7, 4)).astype(np.float32),
            "h.0.ln_1.bias": rng.standard_normal(5),                                  # float64
            "half": rng.standard_normal((2, 3)).astype(np.float16),
            "ids": rng.integers(-2**40, 2**40, size=(3,), dtype=np.int64),
            "small_ids": rng.integers(-9, 9, size=(2, 2), dtype=np.int32),
            "bytes": rng.integers(0, 256, size=(6,), dtype=np.uint8),
            "mask": rng.random((3, 3)) < 0.5,
            "scalar": np.array(2.5, np.float32),
            "empty": np.zeros((0, 3), np.float32)}


def _same(loaded, expected):
    assert list(sorted(loaded)) == list(sorted(expected))
    for name, array in expected.items():
        assert loaded[name].dtype == array.dtype, name
        assert loaded[name].shape == array.shape, name
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)


# --- round trips ---------------------------------------------------------------------------

def test_what_save_writes_load_reads_back_with_metadata(tmp_path, rng):
    arrays = _arrays(rng)
    tinyattn.save_safetensors(arrays, tmp_path / "m.safetensors", metadata={"format": "np"})
    loaded, metadata = tinyattn.load_safetensors(tmp_path / "m.safetensors", with_metadata=True)
    _same(loaded, arrays)
    assert metadata == {"format": "np"}


def test_a_file_without_metadata_gives_an_empty_dict(tmp_path):
    tinyattn.save_safetensors({"x": np.ones(2, np.float32)}, tmp_path / "m.safetensors")
    assert tinyattn.load_safetensors(tmp_path / "m.safetensors", with_metadata=True)[1] == {}
    assert b"__metadata__" not in (tmp_path / "m.safetensors").read_bytes()


def test_the_package_reads_what_tinyattn_writes(tmp_path, rng):
    package = pytest.importorskip("safetensors.numpy")
    arrays = _arrays(rng)
    tinyattn.save_safetensors(arrays, tmp_path / "m.safetensors", metadata={"step": "2000"})
    _same(package.load_file(tmp_path / "m.safetensors"), arrays)
    safetensors = pytest.importorskip("safetensors")
    with safetensors.safe_open(tmp_path / "m.safetensors", "np") as f:
        assert f.metadata() == {"step": "2000"}


def test_tinyattn_reads_what_the_package_writes(tmp_path, rng):
    package = pytest.importorskip("safetensors.numpy")
    arrays = _arrays(rng)
    package.save_file(arrays, tmp_path / "m.safetensors", metadata={"step": "2000", "name": "gpt"})
    loaded, metadata = tinyattn.load_safetensors(tmp_path / "m.safetensors", with_metadata=True)
    _same(loaded, arrays)
    assert metadata == {"step": "2000", "name": "gpt"}


def test_the_file_is_the_one_the_package_writes_byte_for_byte(tmp_path, rng):
    """Same order (widest dtype first, then by name), same JSON, same padding to 8 bytes."""
    package = pytest.importorskip("safetensors.numpy")
    arrays = _arrays(rng)
    tinyattn.save_safetensors(arrays, tmp_path / "ours.safetensors", metadata={"a": "b"})
    package.save_file(arrays, tmp_path / "theirs.safetensors", metadata={"a": "b"})
    ours = (tmp_path / "ours.safetensors").read_bytes()
    assert ours == (tmp_path / "theirs.safetensors").read_bytes()
    assert struct.unpack("<Q", ours[:8])[0] % 8 == 0


def test_bf16_from_torch_reads_as_torchs_own_float32(tmp_path, torch):
    package = pytest.importorskip("safetensors.torch")
    weights = torch.randn(33, 17, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), 1e-40, 3.0e38]).to(torch.bfloat16)
    package.save_file({"w": weights, "special": special}, tmp_path / "bf16.safetensors")
    loaded = tinyattn.load_safetensors(tmp_path / "bf16.safetensors")
    for name, tensor in {"w": weights, "special": special}.items():
        assert loaded[name].dtype == np.float32
        np.testing.assert_array_equal(loaded[name], tensor.float().numpy())
    assert np.signbit(loaded["special"][1])


def test_f16_from_torch_reads_exactly_as_float16(tmp_path, torch):
    package = pytest.importorskip("safetensors.torch")
    weights = torch.randn(9, 5, generator=torch.Generator().manual_seed(1)).half()
    package.save_file({"w": weights}, tmp_path / "f16.safetensors")
    loaded = tinyattn.load_safetensors(tmp_path / "f16.safetensors")["w"]
    assert loaded.dtype == np.float16
    assert loaded.view(np.uint16).tolist() == weights.view(torch.int16).numpy().view(np.uint16).tolist()


def test_tensors_of_the_active_backend_are_saved_from_the_host(tmp_path, backend):
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    weight = tinyattn.tensor(values, requires_grad=True)
    tinyattn.save_safetensors({"tensor": weight, "array": weight.data}, tmp_path / "m.safetensors")
    loaded = tinyattn.load_safetensors(tmp_path / "m.safetensors")
    _same(loaded, {"tensor": values, "array": values})


def test_a_module_state_dict_round_trips(tmp_path):
    model = tinyattn.nn.Linear(4, 3)
    tinyattn.save_safetensors(model.state_dict(), tmp_path / "m.safetensors")
    other = tinyattn.nn.Linear(4, 3)
    other.load_state_dict(tinyattn.load_safetensors(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(other.weight.numpy(), model.weight.numpy())
    np.testing.assert_array_equal(other.bias.numpy(), model.bias.numpy())


def test_big_endian_and_strided_arrays_are_written_as_little_endian_c_order(tmp_path):
    array = np.arange(12, dtype=">f4").reshape(3, 4)
    tinyattn.save_safetensors({"t": array.T, "b": array}, tmp_path / "m.safetensors")
    loaded = tinyattn.load_safetensors(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded["t"], array.T)
    np.testing.assert_array_equal(loaded["b"], array)
    assert loaded["b"].dtype == np.dtype("<f4")


# --- what save refuses ---------------------------------------------------------------------

@pytest.mark.parametrize("array", [np.ones(2, np.complex64), np.array([object()]), np.array(["a"])],
                         ids=["complex", "object", "string"])
def test_save_refuses_dtypes_the_format_does_not_hold(tmp_path, array):
    with pytest.raises(TypeError, match="'x' is .*convert it"):
        tinyattn.save_safetensors({"x": array}, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("metadata", [{"step": 2000}, {1: "a"}, ["a"]])
def test_save_refuses_metadata_that_is_not_strings(tmp_path, metadata):
    with pytest.raises(TypeError, match="metadata must be a dict of strings"):
        tinyattn.save_safetensors({"x": np.ones(2)}, tmp_path / "m.safetensors", metadata=metadata)


@pytest.mark.parametrize("name", ["__metadata__", 3])
def test_save_refuses_names_the_header_cannot_hold(tmp_path, name):
    with pytest.raises(TypeError, match="name must be a string"):
        tinyattn.save_safetensors({name: np.ones(2)}, tmp_path / "m.safetensors")


# --- memory mapping ------------------------------------------------------------------------

def test_arrays_are_read_only_views_of_the_file_and_bf16_is_a_new_array(tmp_path):
    bf16 = np.array([0x3F80, 0xC000], "<u2").tobytes()          # 1.0, -2.0 as bfloat16
    f32 = np.array([1.5, 2.5], "<f4").tobytes()
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "BF16", "shape": [2], "data_offsets": [8, 12]}}
    loaded = tinyattn.load_safetensors(_file(tmp_path / "m.safetensors", header, f32 + bf16))
    assert not loaded["a"].flags.writeable and not loaded["a"].flags.owndata
    assert loaded["b"].tolist() == [1.0, -2.0] and loaded["b"].flags.writeable


def test_loading_a_50_mb_file_does_not_copy_it(tmp_path):
    """Peak resident memory (VmHWM) after loading and summing every array rises by about the file's
    size (its pages, mapped from the kernel's page cache, count as resident once touched), not by
    twice it, as reading the file and copying the arrays out does (measured: 1.0x and 2.0x)."""
    if not open("/proc/self/status").read().count("VmHWM"):
        pytest.skip("needs Linux's /proc/self/status")
    path = tmp_path / "big.safetensors"
    tinyattn.save_safetensors({f"w{i}": np.ones((1024, 1280), np.float32) for i in range(10)}, path)
    script = textwrap.dedent(f"""
        import numpy as np, tinyattn
        def hwm():
            line = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
            return int(line.split()[1]) * 1024
        before = hwm()
        arrays = tinyattn.load_safetensors({str(path)!r})
        total = sum(float(a.sum()) for a in arrays.values())
        print(hwm() - before, total)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    rise, total = out.stdout.split()
    assert float(total) == 10 * 1024 * 1280
    size = path.stat().st_size
    assert int(rise) < 1.5 * size, f"peak RSS rose by {int(rise):,} bytes for a {size:,}-byte file"


# --- hostile files -------------------------------------------------------------------------

def _one(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"x": {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}}


def test_a_valid_hand_built_file_loads(tmp_path):
    """The baseline the hostile files below each change one thing of."""
    path = _file(tmp_path / "m.safetensors", _one(), np.array([1, 2], "<f4").tobytes())
    assert tinyattn.load_safetensors(path)["x"].tolist() == [1.0, 2.0]


def test_a_file_shorter_than_the_length_field_is_refused(tmp_path):
    (tmp_path / "m.safetensors").write_bytes(b"\x01\x00")
    _refused(tmp_path / "m.safetensors", "too short")


def test_a_header_length_beyond_the_file_is_refused(tmp_path):
    path = _file(tmp_path / "m.safetensors", _one(), bytes(8), header_size=5000)
    _refused(path, "5,000-byte header", "only")


def test_a_1_gb_header_claim_is_refused_before_reading_it(tmp_path):
    path = _file(tmp_path / "m.safetensors", _one(), bytes(8), header_size=10**9)
    _refused(path, "1,000,000,000-byte header", "limit of 100,000,000")


def test_a_header_just_over_100_mb_is_refused_without_allocating_it(tmp_path):
    path = tmp_path / "m.safetensors"
    with open(path, "wb") as f:                      # sparse: 100 MB of holes, not on disk
        f.write(struct.pack("<Q", 100_000_001))
        f.truncate(8 + 100_000_001)
    _refused(path, "100,000,001-byte header")


def test_overlapping_offsets_are_refused(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    _refused(_file(tmp_path / "m.safetensors", header, bytes(12)), "'b'", "overlaps")


def test_two_tensors_on_the_same_bytes_are_refused(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    _refused(_file(tmp_path / "m.safetensors", header, bytes(8)), "overlaps")


def test_a_gap_between_tensors_is_refused(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}
    _refused(_file(tmp_path / "m.safetensors", header, bytes(20)), "'b'", "gap", "start at 8")


def test_data_before_the_first_tensor_is_refused(tmp_path):
    _refused(_file(tmp_path / "m.safetensors", _one(offsets=(4, 12)), bytes(12)), "gap")


def test_offsets_that_end_before_they_start_are_refused(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}
    _refused(_file(tmp_path / "m.safetensors", header, bytes(8)), "'b'", "ends before it starts")


def test_offsets_past_the_end_of_the_file_are_refused(tmp_path):
    _refused(_file(tmp_path / "m.safetensors", _one(shape=(4,), offsets=(0, 16)), bytes(8)),
             "past the end", "8 bytes")


def test_bytes_after_the_last_tensor_are_refused(tmp_path):
    _refused(_file(tmp_path / "m.safetensors", _one(), bytes(12)), "4 bytes after its last tensor")


def test_a_size_that_does_not_match_the_shape_is_refused(tmp_path):
    path = _file(tmp_path / "m.safetensors", _one(shape=(3,), offsets=(0, 8)), bytes(8))
    _refused(path, "'x'", "shape [3] of F32 (12 bytes)", "span 8 bytes")


def test_a_huge_shape_is_refused_without_allocating(tmp_path):
    path = _file(tmp_path / "m.safetensors", _one(shape=(2**40, 2**40)), bytes(8))
    _refused(path, "shape [1099511627776, 1099511627776]")


@pytest.mark.parametrize("dtype", ["F8_E4M3", "C64", "float32", None])
def test_an_unknown_dtype_is_refused(tmp_path, dtype):
    _refused(_file(tmp_path / "m.safetensors", _one(dtype=dtype), bytes(8)), "dtype", "readable dtypes")


@pytest.mark.parametrize("shape", [[-1], [2.0], [True, True], "2", None])
def test_a_shape_that_is_not_non_negative_integers_is_refused(tmp_path, shape):
    header = {"x": {"dtype": "F32", "shape": shape, "data_offsets": [0, 8]}}
    _refused(_file(tmp_path / "m.safetensors", header, bytes(8)), "shape")


@pytest.mark.parametrize("offsets", [[0], [0, 8, 8], [-8, 0], [0, 8.0], None])
def test_data_offsets_that_are_not_two_non_negative_integers_are_refused(tmp_path, offsets):
    header = {"x": {"dtype": "F32", "shape": [2], "data_offsets": offsets}}
    _refused(_file(tmp_path / "m.safetensors", header, bytes(8)), "data_offsets")


@pytest.mark.parametrize("text", [b'{"x": {"dtype": "F32",', b"[1, 2]", b"\xff\xfe{}", b"[" * 100_000],
                         ids=["truncated", "not-an-object", "not-utf8", "nested-deeply"])
def test_a_header_that_is_not_a_json_object_is_refused(tmp_path, text):
    _refused(_file(tmp_path / "m.safetensors", text), "header")


def test_a_tensor_described_by_something_else_than_an_object_is_refused(tmp_path):
    _refused(_file(tmp_path / "m.safetensors", {"x": [0, 8]}, bytes(8)), "'x'", "not a JSON object")


@pytest.mark.parametrize("metadata", [{"step": 2000}, ["a"], "text"])
def test_metadata_that_is_not_strings_is_refused(tmp_path, metadata):
    path = _file(tmp_path / "m.safetensors", {"__metadata__": metadata} | _one(), bytes(8))
    _refused(path, "__metadata__")


def test_a_key_given_twice_is_refused(tmp_path):
    entry = '{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}'
    text = f'{{"x": {entry}, "x": {entry}}}'.encode()
    _refused(_file(tmp_path / "m.safetensors", text, bytes(8)), "'x' twice")


def test_the_package_refuses_the_same_hostile_files(tmp_path):
    """The rules above are the package's own: its reader refuses these files too."""
    package = pytest.importorskip("safetensors.numpy")
    from safetensors import SafetensorError
    files = [_file(tmp_path / "beyond.safetensors", _one(), bytes(8), header_size=5000),
             _file(tmp_path / "huge.safetensors", _one(), bytes(8), header_size=10**9),
             _file(tmp_path / "size.safetensors", _one(shape=(3,)), bytes(8)),
             _file(tmp_path / "past.safetensors", _one(shape=(4,), offsets=(0, 16)), bytes(8)),
             _file(tmp_path / "trailing.safetensors", _one(), bytes(12)),
             _file(tmp_path / "overlap.safetensors", {
                 "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12))]
    for path in files:
        with pytest.raises(SafetensorError):
            package.load_file(path)
        with pytest.raises(ValueError):
            tinyattn.load_safetensors(path)


@settings(max_examples=300, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
       cut=st.integers(0, 12))
def test_a_damaged_file_loads_or_is_refused_with_a_value_error(tmp_path_factory, edits, cut):
    """Bytes of a valid file overwritten at random places, and up to 12 bytes cut from its end:
    load gives NumPy arrays, or a ValueError naming the file, never another exception."""
    header = json.dumps({"__metadata__": {"k": "v"}, **_one(shape=(2,)),
                         "y": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [8, 12]}}).encode()
    original = bytearray(struct.pack("<Q", len(header)) + header + bytes(12))
    for position, value in edits:
        original[position % len(original)] = value
    path = tmp_path_factory.mktemp("fuzz") / "m.safetensors"
    path.write_bytes(bytes(original[:len(original) - cut]))
    try:
        arrays = tinyattn.load_safetensors(path)
    except ValueError as e:
        assert str(path) in str(e)
    else:
        assert all(isinstance(a, np.ndarray) for a in arrays.values())


def test_saving_over_a_loaded_file_leaves_its_arrays_readable(tmp_path):
    """load_safetensors maps the file: writing the new one in place would pull the pages from
    under the old arrays (a bus error); save writes a new file and renames it."""
    path = tmp_path / "w.safetensors"
    tinyattn.save_safetensors({"a": np.arange(100_000, dtype=np.float32)}, path)
    old = tinyattn.load_safetensors(path)
    tinyattn.save_safetensors({"b": np.ones(3, dtype=np.float64)}, path)
    assert float(old["a"][-1]) == 99_999.0
    assert list(tinyattn.load_safetensors(path)) == ["b"] and list(tmp_path.iterdir()) == [path]
