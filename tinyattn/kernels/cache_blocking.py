"""Cache blocking: run a long elementwise chain chunk by chunk, so each chunk stays in cache.

Exact GELU makes 27 passes over its array (erfc alone is a polynomial and an exp).
On a CPU an array of a few MB does not fit in a core's cache, so every pass streams it from main
memory, and every fresh temporary has to be paged in. Run on chunks of ~128 KB instead, all the
passes of one chunk hit the cache. Measured on this project's machines: erf of 393,216 float32
numbers takes 5.4 ms on the whole array and 1.95 ms in chunks of 64 rows.

The chain writes into its outputs and a few scratch arrays with `out=` (fast_numpy.py gives
array_api_strict that keyword), instead of
making a fresh temporary per pass: at 128 KB a fresh array costs twice the pass that fills it.

A GPU wants the opposite, one large kernel per pass, so the block size belongs to the backend:
`backend.chunk_elements`, where None means "the whole array at once".

Chunks are independent, so sharing them over threads looks tempting (NumPy releases Python's
global lock inside a ufunc). Measured here it pays too little: a chunk's ufunc calls take a few
microseconds each, about as long as handing the lock from one thread to the other. Two threads
were no faster than one on chunks of 128 KB, and 1.35x faster on halves of GELU's array.
"""
import math


def row_chunks(num_rows, row_width, chunk_elements):
    """Slices of range(num_rows) holding about chunk_elements elements each (None: one slice).
    Zero rows (or rows of zero width) give one empty slice, so a loop over them runs once."""
    step = max(1, num_rows if chunk_elements is None else chunk_elements // max(row_width, 1))
    return [slice(start, min(start + step, num_rows)) for start in range(0, max(num_rows, 1), step)]


def map_row_chunks(xp, chunk_elements, fn, *arrays, outputs=1, scratch=0):
    """fn run on chunks of rows of same-shaped arrays (of namespace xp), writing its results
    into fresh arrays.

    arrays (..., C) are seen as (N, C). For a chunk of n rows, fn(*chunks, *out, *tmp) gets the
    chunks (n, C) of the inputs, of `outputs` result arrays to fill and of `scratch` arrays it may
    use as it likes (allocated once, reused by every chunk). Returns the results in the arrays'
    shape (one array, or a tuple).
    """
    shape = arrays[0].shape
    width = shape[-1] if len(shape) else 1
    num_rows = math.prod(shape[:-1])           # not -1: rows of width 0 leave -1 undecided
    rows = [xp.reshape(a, (num_rows, width)) for a in arrays]
    results = [xp.empty_like(rows[0]) for _ in range(outputs)]
    chunks = row_chunks(rows[0].shape[0], width, chunk_elements)
    longest = chunks[0].stop - chunks[0].start
    spare = [xp.empty_like(rows[0][:longest, ...]) for _ in range(scratch)]
    for chunk in chunks:
        n = chunk.stop - chunk.start
        fn(*(r[chunk, ...] for r in rows + results), *(s[:n, ...] for s in spare))
    results = [xp.reshape(r, shape) for r in results]
    return tuple(results) if outputs > 1 else results[0]
