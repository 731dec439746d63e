"""Cache blocking: run a long elementwise chain block by block, so each block stays in cache.

Exact GELU makes 27 passes over its array (erfc alone is a polynomial and an exp).
On a CPU an array of a few MB does not fit in a core's cache, so every pass streams it from main
memory, and every fresh temporary has to be paged in. Run on blocks of ~128 KB instead, all the
passes of one block hit the cache. Measured on this project's machines: erf of 393,216 float32
numbers takes 5.4 ms on the whole array and 1.95 ms in blocks of 64 rows.

The chain writes into its outputs and a few scratch arrays with `out=` (backend.py), instead of
making a fresh temporary per pass: at 128 KB a fresh array costs twice the pass that fills it.

A GPU wants the opposite, one large kernel per pass, so the block size belongs to the backend:
`backend.block_elements`, where None means "the whole array at once".

Blocks are independent, so sharing them over threads looks tempting (NumPy releases Python's
global lock inside a ufunc). Measured here it pays too little: a block's ufunc calls take a few
microseconds each, about as long as handing the lock from one thread to the other. Two threads
were no faster than one on blocks of 128 KB, and 1.35x faster on halves of GELU's array.
"""
from .backend import backend_of, namespace


def row_blocks(num_rows, row_width, backend):
    """Slices of range(num_rows) holding about backend.block_elements elements each."""
    size = backend.block_elements
    step = num_rows if size is None else max(1, size // max(row_width, 1))
    return [slice(start, min(start + step, num_rows)) for start in range(0, max(num_rows, 1), step)]


def map_rows(fn, *arrays, outputs=1, scratch=0):
    """fn run on blocks of rows of same-shaped arrays, writing its results into fresh arrays.

    arrays (..., C) are seen as (N, C). For a block of n rows, fn(*blocks, *out, *tmp) gets the
    blocks (n, C) of the inputs, of `outputs` result arrays to fill and of `scratch` arrays it may
    use as it likes (allocated once, reused by every block). Returns the results in the arrays'
    shape (one array, or a tuple).
    """
    xp = namespace(arrays[0])
    shape = arrays[0].shape
    width = shape[-1] if len(shape) else 1
    rows = [xp.reshape(a, (-1, width)) for a in arrays]
    results = [xp.empty_like(rows[0]) for _ in range(outputs)]
    blocks = row_blocks(rows[0].shape[0], width, backend_of(arrays[0]))
    longest = blocks[0].stop - blocks[0].start
    spare = [xp.empty_like(rows[0][:longest, ...]) for _ in range(scratch)]
    for block in blocks:
        n = block.stop - block.start
        fn(*(r[block, ...] for r in rows + results), *(s[:n, ...] for s in spare))
    results = [xp.reshape(r, shape) for r in results]
    return tuple(results) if outputs > 1 else results[0]
