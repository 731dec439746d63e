"""Training byte-level BPE: repeatedly merge the most frequent pair of adjacent tokens.

The text is cut into chunks (pretokenize.py) and only distinct chunks are kept, each with how
often it occurs: tiny Shakespeare's million characters are some 15,000 distinct chunks. A chunk starts
as its UTF-8 bytes, token ids 0..255. Each step finds the most frequent adjacent pair (a, b),
gives it a new id, and rewrites every chunk that holds it.

The pair counts are kept up to date instead of recounted: a merge changes only the chunks that
hold (a, b), so we take away those chunks' pairs, rewrite them, and add their new pairs back.
`where[pair]` remembers which chunks hold a pair, so a step touches nothing else. (Recounting
every chunk at every step, the simple way, costs vocabulary size x text size.)
"""
from collections import Counter, defaultdict

from .pretokenize import pretokenize


def count_pairs(chunks, weights):
    """The pair counts recounted from scratch: {(a, b): occurrences in all chunks}."""
    counts = Counter()
    for ids, weight in zip(chunks, weights):
        for pair in zip(ids, ids[1:]):
            counts[pair] += weight
    return counts


def merge(ids, pair, new_id):
    """[1, 2, 3, 1, 2] with pair (1, 2) -> [new_id, 3, new_id], left to right."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class PairCounts:
    """The chunks (as token ids), how often each occurs, and the count of every adjacent pair."""

    def __init__(self, text):
        chunk_counts = Counter(pretokenize(text))
        self.chunks = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
        self.weights = list(chunk_counts.values())
        self.counts = Counter()             # {(a, b): occurrences}, only pairs that occur
        self.where = defaultdict(set)       # {(a, b): indices of the chunks holding it}
        for index in range(len(self.chunks)):
            self._add(index)

    def _add(self, index):
        ids = self.chunks[index]
        for pair in zip(ids, ids[1:]):
            self.counts[pair] += self.weights[index]
            self.where[pair].add(index)

    def _remove(self, index):
        ids = self.chunks[index]
        for pair in zip(ids, ids[1:]):
            self.counts[pair] -= self.weights[index]
            if self.counts[pair] == 0:
                del self.counts[pair]
            self.where[pair].discard(index)

    def most_frequent(self):
        """The pair seen most often; ties go to the smallest pair, so training is deterministic."""
        return max(self.counts, key=lambda pair: (self.counts[pair], -pair[0], -pair[1]))

    def merge(self, pair, new_id):
        """Rewrite every chunk holding `pair` as `new_id`, keeping the counts exact."""
        for index in sorted(self.where.pop(pair, ())):
            self._remove(index)
            self.chunks[index] = merge(self.chunks[index], pair, new_id)
            self._add(index)


def train_merges(text, num_merges):
    """-> [((a, b), new_id)] in the order learned, ids from 256 up; fewer when the text runs out
    of pairs (every chunk a single token)."""
    state = PairCounts(text)
    merges = []
    for step in range(num_merges):
        if not state.counts:
            break
        pair = state.most_frequent()
        new_id = 256 + step
        state.merge(pair, new_id)
        merges.append((pair, new_id))
    return merges
