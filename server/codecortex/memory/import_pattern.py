"""The "import added" fix pattern: a fix that added import lines only (``import re`` for
"Undefined name `re`", anywhere in the file) is replayed with the placeholder values mapped
(``re`` -> ``json``) into the new file's import block, in its group (standard library, then the
rest), sorted, unless the name is imported already."""

from __future__ import annotations

import ast
import re
import sys

from codecortex.diagnostics import Range, TextEdit
from codecortex.memory.replay import ReplayResult, checked_result
from codecortex.memory.tokens import map_text, python_tree

_IDENT = re.compile(r"[^\W\d]\w*")
_IMPORT_LINE = re.compile(r"^(?:import\s+[\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*"
                          r"|from\s+[\w.]+\s+import\s+[^()#]+?)\s*(?:#.*)?$")  # fmt: skip


def _import_block(lines: list[str]) -> tuple[int, int]:
    """(first, end) line indexes of the leading import block (after docstring, comments and
    `from __future__`); first == end when the file has none (end: where to put one)."""
    i = 0
    n = len(lines)
    tree = python_tree("".join(lines))
    if tree is None:
        return (0, 0)
    body = tree.body
    k = 0
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
    ):
        i = body[0].end_lineno or 0
        k = 1
    first = None
    end = i
    while k < len(body) and isinstance(body[k], (ast.Import, ast.ImportFrom)):
        node = body[k]
        if first is None:
            first = node.lineno - 1
        end = node.end_lineno or node.lineno
        k += 1
    if first is None:
        while i < n and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
            i += 1
        return (i, i)
    return (first, end)


def _module_of(line: str) -> str:
    m = re.match(r"\s*(?:from|import)\s+([\w.]+)", line)
    return m.group(1) if m else ""


def _is_stdlib(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names or module == "__future__"


def import_fix(
    before: str, after: str, mapping: dict[str, str], new_values: list[str], text: str
) -> ReplayResult | None:
    if before.strip():
        return None
    added = [ln for ln in after.splitlines() if ln.strip()]
    if not added or not all(_IMPORT_LINE.match(ln.strip()) for ln in added):
        return None
    mapped, _spans = map_text("\n".join(added), mapping)
    new_lines = [ln.strip() for ln in mapped.splitlines()]
    names = {p for v in new_values for p in _IDENT.findall(v)}
    bound = {n for ln in new_lines for n in _IDENT.findall(ln)}
    if not names & bound:
        return None  # the import is not the mapped name of the new problem
    lines = text.splitlines(keepends=True)
    first, end = _import_block(lines)
    block = lines[first:end]
    present = {ln.strip() for ln in block}
    edits: list[TextEdit] = []
    nl = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    for new in new_lines:
        if new in present:
            return None
        module = _module_of(new)
        std = _is_stdlib(module)
        # the group: consecutive non-blank import lines of the same kind
        group = [
            i
            for i in range(first, end)
            if lines[i].strip()
            and not lines[i][0].isspace()
            and _module_of(lines[i])
            and _is_stdlib(_module_of(lines[i])) == std
            and _module_of(lines[i]) != "__future__"
        ]
        if group:
            kind = new.split()[0]
            same_kind = [i for i in group if lines[i].lstrip().startswith(kind + " ")]
            if same_kind:  # sorted among the lines of its kind (`import x` before `from x`)
                at = next(
                    (i for i in same_kind if _module_of(lines[i]).lower() > module.lower()),
                    same_kind[-1] + 1,
                )
            else:
                at = group[0] if kind == "import" else group[-1] + 1
            insert = new + nl
        elif std and first < end:
            at, insert = first, new + nl + nl
        elif first < end:
            at, insert = end, nl + new + nl
        else:
            at, insert = first, new + nl + (nl if first < len(lines) else "")
        edits.append(TextEdit(Range.of(at, 0, at, 0), insert))
    return checked_result(text, edits, 0.85, "import added in its group: " + "; ".join(new_lines))
