"""Edits made for one version of a text, carried to a newer version whose lines they touch did
not change (lines added or removed elsewhere, as while typing above a problem).

A fix checked on the old text replaces some code by other code; when the lines it replaces are
the same in the new text, the same edit at their new position makes the same change, so it
needs neither a new replay nor a new check (`Memory.replay_again` falls back to replaying the
fix when an edit's lines changed).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from difflib import SequenceMatcher

from codecortex.diagnostics import Position, Range, TextEdit

__all__ = ["LineMap"]


@dataclass(frozen=True, slots=True)
class LineMap:
    """Where each unchanged line of `old` is in `new`: blocks of equal lines (old start, new
    start, length), in order."""

    blocks: tuple[tuple[int, int, int], ...]

    @classmethod
    def between(cls, old: str, new: str) -> LineMap:
        a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
        matcher = SequenceMatcher(None, a, b, autojunk=False)
        return cls(tuple((i, j, n) for i, j, n in matcher.get_matching_blocks() if n))

    def _line(self, line: int, *, end_of_block: bool = False) -> int | None:
        """The new number of old `line` when it is unchanged; `end_of_block`: also the line
        just after a block (an edit ending at the start of a line does not touch that line)."""
        starts = [b[0] for b in self.blocks]
        k = bisect_right(starts, line) - 1
        if k < 0:
            return None
        i, j, n = self.blocks[k]
        if line < i + n or (end_of_block and line == i + n):
            return j + line - i
        return None

    def edits(self, edits: list[TextEdit]) -> list[TextEdit] | None:
        """`edits` at their place in the new text, or None when one touches a changed line."""
        out = []
        for e in edits:
            start = self._line(e.range.start.line)
            end_line = e.range.end.line
            at_line_start = e.range.end.character == 0 and end_line > e.range.start.line
            end = self._line(end_line, end_of_block=at_line_start)
            if start is None or end is None or end - start != end_line - e.range.start.line:
                return None
            out.append(
                TextEdit(
                    Range(
                        Position(start, e.range.start.character),
                        Position(end, e.range.end.character),
                    ),
                    e.new_text,
                )
            )
        return out
