"""Editor-agnostic diagnostic types shared by detectors, the engine, the LSP layer and the CLI.

Positions are 0-based lines and UTF-16-agnostic character columns, like LSP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codecortex.limits import MAX_DIAGNOSTIC_MESSAGE, clip


@dataclass(frozen=True, slots=True)
class Position:
    line: int
    character: int


@dataclass(frozen=True, slots=True)
class Range:
    start: Position
    end: Position

    @classmethod
    def of(cls, sl: int, sc: int, el: int, ec: int) -> Range:
        return cls(Position(sl, sc), Position(el, ec))

    def to_json(self) -> dict[str, dict[str, int]]:
        return {
            "start": {"line": self.start.line, "character": self.start.character},
            "end": {"line": self.end.line, "character": self.end.character},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Range:
        s, e = data["start"], data["end"]
        return cls.of(int(s["line"]), int(s["character"]), int(e["line"]), int(e["character"]))


@dataclass(frozen=True, slots=True)
class TextEdit:
    range: Range
    new_text: str


@dataclass(slots=True)
class Diagnostic:
    """One problem reported by a tool (ruff, mypy, tsc, ...) or forwarded by the editor.

    `source` is the reporting tool as the editor names it (e.g. "Ruff", "mypy", "ts"); `code` is the
    rule or error code as a string ("F401", "attr-defined", "2339"), or "" when the tool gives none.
    Severity follows LSP: 1 error, 2 warning, 3 information, 4 hint.
    """

    source: str
    code: str
    message: str
    range: Range
    severity: int = 1
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A tool or client may send a megabyte "message": keep the part that identifies the
        # problem (signatures and the database see at most this much).
        self.message = clip(self.message, MAX_DIAGNOSTIC_MESSAGE)
        self.source = clip(self.source, 200)
        self.code = clip(self.code, 200)

    def key(self) -> tuple[str, str, str, int, int]:
        return (
            self.source,
            self.code,
            self.message,
            self.range.start.line,
            self.range.start.character,
        )


def apply_edits(text: str, edits: list[TextEdit]) -> str:
    """Apply non-overlapping edits (LSP semantics: all ranges refer to the original text)."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(pos: Position) -> int:
        if pos.line >= len(lines):
            return len(text)
        line_text = lines[pos.line].rstrip("\r\n")
        return offsets[pos.line] + min(pos.character, len(line_text))

    spans = sorted(
        ((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits), reverse=True
    )
    out = text
    prev_start = len(text) + 1
    for start, end, new in spans:
        if end > prev_start:
            raise ValueError("overlapping edits")
        out = out[:start] + new + out[end:]
        prev_start = start
    return out
