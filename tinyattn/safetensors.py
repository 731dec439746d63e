"""safetensors files with NumPy alone: the weights format of Hugging Face, read and written here.

A safetensors file is a JSON header and raw bytes, nothing that can run code:

    +----------+---------------------------+------------------------------------------+
    | N        | header: N bytes of JSON   | data: every tensor's bytes, back to back |
    | u64, LE  | (padded with spaces)      | little-endian, C order, no gaps          |
    +----------+---------------------------+------------------------------------------+
    0          8                           8 + N                                  end of file

    header = {"__metadata__": {"format": "pt"},                  (optional, str -> str)
              "wte.weight": {"dtype": "F32", "shape": [50257, 768],
                             "data_offsets": [0, 154389504]},   (start, end) from the data's start
              ...}

    arrays = tinyattn.load_safetensors("model.safetensors")     # name -> NumPy array
    arrays, metadata = tinyattn.load_safetensors("model.safetensors", with_metadata=True)
    tinyattn.save_safetensors(model.state_dict(), "model.safetensors", metadata={"step": "2000"})

`load_safetensors` checks the file as the format's own reader (the `safetensors` package) does,
before it touches any tensor: the header length fits in the file and is at most 100 MB; the
header is UTF-8 JSON; each tensor has a known dtype, a shape of non-negative integers and two
offsets; sorted by offset, the tensors follow each other with no gap or overlap, each spans
exactly shape x itemsize bytes, and together they cover the data to the file's last byte. It
also refuses a key that appears twice in the JSON (the package keeps the last one). Anything
else is a ValueError naming the file and what is wrong.
"""
import json
import math
import mmap
import os
import struct

import numpy as np

from .engine.conversion import host_array

MAX_HEADER_BYTES = 100_000_000      # the safetensors package's own limit

# the format's dtype names, in the package's order of alignment (save writes the widest first,
# so every tensor starts on a multiple of its itemsize); "BF16" is read only: NumPy has no bfloat16
_DTYPES = {"BOOL": np.dtype(np.bool_), "U8": np.dtype("u1"), "I8": np.dtype("i1"),
           "I16": np.dtype("<i2"), "U16": np.dtype("<u2"), "F16": np.dtype("<f2"),
           "BF16": np.dtype("<u2"), "I32": np.dtype("<i4"), "U32": np.dtype("<u4"),
           "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"),
           "U64": np.dtype("<u8")}
_ALIGNMENT_ORDER = list(_DTYPES)
_NAMES = {dtype.newbyteorder("="): name for name, dtype in _DTYPES.items() if name != "BF16"}


def load_safetensors(path, with_metadata=False):
    """Read a safetensors file: a dict name -> NumPy array, in the file's order.

    The arrays are read-only views of the memory-mapped file, so a 500 MB file costs no 500 MB
    copy; pages are read from disk as they are used (copy one with np.array(a) to write to it,
    and do not rewrite the file while its arrays are in use). BF16 tensors are the exception:
    they are converted to float32 (exactly: a bfloat16 is the top half of a float32), into new,
    writable arrays. F16 stays float16. With with_metadata=True, returns (arrays, metadata), the
    header's "__metadata__" dict of strings ({} when there is none).
    """
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        if file_size < 8:
            raise ValueError(f"load_safetensors: {path} is {file_size} bytes, too short to hold "
                             "a safetensors header length (8 bytes)")
        (header_size,) = struct.unpack("<Q", f.read(8))
        if header_size > MAX_HEADER_BYTES:
            raise ValueError(f"load_safetensors: {path} claims a {header_size:,}-byte header, more "
                             f"than the format's limit of {MAX_HEADER_BYTES:,}")
        if 8 + header_size > file_size:
            raise ValueError(f"load_safetensors: {path} claims a {header_size:,}-byte header, but "
                             f"the file is only {file_size:,} bytes")
        header = _parse_header(f.read(header_size), path)
        data_start = 8 + header_size
        metadata = _check_metadata(header.pop("__metadata__", None), path)
        layout = _check_layout(header, file_size - data_start, path)
        buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)   # outlives the file object
    arrays = {}
    for name, dtype_name, shape, start in layout:
        dtype = _DTYPES[dtype_name]
        count = math.prod(shape)
        if count == 0:
            array = np.empty(shape, dtype)
        else:
            array = np.frombuffer(buffer, dtype, count, data_start + start).reshape(shape)
        if dtype_name == "BF16":                 # bfloat16 bits are a float32's upper 16 bits
            array = (array.astype(np.uint32) << 16).view(np.float32)
        arrays[name] = array
    return (arrays, metadata) if with_metadata else arrays


