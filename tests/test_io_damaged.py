"""Damaged and hostile checkpoints: each refused by tinyattn.load with a ValueError that names the
file and what is wrong with it, before anything large is allocated and without unpickling."""
import io
import json
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import tinyattn
import tinyattn.nn as nn


def _npy(array):
    """The bytes np.save writes for `array`: what each entry of an .npz holds."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _checkpoint(path, entries, metadata="{}", marker=1):
    """A zip of `entries` (name -> bytes) beside the records tinyattn.save writes."""
    records = {"__tinyattn_checkpoint__.npy": _npy(np.array(marker)),
               "__metadata__.npy": _npy(np.array(metadata))}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in {**records, **entries}.items():
            if data is not None:
                archive.writestr(name, data)
    return path


def _nested(path, structure, arrays=()):
    """A nested checkpoint: the JSON `structure` (text) and the named arrays."""
    entries = {"__structure__.npy": _npy(np.array(structure))}
    entries.update({f"{name}.npy": _npy(np.ones(2)) for name in arrays})
    return _checkpoint(path, entries)


def test_an_entry_that_is_not_an_npy_array_is_refused(tmp_path):
    # np.load hands such an entry back as bytes; a checkpoint holds arrays only
    for name in ["weight", "weight.npy"]:
        path = _checkpoint(tmp_path / "raw.npz", {name: b"\x00\x01 raw bytes"})
        with pytest.raises(ValueError, match=rf"raw.npz entry '{name}' is not .*\.npy array"):
            tinyattn.load(path)


def test_metadata_that_is_not_json_is_named(tmp_path):
    path = _checkpoint(tmp_path / "m.npz", {}, metadata='{"step": 3')
    with pytest.raises(ValueError, match="m.npz has metadata that is not valid JSON"):
        tinyattn.load(path)


def test_metadata_that_is_not_text_is_named(tmp_path):
    path = _checkpoint(tmp_path / "m.npz", {"__metadata__.npy": _npy(np.zeros(3))})
    with pytest.raises(ValueError, match=r"m.npz has a metadata entry that is not text"):
        tinyattn.load(path)


def test_a_missing_metadata_entry_is_named(tmp_path):
    path = _checkpoint(tmp_path / "m.npz", {"__metadata__.npy": None})
    with pytest.raises(ValueError, match="m.npz has no __metadata__ entry"):
        tinyattn.load(path)


@pytest.mark.parametrize("depth", [100, 100_000])    # past MAX_DEPTH; past Python's recursion limit
def test_a_structure_nested_too_deep_is_refused(tmp_path, depth):
    path = _nested(tmp_path / "deep.npz", '{"a": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(ValueError, match="deep.npz has .*nested .*deep"):
        tinyattn.load(path)


def test_save_refuses_a_structure_nested_deeper_than_load_reads(tmp_path):
    deep = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than 64 levels deep"):
        tinyattn.save({"a": deep}, tmp_path / "deep.npz")
    cycle = {}
    cycle["self"] = cycle
    with pytest.raises(ValueError, match="is it a cycle"):
        tinyattn.save({"a": cycle}, tmp_path / "cycle.npz")


def test_a_reference_to_an_array_the_archive_lacks_is_named(tmp_path):
    path = _nested(tmp_path / "ref.npz", json.dumps({"w": {"__array__": "w"}}))
    with pytest.raises(ValueError, match="ref.npz has a structure that refers to an array 'w'"):
        tinyattn.load(path)


def test_an_array_the_structure_never_uses_is_refused(tmp_path):
    path = _nested(tmp_path / "extra.npz", json.dumps({"w": {"__array__": "w"}}), arrays=["w", "v"])
    with pytest.raises(ValueError, match="extra.npz holds arrays its structure never uses: v"):
        tinyattn.load(path)


def test_truncated_array_data_is_called_truncated(tmp_path):
    path = _checkpoint(tmp_path / "cut.npz", {"weight.npy": _npy(np.ones(10))[:-8]})
    with pytest.raises(ValueError, match=r"cut.npz entry 'weight.npy' is truncated: .*shape \(10,\) "
                                         r"of float64 \(80 bytes\), the entry holds 72 bytes"):
        tinyattn.load(path)


def test_oversized_array_data_is_called_oversized(tmp_path):
    # np.load would read the first 80 bytes and drop the rest unseen
    path = _checkpoint(tmp_path / "long.npz", {"weight.npy": _npy(np.ones(10)) + bytes(8)})
    with pytest.raises(ValueError, match="long.npz entry 'weight.npy' is oversized: .*holds 88 bytes"):
        tinyattn.load(path)


def test_a_damaged_zip_entry_is_refused(tmp_path):
    path = _checkpoint(tmp_path / "crc.npz", {"weight.npy": _npy(np.arange(16.0))})
    data = bytearray(path.read_bytes())
    at = data.index(_npy(np.arange(16.0))) + 200            # one byte inside the array's data
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="crc.npz is not a readable zip archive .*CRC"):
        tinyattn.load(path)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_bytes(b"PK but nothing like a zip after that")
    with pytest.raises(ValueError, match="fake.npz is not a readable zip archive"):
        tinyattn.load(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        tinyattn.load(tmp_path / "absent.npz")


def test_two_entries_of_one_name_are_refused(tmp_path):
    path = _checkpoint(tmp_path / "twice.npz", {"weight.npy": _npy(np.ones(2))})
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("weight.npy", _npy(np.zeros(2)))
    with pytest.raises(ValueError, match="twice.npz holds two entries named 'weight.npy'"):
        tinyattn.load(path)


def test_a_checkpoint_of_another_format_version_is_refused(tmp_path):
    path = _checkpoint(tmp_path / "future.npz", {}, marker=2)
    with pytest.raises(ValueError, match="future.npz has format .*2.*reads format 1"):
        tinyattn.load(path)


def _zip_bomb(path, inflated=2 << 30):
    """A ~2 MB zip whose one .npy entry (a float32 array of zeros) inflates to `inflated` bytes.

    Deflate blocks written after a full flush do not refer back, so the compressed form of 1 MiB
    of zeros (about 1 kB) can be repeated, then closed by an empty final block: no gigabytes are
    ever written or compressed. Stored beside it, the records that make it look like a checkpoint.
    """
    header = _npy_header(inflated // 4)
    zeros = bytes(1 << 20)

    def deflate(data, mode):
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(mode)

    body = deflate(zeros, zlib.Z_FULL_FLUSH)
    stream = deflate(header, zlib.Z_FULL_FLUSH) + body * (inflated >> 20) + deflate(b"", zlib.Z_FINISH)
    crc = zlib.crc32(header)
    for _ in range(inflated >> 20):
        crc = zlib.crc32(zeros, crc)
    entries = [("__tinyattn_checkpoint__.npy", 0, _npy(np.array(1)), None),
               ("__metadata__.npy", 0, _npy(np.array("{}")), None),
               ("weight.npy", 8, stream, (crc, len(header) + inflated))]
    out, central = bytearray(), bytearray()
    for name, method, data, inflated_as in entries:
        crc, size = inflated_as or (zlib.crc32(data), len(data))
        fields = (0, method, 0, 33, crc, len(data), size, len(name))     # 33: 1 Jan 1980
        central += struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, *fields, 0, 0, 0, 0, 0, len(out))
        central += name.encode()
        out += struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, *fields, 0) + name.encode() + data
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 3, 3, len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def _npy_header(count):
    """The .npy header of a float32 array of `count` elements (the data would follow it)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_anything_is_allocated(tmp_path):
    path = _zip_bomb(tmp_path / "bomb.npz")
    assert path.stat().st_size < 3_000_000
    with zipfile.ZipFile(path) as archive:                  # a zip that declares 2 GiB
        assert archive.getinfo("weight.npy").file_size > 2 << 30
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb.npz declares 2,147,48\d,\d\d\d bytes uncompressed, "
                                             r"more than the limit of 1,073,741,824"):
            tinyattn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak:,} bytes allocated before refusing"


