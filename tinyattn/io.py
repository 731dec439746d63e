"""Checkpoints: save and load parameters as a NumPy .npz archive, never with pickle.

A pickle can run arbitrary code when it is loaded, so a checkpoint downloaded from anywhere
would be a program. An .npz of plain arrays can only be data: `load` reads each entry's .npy
header itself, refuses object arrays (which need pickle) and checks every size against the
archive before it allocates anything. The metadata (config, step, ...) is JSON text inside.

    tinyattn.save(model, "gpt.npz", metadata={"config": config, "step": 2000})
    state = tinyattn.load("gpt.npz")            # a dict of NumPy arrays, plus .metadata
    model.load_state_dict(state)                # onto whatever backend the model is on

A whole training checkpoint nests dicts (as torch.save is given):
    tinyattn.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                   "schedule": schedule.state_dict()}, "run.npz")
Each array is then stored under its path ("optimizer.state.0.exp_avg") and the rest of the
structure (numbers, strings, lists, the nesting) as JSON beside it. JSON keys are strings, so
the optimiser's parameter indices come back as "0", "1", ..., which its load_state_dict takes.
"""
import json
import math
import os
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from .engine.conversion import host_array

_MARKER = "__tinyattn_checkpoint__"
_METADATA = "__metadata__"
_STRUCTURE = "__structure__"        # only in nested checkpoints: the JSON skeleton
FORMAT_VERSION = 1
MAX_DEPTH = 64                      # nesting levels of a structure; a training checkpoint has ~5
_MIN_LIMIT = 1 << 30                # load's default max_bytes: 1 GiB, or 64 times the file's size
_RATIO_LIMIT = 64
_CHUNK = 1 << 24                    # bytes read at a time


class StateDict(OrderedDict):
    """What `load` returns: name -> NumPy array, with the saved `metadata` dict as an attribute."""

    metadata = None


def save(module_or_state, path, metadata=None):
    """Write a module's state_dict (or a dict of tensors/arrays) and JSON metadata to `path`.

    Arrays are copied to the host, so a checkpoint saved from CuPy loads anywhere.
    """
    state = module_or_state.state_dict() if hasattr(module_or_state, "state_dict") else module_or_state
    for name in state:
        if str(name).startswith("__"):
            raise ValueError(f"save: key {name!r} is reserved (names may not start with '__')")
    arrays = {}
    if all(_is_array(value) for value in state.values()):          # a flat state_dict
        for name, value in state.items():
            arrays[name] = _host_array(name, value)
    else:
        arrays[_STRUCTURE] = np.array(json.dumps(_split(state, "", arrays)))
    try:
        meta = json.dumps(metadata or {})
    except TypeError as e:
        raise TypeError(f"save: metadata must be JSON-serialisable ({e})") from None
    arrays[_MARKER] = np.array(FORMAT_VERSION)
    arrays[_METADATA] = np.array(meta)
    with open(path, "wb") as f:                  # a file object: numpy must not rename the path
        np.savez(f, **arrays)


def load(path, max_bytes=None):
    """Read a checkpoint written by `save`: a StateDict of NumPy arrays with `.metadata`.

    Refuses anything else with a ValueError naming the file and what is wrong with it: a file
    that is not a zip archive (a pickle is named as one, and never unpickled), an archive
    tinyattn did not write, an entry that is not a plain .npy array (raw bytes, pickled
    objects), array data shorter or longer than its header says, metadata that is not JSON, a
    structure nested more than MAX_DEPTH levels, or a reference to an array that is not there.

    max_bytes caps the archive's declared uncompressed size, checked before anything is
    allocated (an entry is never read past its declared size). By default it is the larger of
    1 GiB and 64 times the file's size. A ratio, not a fixed size, since a fixed cap either
    refuses real models or lets a 2 MB file inflate to gigabytes; 64x, since `save` stores
    arrays uncompressed (the declared size is the file's size, less the headers) and trained
    weights compress by well under 2x, so only a "zip bomb" (megabytes of zeros declared as
    gigabytes) goes past it. The 1 GiB floor lets small, very compressible files through.
    Pass a larger max_bytes for a file you trust.
    """
    with open(path, "rb") as f:
        magic = f.read(2)
        size = os.fstat(f.fileno()).st_size
    if magic != b"PK":                           # every .npz is a zip archive
        if magic[:1] == b"\x80":                  # how pickles (protocol 2 and later) begin
            raise ValueError(f"load: {path} is a pickle; tinyattn never unpickles, since a pickle "
                             "can run code. Re-save the weights with tinyattn.save.")
        raise ValueError(f"load: {path} is not a tinyattn checkpoint (not an .npz archive)")
    limit = max(_MIN_LIMIT, _RATIO_LIMIT * size) if max_bytes is None else max_bytes
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = _read_entries(archive, path, limit)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
        raise ValueError(f"load: {path} is not a readable zip archive ({e})") from None
    if _MARKER not in arrays:
        raise ValueError(f"load: {path} is not a tinyattn checkpoint (no {_MARKER} record)")
    version = arrays.pop(_MARKER)
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != FORMAT_VERSION:
        raise ValueError(f"load: {path} has format {version.tolist()!r}; this tinyattn reads "
                         f"format {FORMAT_VERSION}")
    if _METADATA not in arrays:
        raise ValueError(f"load: {path} has no {_METADATA} entry (its metadata is missing)")
    state = StateDict()
    state.metadata = _parse_json(arrays.pop(_METADATA), path, "metadata")
    if _STRUCTURE not in arrays:
        state.update(arrays)
        return state
    skeleton = _parse_json(arrays.pop(_STRUCTURE), path, "structure")
    if not isinstance(skeleton, dict):
        raise ValueError(f"load: {path} has a structure that is not a JSON object")
    used = set()
    state.update(_join(skeleton, arrays, used, path))
    unused = [name for name in arrays if name not in used]
    if unused:
        raise ValueError(f"load: {path} holds arrays its structure never uses: {', '.join(unused)}")
    return state


