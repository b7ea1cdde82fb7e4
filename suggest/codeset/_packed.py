"""The code set's large read-only tables kept in numpy arrays and one bytes blob instead of Python objects.

Under a pre-forking server (gunicorn) every Python object a request reads gets its reference count written, which
copies the memory page it sits on into the worker: a dict of 46,881 ``Node`` objects ends up copied into every
worker. An array or a blob is one object whatever its length, so its pages stay shared; a lookup builds the few
objects it returns, which are freed with the request.
"""

from __future__ import annotations

import functools
import marshal
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from suggest.codeset._tabular import Node

#: Bump when the layout of these tables changes, so that code-set caches holding them are rebuilt.
TABLES_VERSION = 1


class CodeKeys:
    """Codes (ASCII strings) and their row numbers, found by binary search over a sorted array."""

    def __init__(self, codes: Iterable[str]):
        self._codes = np.array([code.encode("ascii") for code in codes], dtype=bytes)
        self._order = np.argsort(self._codes, kind="stable").astype(np.int32)
        self._sorted = self._codes[self._order]

    def row(self, code: str) -> int:
        """The row of ``code``, -1 when it is not one of the codes."""
        try:
            key = code.encode("ascii")
        except UnicodeEncodeError:
            return -1
        if not key or len(key) > self._sorted.itemsize or b"\x00" in key:
            return -1
        i = int(self._sorted.searchsorted(key))
        return int(self._order[i]) if i < len(self._sorted) and self._sorted[i] == key else -1

    def code(self, row: int) -> str:
        return self._codes[row].decode("ascii")

    def __len__(self) -> int:
        return len(self._codes)

    def __iter__(self) -> Iterator[str]:
        return (code.decode("ascii") for code in self._codes.tolist())


class _PackedMapping(Mapping[str, Any]):
    """A read-only mapping whose keys are :class:`CodeKeys` rows; a subclass builds the value of a row.

    The values (and the misses) of the few thousand codes looked up most recently are kept (least recently used
    first out): a batch of charts asks about the same few thousand codes hundreds of thousands of times, and a binary
    search with a decode costs microseconds. The cache is the process's own and is not pickled."""

    _keys: CodeKeys
    #: Looked-up codes kept per mapping (a few MB at most).
    CACHE_LIMIT = 8192

    def _value(self, row: int) -> Any:
        raise NotImplementedError

    def _lookup(self, code: object) -> Any:
        cached = self.__dict__.get("_cached")
        if cached is None:
            cached = self.__dict__["_cached"] = functools.lru_cache(maxsize=self.CACHE_LIMIT)(self.peek)
        return cached(code) if isinstance(code, str) else None

    def peek(self, code: str) -> Any:
        """The value of ``code`` (None when it is not a key), read without keeping it: for walks over many codes,
        which would push the often used ones out of the cache."""
        row = self._keys.row(code) if isinstance(code, str) else -1
        return self._value(row) if row >= 0 else None

    def __getitem__(self, code: str) -> Any:
        found = self._lookup(code)
        if found is None:
            raise KeyError(code)
        return found

    def get(self, code: str, default: Any = None) -> Any:  # type: ignore[override]
        found = self._lookup(code)
        return default if found is None else found

    def __contains__(self, code: object) -> bool:
        return self._lookup(code) is not None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_cached"}

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class PackedNodes(_PackedMapping):
    """A read-only ``{code: Node}`` in tabular order; each lookup decodes a new ``Node`` from the blob."""

    def __init__(self, nodes: Mapping[str, Node]):
        self._keys = CodeKeys(nodes)
        records = [marshal.dumps(node.__reduce__()[1]) for node in nodes.values()]
        self._offsets = np.zeros(len(records) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in records], out=self._offsets[1:])
        self._blob = b"".join(records)

    def _value(self, row: int) -> Node:
        return Node(*marshal.loads(self._blob[self._offsets[row]: self._offsets[row + 1]]))

    def items(self) -> Iterator[tuple[str, Node]]:  # type: ignore[override]
        return ((self._keys.code(row), self._value(row)) for row in range(len(self._keys)))

    def values(self) -> Iterator[Node]:  # type: ignore[override]
        return (self._value(row) for row in range(len(self._keys)))


class SeventhCharacterCodes(_PackedMapping):
    """A read-only ``{7th-character code: (stem, character)}``."""

    def __init__(self, expanded: Mapping[str, tuple[str, str]]):
        self._keys = CodeKeys(expanded)
        self._stems = np.array([stem.encode("ascii") for stem, _ in expanded.values()], dtype=bytes)
        self._chars = np.array([char.encode("ascii") for _, char in expanded.values()], dtype="S1")

    def _value(self, row: int) -> tuple[str, str]:
        return self._stems[row].decode("ascii"), self._chars[row].decode("ascii")
