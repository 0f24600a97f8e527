"""Fit prompt sections into a token budget with a cheap estimate (4 characters ~ 1 token)."""

from __future__ import annotations

CHARS_PER_TOKEN = 4
TRUNCATION_MARK = "\n[... truncated ...]"
SEPARATOR = "\n\n"


def estimate_tokens(text: str) -> int:
    """Rough token count: ceil(len / 4)."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def fit_to_budget(sections: list[tuple[str, str, int]], max_tokens: int) -> str:
    """Join ``(title, body, priority)`` sections (in their given order) into at most
    ``max_tokens`` estimated tokens.

    Higher ``priority`` survives longer: sections are dropped lowest priority first (latest
    first among equal priorities); the lowest-priority section that no longer fits whole is
    truncated at a line boundary when at least a little of it fits. A section with an empty
    title is emitted without a heading.
    """
    if max_tokens <= 0:
        return ""
    budget = max_tokens * CHARS_PER_TOKEN

    def render(title: str, body: str) -> str:
        return f"## {title}\n{body}" if title else body

    rendered = [render(t, b) for t, b, _ in sections]
    kept = [bool(b.strip()) for _, b, _ in sections]

    def total() -> int:
        parts = [r for r, k in zip(rendered, kept, strict=True) if k]
        return sum(len(p) for p in parts) + len(SEPARATOR) * max(0, len(parts) - 1)

    # drop order: lowest priority first; among equals, the later section first
    order = sorted(range(len(sections)), key=lambda i: (sections[i][2], -i))
    for i in order:
        if total() <= budget:
            break
        if not kept[i]:
            continue
        kept[i] = False
        room = budget - total() - (len(SEPARATOR) if any(kept) else 0)
        title, body, _ = sections[i]
        head = render(title, "")
        min_useful = len(head) + len(TRUNCATION_MARK) + 80
        if room >= min_useful:
            cut = body[: room - len(head) - len(TRUNCATION_MARK)]
            newline = cut.rfind("\n")
            if newline > len(cut) // 2:
                cut = cut[:newline]
            rendered[i] = head + cut + TRUNCATION_MARK
            kept[i] = True
            break
    out = SEPARATOR.join(r for r, k in zip(rendered, kept, strict=True) if k)
    return out[:budget]


__all__ = ["estimate_tokens", "fit_to_budget"]
