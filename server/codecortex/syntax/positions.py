"""Byte/character position helpers: tree-sitter speaks UTF-8 bytes, LSP ranges speak characters."""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from typing import Any

from codecortex.diagnostics import Position, Range


class LineIndex:
    """Converts tree-sitter (row, byte column) points and byte offsets to character positions."""

    __slots__ = ("_ascii", "_starts", "src")

    def __init__(self, src: bytes, ascii_only: bool | None = None) -> None:
        self.src = src
        self._ascii = src.isascii() if ascii_only is None else ascii_only
        self._starts: list[int] | None = None

    @property
    def starts(self) -> list[int]:
        if self._starts is None:
            starts = [0]
            find = self.src.find
            pos = find(b"\n")
            while pos >= 0:
                starts.append(pos + 1)
                pos = find(b"\n", pos + 1)
            self._starts = starts
        return self._starts

    @property
    def ascii_only(self) -> bool:
        """True when bytes and characters coincide (`char_col` is the identity)."""
        return self._ascii

    def char_col(self, row: int, byte_col: int) -> int:
        if self._ascii or byte_col == 0:
            return byte_col
        starts = self.starts
        if row >= len(starts):
            return byte_col
        start = starts[row]
        return len(self.src[start : start + byte_col].decode("utf-8", errors="replace"))

    def byte_col(self, row: int, char_col: int) -> int:
        if self._ascii or char_col == 0:
            return char_col
        starts = self.starts
        if row >= len(starts):
            return char_col
        start = starts[row]
        end = starts[row + 1] if row + 1 < len(starts) else len(self.src)
        line = self.src[start:end].decode("utf-8", errors="replace")
        return len(line[:char_col].encode("utf-8"))

    def point_of_offset(self, offset: int) -> tuple[int, int]:
        starts = self.starts
        row = bisect_right(starts, offset) - 1
        return row, offset - starts[row]

    def range_of(self, node: Any) -> Range:
        sr, sc = node.start_point
        er, ec = node.end_point
        return Range(Position(sr, self.char_col(sr, sc)), Position(er, self.char_col(er, ec)))

    def range_of_offsets(self, start: int, end: int) -> Range:
        sr, sc = self.point_of_offset(start)
        er, ec = self.point_of_offset(end)
        return Range(Position(sr, self.char_col(sr, sc)), Position(er, self.char_col(er, ec)))


_WS = re.compile(r"\s+")


def normalise_snippet(snippet: str) -> str:
    """Whitespace-insensitive form of a code snippet, for fingerprints."""
    return _WS.sub(" ", snippet).strip()


def sha256_hex(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", errors="surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def node_text(src: bytes, node: Any) -> str:
    """The source text of a tree-sitter node ("" for None)."""
    if node is None:
        return ""
    return src[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
