"""Words and Markdown shown to developers: hints, fix titles, hover text, CLI lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codecortex.memory.views import FixOption, ProblemView


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = float(seconds)
    if seconds < 60:
        return f"{int(round(seconds))} s"
    if seconds < 3600:
        return f"{int(round(seconds / 60))} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def format_age(when: datetime | None) -> str:
    if when is None:
        return ""
    delta = (datetime.now(UTC) - when).total_seconds()
    if delta < 120:
        return "just now"
    return f"{format_duration(delta)} ago"


def where_from(solution: dict[str, Any]) -> str:
    source = solution.get("source") or "live"
    path = solution.get("file_path") or solution.get("solution_file")
    place = Path(path).name if path else ""
    owner = solution.get("user_name") or solution.get("owner")
    parts = []
    if source == "git":
        sha = (solution.get("commit_sha") or "")[:8]
        parts.append(f"commit {sha}" if sha else "git history")
    elif source == "github":  # learned from a merged pull request: /github/OWNER/NAME/path
        repo = "/".join(Path(path).parts[2:4]) if path and str(path).startswith("/github/") else ""
        sha = (solution.get("commit_sha") or "")[:8]
        parts.append(
            " ".join(p for p in ("GitHub", repo) if p) + (f", commit {sha}" if sha else "")
        )
    elif place:
        parts.append(place)
    if owner and solution.get("visibility") == "team":
        parts.append(f"by {owner}")
    return ", ".join(parts)


def shorten(text: str, limit: int = 60) -> str:
    """The first paragraph of a message on one line, cut at a word with "…" when too long."""
    first = " ".join(text.strip().split("\n\n", 1)[0].split())
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0] if " " in first[: limit - 1] else first[: limit - 1]
    return cut.rstrip(" ,;:") + "…"


def short_message(diagnostic: Any) -> str:
    """A diagnostic's own words (real names, not placeholders) for a title."""
    return shorten(diagnostic.message)


def fix_title(fix: FixOption) -> str:
    sol = fix.solution
    origin = where_from(sol)
    used = int(sol.get("reuse_count") or 0)
    details = [
        d for d in (f"from {origin}" if origin else "", f"used {used}×" if used else "") if d
    ]
    if fix.verified is not True:
        details.insert(0, "unverified")
    return "CodeCortex: apply past fix" + (f" ({', '.join(details)})" if details else "")


def hint_message(view: ProblemView) -> str | None:
    """'seen 4×, fixed in 2 min last time' — None when there is nothing worth saying."""
    history = view.history or {}
    seen = int(history.get("seen") or 0)
    fixed = int(history.get("fixed") or 0)
    if not view.fixes and fixed == 0:
        return None
    more = "+" if history.get("more") else ""
    parts = [f"seen {seen}{more}×"] if seen > 1 else []
    if fixed:
        parts.append(f"fixed in {format_duration(history.get('last_fix_seconds'))} last time")
    if view.fixes:
        parts.append("a past fix applies (quick fix)")
    return "CodeCortex: " + ", ".join(parts)


def _diff_block(diff: str, max_lines: int = 20) -> str:
    lines = [line for line in diff.splitlines() if not line.startswith(("---", "+++"))]
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], "…"]
    return "```diff\n" + "\n".join(lines) + "\n```"


def hover_markdown(views: list[ProblemView]) -> str | None:
    blocks: list[str] = []
    for view in views:
        history = view.history or {}
        seen = int(history.get("seen") or 0)
        fixed = int(history.get("fixed") or 0)
        if not (view.fixes or fixed or view.related or seen > 1):
            continue
        label = ":".join(p for p in (view.signature.tool, view.signature.code) if p)
        lines = [f"**CodeCortex** · `{label}`" if label else "**CodeCortex**"]
        if history.get("more"):  # counted over the most recent occurrences only
            summary = f"Seen {seen}+× · fixed {fixed}× of the last {seen}"
        else:
            summary = f"Seen {seen}× · fixed {fixed}×"
        if history.get("median_fix_seconds") is not None:
            summary += f" · fixes took {format_duration(history['median_fix_seconds'])} (median)"
        if history.get("last_fix_seconds") is not None:
            summary += f", {format_duration(history['last_fix_seconds'])} last time"
        lines.append(summary)
        shown: set[str] = set()
        for fix in view.fixes[:2]:
            sol = fix.solution
            shown.add(str(sol["id"]))
            lines.append(
                f"\n**Past fix** ({where_from(sol) or 'your history'}, "
                f"{format_age(sol.get('created_at'))}, confidence {fix.confidence:.0%}):"
            )
            lines.append(_diff_block(sol.get("diff") or ""))
        for hit in view.related:
            if hit["kind"] == "solution" and str(hit["id"]) not in shown and len(shown) < 3:
                shown.add(str(hit["id"]))
                lines.append(
                    f"\n**Similar fix** ({', '.join(hit['why'])}): "
                    f"{(hit.get('error_pattern') or '')[:120]}"
                )
                lines.append(_diff_block(hit.get("diff") or "", 10))
        docs = [h for h in view.related if h["kind"] == "knowledge"][:2]
        if docs:
            lines.append("\n**From your knowledge**")
            for hit in docs:
                lines.append(knowledge_line(hit))
        blocks.append("\n".join(lines))
    return "\n\n---\n\n".join(blocks) if blocks else None


def knowledge_line(hit: dict[str, Any]) -> str:
    title = hit.get("title") or "note"
    excerpt = " ".join((hit.get("content") or "").split())[:200]
    link = ""
    if hit.get("source_path"):
        line = hit.get("line_start") or 1
        link = f" — `{hit['source_path']}:{line}`"
    return f"- *{title}*{link}: {excerpt}"


def search_result_json(hit: dict[str, Any], root: Path | None = None) -> dict[str, Any]:
    """`codecortex.search` / `codecortex search --json` result shape."""
    out: dict[str, Any] = {
        "kind": hit["kind"],
        "id": str(hit["id"]),
        "score": round(float(hit["score"]), 6),
        "why": list(hit["why"]),
        "owner": hit.get("owner"),
        "visibility": hit.get("visibility"),
        "created": hit["created_at"].isoformat() if hit.get("created_at") else None,
    }
    if hit["kind"] == "solution":
        out["title"] = hit.get("error_pattern") or hit.get("problem_signature")
        out["snippet"] = hit.get("diff") or ""
        out["signature"] = hit.get("problem_signature")
    else:
        out["title"] = hit.get("title") or ""
        out["snippet"] = (hit.get("content") or "")[:500]
        if hit.get("source_path"):
            base = root or Path.cwd()
            out["uri"] = (base / hit["source_path"]).resolve().as_uri()
            out["line"] = max(0, int(hit.get("line_start") or 1) - 1)
    return out
