"""The key/value cache of decoding: what an attention layer keeps between generation steps.

A model that writes text feeds one new token per step. Its queries are new, but the keys and
values of the earlier tokens are what they were last step: each attention layer keeps them,
(B, H_kv, T, D) each, and a step computes only the new token's and appends them. One position
of work per step instead of the whole prefix; the price is memory, 2 * B * H_kv * T * D numbers
per layer (grouped-query attention makes H_kv small, a window makes T small).

    KVCache            one attention layer's keys, values, positions seen, and window
    DecoderLayerCache  a Transformer decoder layer's two: its self-attention's and its
                       cross-attention's (the encoder's memory, projected once)

Models fill a plain list with one per layer: `cache = []; model(idx, cache=cache)`, then feed
only the new tokens with the same list.

How the keys grow: appending by concatenation would copy the whole cache into fresh memory at
every step, T^2 / 2 positions over T steps. When decoding (grad mode off, no window) the cache
instead writes each step's keys and values into buffers with room to spare, and `keys` and
`values` are views of their filled part. The first keys get buffers of their own length (a
cross-attention's never grow); a buffer that must grow is replaced by one twice as long as
needed, as a Python list grows, so each position is copied about twice in all. With grad mode
on (a cache used in training) it concatenates, which autograd follows.
"""
from ..engine.autograd import is_grad_enabled
from ..engine.creation import zeros
from ..engine.tensor_functions import concat


class KVCache:
    """One attention layer's cache: keys and values (B, H_kv, T, D) (None before the first
    step), `length` the positions seen so far, and `window`: None to keep every position, or W
    (sliding-window attention) to keep only the last W - 1, all that a later query can see.

    cache["k"], cache["v"] and cache["length"] read keys, values and length (the names of the
    dict the cache used to be)."""

    __slots__ = ("keys", "values", "length", "window", "_buffers")

    def __init__(self, window=None):
        self.keys = self.values = None
        self.length = 0
        self.window = window
        self._buffers = None           # (keys, values) with room to spare; keys, values view them

    def append(self, keys, values):
        """Add the new positions' keys and values (B, H_kv, T_new, D) after the cached ones.
        Returns all the keys and values the new queries attend to (B, H_kv, T_kept + T_new, D);
        keeps for later all of them, or with a window the last W - 1."""
        self.length += keys.shape[2]
        if self.window is None and not is_grad_enabled():
            self._write(keys, values)
            return self.keys, self.values
        self._buffers = None
        if self.keys is not None:
            keys = concat([self.keys, keys], axis=2)
            values = concat([self.values, values], axis=2)
        self.keys, self.values = self._kept(keys), self._kept(values)
        return keys, values

    def _write(self, keys, values):
        """Write keys and values (B, H_kv, T_new, D) after the cached ones, into the buffers (a
        new pair when they are full: as long as the first keys, then twice as long as needed);
        keys and values become views of the buffers' first `used + T_new` positions."""
        used = 0 if self.keys is None else self.keys.shape[2]
        needed = used + keys.shape[2]
        if self.keys is not None and (self.keys.shape[:2] + self.keys.shape[3:]
                                      != keys.shape[:2] + keys.shape[3:]):
            raise ValueError(f"KVCache: new keys of shape {keys.shape} do not line up with the cached "
                             f"{self.keys.shape} (only the positions, axis 2, may differ)")
        if self._buffers is None or self._buffers[0].shape[2] < needed:
            room = needed if self.keys is None else 2 * needed
            self._buffers = tuple(_longer(old, new, room)
                                  for old, new in ((self.keys, keys), (self.values, values)))
        for buffer, new in zip(self._buffers, (keys, values)):
            buffer[:, :, used:needed] = new
        self.keys, self.values = (buffer[:, :, :needed] for buffer in self._buffers)

    def _kept(self, x):
        """x (B, H_kv, T, D), or with a window its last W - 1 positions."""
        if self.window is None:
            return x
        return x[:, :, max(x.shape[2] - (self.window - 1), 0):]

    def nbytes(self):
        """Bytes held by the cached keys and values (the buffers they sit in while decoding are up
        to twice as long: see the module's docstring)."""
        return sum(_nbytes(t) for t in (self.keys, self.values) if t is not None)

    def __getitem__(self, name):
        return {"k": self.keys, "v": self.values, "length": self.length}[name]

    def __repr__(self):
        shape = None if self.keys is None else self.keys.shape
        return f"KVCache(keys {shape}, length={self.length}, window={self.window})"


class DecoderLayerCache:
    """A Transformer decoder layer's caches: `self_attn` (a KVCache growing by the new target
    tokens) and `cross_attn` (the encoder memory's keys and values, computed on the first step).
    `length` is the target positions seen; cache["self"] and cache["cross"] read the two."""

    __slots__ = ("self_attn", "cross_attn")

    def __init__(self, window=None):
        self.self_attn, self.cross_attn = KVCache(window), KVCache()

    @property
    def length(self):
        return self.self_attn.length

    def nbytes(self):
        """Bytes held by both caches' keys and values."""
        return self.self_attn.nbytes() + self.cross_attn.nbytes()

    def __getitem__(self, name):
        return {"self": self.self_attn, "cross": self.cross_attn}[name]

    def __repr__(self):
        return f"DecoderLayerCache(self_attn={self.self_attn!r}, cross_attn={self.cross_attn!r})"


def _longer(cached, new, positions):
    """A buffer for `positions` positions, shaped and typed as `new` (B, H_kv, T_new, D) but
    for axis 2, holding `cached` (or nothing, when None) in its first positions."""
    buffer = zeros(*new.shape[:2], positions, *new.shape[3:], dtype=new.dtype, backend=new.backend)
    if cached is not None:
        buffer[:, :, :cached.shape[2]] = cached
    return buffer


def _nbytes(t):
    """Bytes of a Tensor's numbers."""
    return t.numel() * (t.backend.xp.finfo(t.data.dtype).bits // 8)
