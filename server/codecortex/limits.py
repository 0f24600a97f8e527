"""Size limits for what users and clients hand us (queries, notes, diagnostic messages, command
arguments): one table, so that a 10 MB string is refused or clipped with a clear reason
instead of blocking the event loop in a regex or a hash embedder."""

from __future__ import annotations

from typing import Any

# A diagnostic message longer than this is clipped (the problem is still recorded; the
# signature and the stored message use the first part, which is what identifies it).
MAX_DIAGNOSTIC_MESSAGE = 4_000
MAX_QUERY = 2_000  # codecortex.search
MAX_NOTE = 100_000  # codecortex.addNote text
MAX_TITLE = 500
MAX_TAGS = 50
MAX_TAG = 100
MAX_ARGUMENT = 10_000  # any other string argument of a command (ids, URIs, signatures)
MAX_ARGUMENTS_TOTAL = 200_000  # all arguments of one command together (a note is the largest)
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # one JSON-RPC message (documents are sent whole)

CLIPPED = " …[clipped]"


def too_long(name: str, value: str, limit: int) -> str | None:
    """The error for a value over its limit (naming the value and both sizes), or None."""
    if len(value) <= limit:
        return None
    return f"{name} is too long ({len(value)} characters; the limit is {limit})"


def clip(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters (with a marker) when longer."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[: max(0, limit - len(CLIPPED))] + CLIPPED


def json_size(value: Any, budget: int) -> int:
    """Characters of the strings (and keys) in a JSON-like value, counting stops past `budget`."""
    total = 0
    stack = [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += sum(len(k) for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            total += 8
    return total
