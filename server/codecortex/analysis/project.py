"""Project-level rules: import cycles (Tarjan SCC) and README quality."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote

from codecortex.analysis.builder import InsightBuilder, Rule
from codecortex.analysis.model import FileAnalysis, Insight, Relationship
from codecortex.diagnostics import Range

__all__ = ["import_cycle_rule", "import_graph", "readme_rules", "strongly_connected_components"]


def import_graph(relationships: Iterable[Relationship]) -> dict[str, set[str]]:
    """Module-level import edges (imports inside functions or TYPE_CHECKING blocks excluded)."""
    graph: dict[str, set[str]] = {}
    for r in relationships:
        if r.type != "imports" or not r.metadata.get("runtime", True):
            continue
        if r.source_file == r.target_file:
            continue
        graph.setdefault(r.source_file, set()).add(r.target_file)
        graph.setdefault(r.target_file, set())
    return graph


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components of two or more nodes, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterable[str]]] = []
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        work.append((start, iter(sorted(graph.get(start, ())))))
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack and index[child] < low[node]:
                    low[node] = index[child]
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[node] < low[parent]:
                    low[parent] = low[node]
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    out.sort()
    return out


def _shortest_cycle(graph: Mapping[str, set[str]], members: set[str], start: str) -> list[str]:
    prev: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                path.reverse()
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                prev[nxt] = node
                queue.append(nxt)
    return [start]


_IMPORT_CYCLE = Rule(
    "architecture.import_cycle",
    "architecture",
    "days",
    "Cyclic imports make initialisation order fragile (partially initialised "
    "modules) and prevent using or testing the modules separately.",
    "Move the shared pieces into a lower-level module, invert the dependency, or "
    "import lazily where the cycle is intentional.",
)


def import_cycle_rule(
    analyses: Mapping[str, FileAnalysis], relationships: list[Relationship]
) -> list[Insight]:
    """One `architecture.import_cycle` insight per strongly connected group of modules."""
    graph = import_graph(relationships)
    lines: dict[tuple[str, str], int] = {}
    for r in relationships:
        if r.type == "imports":
            found = r.metadata.get("lines") or [0]
            lines.setdefault((r.source_file, r.target_file), int(found[0]))
    out: list[Insight] = []
    for comp in strongly_connected_components(graph):
        first = comp[0]
        cycle = _shortest_cycle(graph, set(comp), first)
        line = lines.get((first, cycle[1]), 0) if len(cycle) > 1 else 0
        analysis = analyses.get(first)
        b = InsightBuilder(first, analysis.symbols if analysis else None)
        shown = " -> ".join(cycle)
        b.add(
            _IMPORT_CYCLE,
            title=f"Import cycle between {len(comp)} modules",
            summary=f"These modules import each other: {shown}.",
            range_=Range.of(line, 0, line, 0),
            severity="warning",
            confidence=0.9,
            snippet="|".join(comp),
            symbol=None,
            use_symbol_at=False,
            extra={"members": comp[:100], "size": len(comp), "cycle": cycle},
        )
        out += b.finish()
    return out


# --------------------------------------------------------------------------- README

_README_NAMES = ("readme.md", "readme.markdown", "readme.rst", "readme.txt", "readme")
_SECTIONS = {
    "install": re.compile(r"(?i)install|set ?up|getting started|quick ?start|requirements"),
    "usage": re.compile(r"(?i)usage|\buse\b|using|example|getting started|quick ?start|how to"),
    "test": re.compile(r"(?i)test|development|developing|contribut"),
}
_SECTION_HELP = {
    "install": "how to install or set the project up",
    "usage": "how to use it, with an example",
    "test": "how to run the tests",
}
_SECTION_RULES = {
    section: Rule(
        f"readme.missing_{section}_section",
        "readme_quality",
        "minutes",
        "Readers look for these sections first; without them they guess or give up.",
        f"Add a heading such as '## {section.capitalize()}' with {help_}.",
    )
    for section, help_ in _SECTION_HELP.items()
}
_README_MISSING = Rule(
    "readme.missing",
    "readme_quality",
    "hours",
    "The README is the first thing users and new contributors read.",
    "Add a README.md saying what the project does, how to install, use and test it.",
)
_BROKEN_LINK = Rule(
    "readme.broken_link",
    "readme_quality",
    "minutes",
    "Broken links make documentation look abandoned and hide the content.",
    "Fix the path or remove the link.",
)
_MD_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
_MD_REF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_RST_LINK = re.compile(r"`[^`<]*<([^>`]+)>`_")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^#")


def _find_readme(root: Path) -> Path | None:
    try:
        entries = {p.name.lower(): p for p in root.iterdir() if p.is_file()}
    except OSError:
        return None
    for name in _README_NAMES:
        if name in entries:
            return entries[name]
    return None


def _headings(lines: list[str], rst: bool) -> list[str]:
    out = []
    in_fence = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if stripped.startswith("#"):
            out.append(stripped.lstrip("#").strip())
        elif i > 0 and stripped and len(set(stripped)) == 1 and stripped[0] in "=-~^*+#":
            if lines[i - 1].strip() and len(stripped) >= 3:
                out.append(lines[i - 1].strip())
        elif not rst and re.match(r"^<h[1-6][^>]*>(.*?)</h[1-6]>", stripped, re.I):
            out.append(re.sub(r"<[^>]+>", "", stripped))
    return out


def readme_rules(root: Path, has_sources: bool = True) -> list[Insight]:
    """README present, with install / usage / test sections, and no broken relative links."""
    readme = _find_readme(root)
    if readme is None:
        if not has_sources:
            return []
        b = InsightBuilder("README.md")
        b.add(
            _README_MISSING,
            title="The project has no README",
            summary="There is no README at the top of the project.",
            range_=Range.of(0, 0, 0, 0),
            severity="warning",
            confidence=0.95,
            use_symbol_at=False,
        )
        return b.finish()
    rel = readme.relative_to(root).as_posix()
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = text.splitlines()
    rst = readme.suffix.lower() == ".rst"
    b = InsightBuilder(rel)
    headings = _headings(lines, rst)
    for section, pattern in _SECTIONS.items():
        if any(pattern.search(h) for h in headings):
            continue
        b.add(
            _SECTION_RULES[section],
            title=f"README has no {section} section",
            summary=f"The README does not explain {_SECTION_HELP[section]}.",
            range_=Range.of(0, 0, 0, 0),
            severity="info",
            confidence=0.7,
            use_symbol_at=False,
            extra={"headings": headings[:50]},
        )
    in_fence = False
    for n, line in enumerate(lines):
        if line.strip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        found: list[tuple[str, int]] = []
        for m in (_RST_LINK if rst else _MD_LINK).finditer(line):
            found.append((m.group(1), m.start(1)))
        if not rst:
            ref = _MD_REF.match(line)
            if ref:
                found.append((ref.group(1), ref.start(1)))
        for target, col in found:
            if _SCHEME.match(target):
                continue
            path_part = unquote(target.split("#", 1)[0].split("?", 1)[0])
            if not path_part:
                continue
            base = root if path_part.startswith("/") else readme.parent
            candidate = (base / path_part.lstrip("/")).resolve()
            if candidate.exists():
                continue
            b.add(
                _BROKEN_LINK,
                title=f"Broken link in README: {target}",
                summary=f"The README links to {path_part}, which does not exist.",
                range_=Range.of(n, col, n, col + len(target)),
                severity="warning",
                confidence=0.9,
                snippet=target,
                use_symbol_at=False,
                extra={"target": target},
            )
    return b.finish()
