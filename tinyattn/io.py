"""Checkpoints: save and load parameters as a NumPy .npz archive, never with pickle.

A pickle can run arbitrary code when it is loaded, so a checkpoint downloaded from anywhere
would be a program. An .npz of plain numeric arrays read with `allow_pickle=False` can only be
data. The metadata (config, step, ...) is stored as JSON text inside the same archive.

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
import zipfile
from collections import OrderedDict

import numpy as np

from .backend import backend_of
from .engine.tensor import Tensor

_MARKER = "__tinyattn_checkpoint__"
_METADATA = "__metadata__"
_STRUCTURE = "__structure__"        # only in nested checkpoints: the JSON skeleton
FORMAT_VERSION = 1


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


def load(path):
    """Read a checkpoint written by `save`: a StateDict of NumPy arrays with `.metadata`.

    Refuses anything else with a clear error: a file that is not an .npz archive, an archive
    tinyattn did not write, and any archive holding pickled objects.
    """
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic != b"PK":                           # every .npz is a zip archive
        if magic[:1] == b"\x80":                  # how pickles (protocol 2 and later) begin
            raise ValueError(f"load: {path} is a pickle; tinyattn never unpickles, since a pickle "
                             "can run code. Re-save the weights with tinyattn.save.")
        raise ValueError(f"load: {path} is not a tinyattn checkpoint (not an .npz archive)")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise ValueError(f"load: {path} is not a readable tinyattn checkpoint ({e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile) or _MARKER not in archive.files:
        raise ValueError(f"load: {path} is not a tinyattn checkpoint (no {_MARKER} record)")
    state = StateDict()
    with archive:
        for name in archive.files:
            try:
                value = archive[name]
            except ValueError as e:
                raise ValueError(f"load: {path} entry {name!r} holds pickled objects; "
                                 f"refusing it ({e})") from None
            if name not in (_MARKER, _METADATA):
                state[name] = value
        state.metadata = json.loads(str(archive[_METADATA]))
    if _STRUCTURE in state:
        nested = _join(json.loads(str(state.pop(_STRUCTURE))), state)
        state.clear()
        state.update(nested)
    return state


def _is_array(value):
    return not isinstance(value, (dict, list, tuple, str, bool, int, float, type(None), np.generic))


def _host_array(name, value):
    """value (Tensor, NumPy or backend array) as a host NumPy array; refuses objects."""
    if isinstance(value, Tensor):
        array = value.numpy()
    elif isinstance(value, np.ndarray):
        array = value
    else:
        array = backend_of(value).to_numpy(value)
    if array.dtype == object:
        raise TypeError(f"save: {name!r} is not a numeric array")
    return array


def _split(value, path, arrays):
    """The JSON skeleton of a nested value: each array moved into `arrays` under its dotted path
    and replaced by {"__array__": path}; numbers, strings, lists and dicts kept as they are."""
    if isinstance(value, dict):
        return {str(k): _split(v, f"{path}.{k}" if path else str(k), arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split(v, f"{path}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    arrays[path] = _host_array(path, value)
    return {"__array__": path}


def _join(skeleton, arrays):
    """The nested value again, the skeleton's {"__array__": path} replaced by the arrays."""
    if isinstance(skeleton, dict):
        if set(skeleton) == {"__array__"}:
            return arrays[skeleton["__array__"]]
        return {k: _join(v, arrays) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [_join(v, arrays) for v in skeleton]
    return skeleton