def save_safetensors(arrays, path, metadata=None):
    """Write a dict name -> array (NumPy, tinyattn Tensor, or any backend's array) as safetensors.

    Arrays are copied to the host first. Written dtypes: bool, uint8/16/32/64, int8/16/32/64,
    float16, float32, float64. Anything else (complex, object, strings, datetimes) is refused
    with a TypeError; convert it first. BF16 is never written (NumPy has no bfloat16): a float32
    array is stored as F32, which holds every bfloat16 value exactly. `metadata` is a dict of
    strings, stored as the header's "__metadata__". The layout is the `safetensors` package's:
    widest dtypes first, then by name, the header padded with spaces to a multiple of 8 bytes.
    The file is written beside its final name and then renamed onto it, so arrays that
    load_safetensors mapped from an earlier file of that name stay readable (rewriting a mapped
    file in place would crash the process with a bus error), and an interrupted save leaves the
    old file whole.
    """
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("save_safetensors: metadata must be a dict of strings to strings "
                        "(the format stores nothing else there); json.dumps other values first")
    tensors = []
    for name, value in arrays.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise TypeError(f"save_safetensors: a tensor's name must be a string other than "
                            f"'__metadata__', not {name!r}")
        array = _host_array(name, value)
        tensors.append((name, _NAMES[array.dtype.newbyteorder("=")], array))
    tensors.sort(key=lambda t: (-_ALIGNMENT_ORDER.index(t[1]), t[0]))
    header = {} if metadata is None else {"__metadata__": metadata}
    offset = 0
    for name, dtype_name, array in tensors:
        header[name] = {"dtype": dtype_name, "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    partial = f"{os.fspath(path)}.partial"
    try:
        with open(partial, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, _, array in tensors:
                f.write(array.data)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _host_array(name, value):
    """value as a C-ordered, little-endian host NumPy array of a dtype the format holds."""
    array = host_array(value)
    if array.dtype.newbyteorder("=") not in _NAMES:
        raise TypeError(f"save_safetensors: {name!r} is {array.dtype}, which safetensors files "
                        f"here do not hold; convert it to one of: "
                        f"{', '.join(str(d) for d in _NAMES)}")
    return np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")   # keeps 0-d arrays 0-d


def _parse_header(raw, path):
    """The header's JSON object; duplicate keys are refused rather than silently dropped."""
    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            twice = sorted({key for key in keys if keys.count(key) > 1})
            raise ValueError(f"load_safetensors: {path} has a header with the key {twice[0]!r} twice")
        return dict(pairs)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except UnicodeDecodeError as e:
        raise ValueError(f"load_safetensors: {path} has a header that is not UTF-8 text ({e})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"load_safetensors: {path} has a header that is not valid JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"load_safetensors: {path} has a header nested too deeply to read") from None
    if not isinstance(header, dict):
        raise ValueError(f"load_safetensors: {path} has a header that is not a JSON object")
    return header


def _check_metadata(metadata, path):
    if metadata is None:
        return {}
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise ValueError(f"load_safetensors: {path} has __metadata__ that is not a dict of strings")
    return metadata


def _check_layout(header, data_size, path):
    """[(name, dtype, shape, start)] in offset order, each entry checked, the data covered exactly."""
    entries = []
    for name, info in header.items():
        where = f"load_safetensors: {path} tensor {name!r}"
        if not isinstance(info, dict):
            raise ValueError(f"{where} is described by {info!r}, not a JSON object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPES:
            raise ValueError(f"{where} has dtype {dtype!r}; readable dtypes: {', '.join(_DTYPES)}")
        if not _is_naturals(shape):
            raise ValueError(f"{where} has shape {shape!r}, not a list of non-negative integers")
        if not (_is_naturals(offsets) and len(offsets) == 2):
            raise ValueError(f"{where} has data_offsets {offsets!r}, not two non-negative integers")
        entries.append((offsets[0], offsets[1], name, dtype, tuple(shape)))
    entries.sort()
    end_of_previous = 0
    for start, end, name, dtype, shape in entries:
        where = f"load_safetensors: {path} tensor {name!r}"
        if start != end_of_previous or end < start:
            kind = "overlaps the previous tensor" if start < end_of_previous else "leaves a gap"
            if end < start:
                kind = "ends before it starts"
            raise ValueError(f"{where} has data_offsets [{start}, {end}], which {kind}: tensors must "
                             f"follow each other (this one should start at {end_of_previous})")
        if end > data_size:
            raise ValueError(f"{where} has data_offsets [{start}, {end}] past the end of the file's "
                             f"data ({data_size:,} bytes)")
        expected = math.prod(shape) * _DTYPES[dtype].itemsize
        if end - start != expected:
            raise ValueError(f"{where} has shape {list(shape)} of {dtype} ({expected:,} bytes), but "
                             f"its data_offsets [{start}, {end}] span {end - start:,} bytes")
        end_of_previous = end
    if end_of_previous != data_size:
        raise ValueError(f"load_safetensors: {path} has {data_size - end_of_previous:,} bytes after "
                         "its last tensor that no tensor covers")
    return [(name, dtype, shape, start) for start, _, name, dtype, shape in entries]


def _is_naturals(value):
    return isinstance(value, list) and all(type(n) is int and n >= 0 for n in value)
