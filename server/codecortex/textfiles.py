"""Is this file text we can work on? One answer for detectors, docs, history and the CLI:
not larger than the size limit, not binary (a NUL byte early on), valid UTF-8."""

from __future__ import annotations

from pathlib import Path

SNIFF_BYTES = 8192


def decode_text(data: bytes) -> tuple[str | None, str | None]:
    """(text, None), or (None, why not) for binary or non-UTF-8 content."""
    if b"\x00" in data[:SNIFF_BYTES]:
        return None, "binary file"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (invalid byte at offset {exc.start})"


def read_text_file(path: Path, max_file_size: int) -> tuple[str | None, str | None]:
    """(text, None), or (None, why not) for huge, unreadable, binary or non-UTF-8 files."""
    try:
        size = path.stat().st_size
        if size > max_file_size:
            return None, f"larger than {max_file_size} bytes ({size} bytes)"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"
    return decode_text(data)
