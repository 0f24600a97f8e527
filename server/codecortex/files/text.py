"""Is this file text we can work on? One answer for detectors, docs, history and the CLI:
not larger than the size limit, not binary (a NUL byte anywhere), valid UTF-8, and a regular
file (a named pipe or device would block the reader forever)."""

from __future__ import annotations

import stat
from pathlib import Path

SNIFF_BYTES = 8192


def decode_text(data: bytes) -> tuple[str | None, str | None]:
    """(text, None), or (None, why not) for binary or non-UTF-8 content."""
    if b"\x00" in data[:SNIFF_BYTES]:
        return None, "binary file"
    nul = data.find(b"\x00")
    if nul >= 0:  # PostgreSQL text cannot hold it, and no tool reads such a file as source
        return None, f"contains a NUL byte (at offset {nul})"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (invalid byte at offset {exc.start})"


def read_text_file(path: Path, max_file_size: int) -> tuple[str | None, str | None]:
    """(text, None), or (None, why not) for huge, unreadable, binary or non-UTF-8 files."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file"
        size = info.st_size
        if size > max_file_size:
            return None, f"larger than {max_file_size} bytes ({size} bytes)"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable: {(exc.strerror or str(exc)).lower()}"
    except RuntimeError as exc:  # a symlink loop on some Python versions
        return None, f"unreadable: {exc}"
    return decode_text(data)
