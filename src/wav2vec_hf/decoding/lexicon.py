"""A character trie of words over decoder token ids, stepped for many prefixes at once with numpy.

The beam search asks, for thousands of (prefix, next token) pairs per step, "does this partial word
still start a known word, and is it a complete one?". The trie answers with one ``searchsorted``
over its edges (``parent * vocab_size + token`` keys, sorted), so no Python runs per pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

ROOT = 0
NO_NODE = -1


class TokenTrie:
    """Words spelled as token ids; node 0 is the empty prefix.

    Attributes:
        words: the words it holds, in id order (``word_of`` values index it).
        word_of: (nodes,) int64 id of the word ending at each node, -1 where none ends.
        depth: (nodes,) int64 characters from the root.
    """

    def __init__(self, words: Iterable[str], labels: Sequence[str]):
        token_of = {label: i for i, label in enumerate(labels) if len(label) == 1 and label != " "}
        self.vocab_size = len(labels)
        edges: dict[tuple[int, int], int] = {}
        word_of = [NO_NODE]
        depth = [0]
        kept: list[str] = []
        for word in words:
            if not word or any(ch not in token_of for ch in word):
                continue  # a word the model cannot spell can never be decoded
            node = ROOT
            for ch in word:
                key = (node, token_of[ch])
                child = edges.get(key)
                if child is None:
                    child = len(word_of)
                    edges[key] = child
                    word_of.append(NO_NODE)
                    depth.append(depth[node] + 1)
                node = child
            if word_of[node] == NO_NODE:
                word_of[node] = len(kept)
                kept.append(word)
        self.words = kept
        self.word_of = np.asarray(word_of, dtype=np.int64)
        self.depth = np.asarray(depth, dtype=np.int64)
        keys = np.asarray([p * self.vocab_size + t for p, t in edges], dtype=np.int64)
        children = np.asarray(list(edges.values()), dtype=np.int64)
        order = np.argsort(keys)
        self._keys = keys[order]
        self._children = children[order]
        self._parent = np.full(len(word_of), NO_NODE, dtype=np.int64)
        self._parent[self._children] = self._keys // self.vocab_size
        self._shortest: np.ndarray | None = None

    @property
    def shortest_below(self) -> np.ndarray:
        """(nodes,) length of the shortest word through each node (computed once, level by level)."""
        if self._shortest is None:
            shortest = np.where(self.word_of >= 0, self.depth, np.iinfo(np.int64).max)
            for level in range(int(self.depth.max(initial=0)), 0, -1):
                at_level = np.flatnonzero(self.depth == level)
                np.minimum.at(shortest, self._parent[at_level], shortest[at_level])
            self._shortest = shortest
        return self._shortest

    def best_below(self, word_values: np.ndarray) -> np.ndarray:
        """(nodes,) the highest ``word_values[w]`` of the words ``w`` spelled through each node (``-inf``
        where none is): with unigram log-probabilities, the LM look-ahead of a partial word."""
        values = np.asarray(word_values, dtype=np.float64)
        best = np.full(self.word_of.shape[0], -np.inf)
        ends = self.word_of >= 0
        best[ends] = values[self.word_of[ends]]
        for level in range(int(self.depth.max(initial=0)), 0, -1):
            at_level = np.flatnonzero(self.depth == level)
            np.maximum.at(best, self._parent[at_level], best[at_level])
        return best

    def __len__(self) -> int:
        return len(self.words)

    def step(self, nodes: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Child of each ``nodes[i]`` by ``tokens[i]``; ``NO_NODE`` where there is none (or ``nodes[i]`` is)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        keys = nodes * self.vocab_size + np.asarray(tokens, dtype=np.int64)
        if self._keys.size == 0:
            return np.full(keys.shape, NO_NODE, dtype=np.int64)
        position = np.minimum(np.searchsorted(self._keys, keys), self._keys.size - 1)
        found = (self._keys[position] == keys) & (nodes >= 0)
        return np.where(found, self._children[position], NO_NODE)

    def word_at(self, nodes: np.ndarray) -> np.ndarray:
        """Id of the word ending at each node (-1 where none does or the node is ``NO_NODE``)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        return np.where(nodes >= 0, self.word_of[np.maximum(nodes, 0)], NO_NODE)