def test_max_bytes_sets_the_limit_on_the_declared_size(tmp_path):
    model = nn.Linear(4, 3)
    tinyattn.save(model, tmp_path / "m.npz")
    with pytest.raises(ValueError, match="m.npz declares .* bytes uncompressed, more than the limit "
                                         "of 100; if you trust it, pass max_bytes="):
        tinyattn.load(tmp_path / "m.npz", max_bytes=100)
    state = tinyattn.load(tmp_path / "m.npz", max_bytes=10_000)
    np.testing.assert_array_equal(state["weight"], model.weight.numpy())


def test_a_fortran_ordered_array_comes_back_equal(tmp_path):
    weight = np.asfortranarray(np.arange(12.0).reshape(3, 4))    # stored column by column
    tinyattn.save({"w": weight, "scalar": np.array(2.5)}, tmp_path / "f.npz")
    state = tinyattn.load(tmp_path / "f.npz")
    np.testing.assert_array_equal(state["w"], weight)
    assert state["scalar"].shape == () and state["scalar"] == 2.5


def test_damaged_bytes_anywhere_give_a_value_error_naming_the_file_or_load_unharmed(tmp_path):
    """Random damage to a nested checkpoint: no KeyError, OSError, zlib or JSON error escapes."""
    model = nn.Linear(4, 3)
    good = tmp_path / "good.npz"
    tinyattn.save({"model": model.state_dict(), "step": 3}, good, metadata={"lr": 0.1})
    data, rng = good.read_bytes(), np.random.default_rng(0)
    path = tmp_path / "damaged.npz"
    for _ in range(300):
        damaged = bytearray(data)
        for at in rng.integers(0, len(data), size=rng.integers(1, 4)):
            damaged[at] = rng.integers(0, 256)
        end = len(data) if rng.random() < 0.75 else rng.integers(len(data) // 2, len(data))
        path.write_bytes(bytes(damaged[:end]))
        try:
            state = tinyattn.load(path)
        except ValueError as e:
            assert "damaged.npz" in str(e), str(e)
            continue
        assert state["step"] == 3 and state.metadata == {"lr": 0.1}      # the damage missed
        np.testing.assert_array_equal(state["model"]["weight"], model.weight.numpy())


def test_a_zip_whose_directory_points_before_the_file_is_refused(tmp_path):
    path = tmp_path / "offset.npz"
    tinyattn.save(nn.Linear(4, 3), path)
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")                     # the end record: where the directory is
    offset = struct.unpack_from("<I", data, end + 16)[0]
    struct.pack_into("<I", data, end + 16, offset + 1_000_000)   # entries now start before byte 0
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="offset.npz is not a readable zip archive"):
        tinyattn.load(path)