def _is_array(value):
    return not isinstance(value, (dict, list, tuple, str, bool, int, float, type(None), np.generic))


def _host_array(name, value):
    """value (Tensor, NumPy or backend array) as a host NumPy array; refuses objects."""
    array = host_array(value)
    if array.dtype == object:
        raise TypeError(f"save: {name!r} is not a numeric array")
    return array


def _split(value, path, arrays, depth=0):
    """The JSON skeleton of a nested value: each array moved into `arrays` under its dotted path
    and replaced by {"__array__": path}; numbers, strings, lists and dicts kept as they are."""
    if depth > MAX_DEPTH:
        raise ValueError(f"save: the structure is nested more than {MAX_DEPTH} levels deep "
                         f"(at {path!r}); is it a cycle?")
    if isinstance(value, dict):
        return {str(k): _split(v, f"{path}.{k}" if path else str(k), arrays, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split(v, f"{path}.{i}", arrays, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    arrays[path] = _host_array(path, value)
    return {"__array__": path}


def _join(skeleton, arrays, used, path, depth=0):
    """The nested value again, the skeleton's {"__array__": name} replaced by the arrays (whose
    names are added to `used`)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"load: {path} has a structure nested more than {MAX_DEPTH} levels deep")
    if isinstance(skeleton, dict):
        if set(skeleton) == {"__array__"}:
            name = skeleton["__array__"]
            if not isinstance(name, str) or name not in arrays:
                raise ValueError(f"load: {path} has a structure that refers to an array "
                                 f"{name!r} the archive does not hold")
            used.add(name)
            return arrays[name]
        return {k: _join(v, arrays, used, path, depth + 1) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [_join(v, arrays, used, path, depth + 1) for v in skeleton]
    return skeleton


def _parse_json(record, path, what):
    """The JSON text in a 0-d string array, parsed; a clear error when it is anything else."""
    if record.shape != () or record.dtype.kind != "U":
        raise ValueError(f"load: {path} has a {what} entry that is not text "
                         f"(a {record.dtype} array of shape {record.shape})")
    try:
        return json.loads(str(record))
    except json.JSONDecodeError as e:
        raise ValueError(f"load: {path} has {what} that is not valid JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"load: {path} has {what} nested too deeply to read") from None


def _read_entries(archive, path, limit):
    """name -> array for every entry of the zip `archive`, each checked to be a plain .npy
    array whose data is exactly as long as its header says; the declared total checked first."""
    infos = archive.infolist()
    declared = sum(info.file_size for info in infos)
    if declared > limit:
        raise ValueError(f"load: {path} declares {declared:,} bytes uncompressed, more than the "
                         f"limit of {limit:,}; if you trust it, pass max_bytes={declared}")
    arrays = {}
    for info in infos:
        name = info.filename
        if not name.endswith(".npy"):
            raise ValueError(f"load: {path} entry {name!r} is not an .npy array; a tinyattn "
                             "checkpoint holds nothing else")
        if name[:-4] in arrays:
            raise ValueError(f"load: {path} holds two entries named {name!r}")
        if info.flag_bits & 0x1:
            raise ValueError(f"load: {path} entry {name!r} is encrypted")
        with archive.open(info) as member:
            arrays[name[:-4]] = _read_npy(member, info.file_size, f"load: {path} entry {name!r}")
    return arrays


def _read_npy(member, size, where):
    """One .npy array from the open zip entry `member` of `size` bytes, never unpickling."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"version {version} of the .npy format is not supported")
    except ValueError as e:
        raise ValueError(f"{where} is not a readable .npy array ({e})") from None
    if dtype.hasobject:
        raise ValueError(f"{where} holds pickled objects; refusing it (tinyattn never unpickles)")
    expected = math.prod(shape) * dtype.itemsize
    actual = size - member.tell()
    if actual != expected:
        kind = "truncated" if actual < expected else "oversized"
        raise ValueError(f"{where} is {kind}: its header says shape {shape} of {dtype} "
                         f"({expected:,} bytes), the entry holds {actual:,} bytes of data")
    array = np.empty(shape[::-1] if fortran_order else shape, dtype)
    data = array.reshape(-1).view(np.uint8)          # the array's own bytes, filled in place
    done = 0
    while done < expected:                           # in chunks: no second copy of a large array
        chunk = member.read(min(_CHUNK, expected - done))
        if not chunk:
            raise ValueError(f"{where} is truncated: the archive ends inside it")
        data[done:done + len(chunk)] = np.frombuffer(chunk, np.uint8)
        done += len(chunk)
    return array.T if fortran_order else array
