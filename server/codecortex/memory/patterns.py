"""Fix patterns: learned changes generalised beyond the token replay of `codecortex.memory.replay`.

A learned change (`before` -> `after` fragment, placeholder values of the problem it fixed) is
recognised as one of these shapes and re-applied where the fix lives on the new code:

- **comment fix**: the code is unchanged and a comment was added on the problem's line
  (``# noqa: B018``, ``# type: ignore[arg-type]``). Replayed on the new problem's line; an
  existing ``# noqa: X`` / ``# type: ignore[x]`` there gets the code added instead.
- **statement suffix with holes**: one statement got a suffix (``raise $E`` -> ``raise $E from
  $err``, whatever ``$E`` is); a name of the suffix bound by the enclosing ``except ... as err``
  is a hole filled with the new code's own name (an ``as err`` added to the clause by the fix is
  added on the new clause when it has none). The statement at the new problem must start with
  the same keyword.
- **argument added**: a keyword argument with a constant value was added to one call
  (``zip(a, b)`` -> ``zip(a, b, strict=True)``); added to the call of the same function at the
  new problem, after whatever arguments it has.
- **import added** (`import_pattern`): the fix added import lines only (``import re`` for
  "Undefined name `re`"): the mapped import goes into the new file's import block.

Each returns a `replay.ReplayResult` (edits relative to the new text) or None when the shape
does not apply; the result must still parse.
"""

from __future__ import annotations

import keyword
import re
import textwrap

from cydifflib import SequenceMatcher  # difflib's matcher compiled: the same opcodes
from tree_sitter import Node

from codecortex.diagnostics import Range, TextEdit
from codecortex.memory.import_pattern import import_fix
from codecortex.memory.replay import ReplayResult, checked_result
from codecortex.memory.tokens import (
    line_starts,
    offset_position,
    tokenize,
)
from codecortex.syntax import grammars as treesitter

__all__ = ["replay_pattern"]

_IDENT = re.compile(r"[^\W\d]\w*")
_EXCEPT_ALIAS = re.compile(r"^\s*except\b[^:#]*?\bas\s+([^\W\d]\w*)\s*:")
_EXCEPT = re.compile(r"^(\s*except\b[^:#]*?)(\s*:)")
_NOQA = re.compile(r"#\s*noqa:\s*([A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)", re.I)
_TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore\[([\w\-, ]+)\]")


def _code_of(line: str) -> tuple[str, str]:
    """(code, comment) of one line: the comment is the text of its comment token, if any."""
    comments = [t for t in tokenize(line, "python") if t.kind == "comment"]
    if not comments:
        return line.rstrip("\r\n"), ""
    c = comments[-1]
    return line[: c.start], line[c.start : c.end]


# --------------------------------------------------------------------------- comment fixes


def _comment_fix(before: str, after: str, text: str, rng: Range) -> ReplayResult | None:
    b_lines, a_lines = before.splitlines(), after.splitlines()
    if len(b_lines) != len(a_lines):
        return None
    added: str | None = None
    spacing = "  "
    for bl, al in zip(b_lines, a_lines, strict=True):
        if bl == al:
            continue
        (bcode, bcom), (acode, acom) = _code_of(bl), _code_of(al)
        if bcode.rstrip() != acode.rstrip() or bcom == acom or added is not None:
            return None
        if bcom:
            return None  # an existing comment rewritten: not a plain added directive
        added, spacing = acom, acode[len(acode.rstrip()) :] or "  "
    if not added or not (_NOQA.search(added) or _TYPE_IGNORE.search(added)):
        return None
    lines = text.splitlines(keepends=True)
    line_no = rng.start.line
    if line_no >= len(lines):
        return None
    line = lines[line_no].rstrip("\r\n")
    code, comment = _code_of(line)
    if not code.strip():
        return None
    if comment:
        merged = _merge_directive(comment, added)
        if merged is None:
            return None
        edit = TextEdit(Range.of(line_no, len(code), line_no, len(line)), merged)
    else:
        edit = TextEdit(Range.of(line_no, len(code.rstrip()), line_no, len(line)), spacing + added)
    return checked_result(text, [edit], 0.85, f"comment fix: {added}")


def _merge_directive(existing: str, added: str) -> str | None:
    """`# noqa: E501` + `# noqa: B018` -> `# noqa: E501, B018` (likewise type: ignore[...])."""
    for pattern, fmt in ((_NOQA, "# noqa: {}"), (_TYPE_IGNORE, "# type: ignore[{}]")):
        new, old = pattern.search(added), pattern.search(existing)
        if new is None:
            continue
        if old is None:
            return None
        codes = [c.strip() for c in old.group(1).split(",")]
        extra = [c.strip() for c in new.group(1).split(",") if c.strip() not in codes]
        if not extra:
            return None
        return (
            existing[: old.start()] + fmt.format(", ".join(codes + extra)) + existing[old.end() :]
        )
    return None


# --------------------------------------------------------------------------- statement suffix


def _node_at(text: str, rng: Range) -> Node | None:
    """The innermost syntax node of Python `text` at the problem's start (None past its end)."""
    tree = treesitter.parse_recent(text, "python")
    lines = text.splitlines(keepends=True)
    if rng.start.line >= len(lines):
        return None
    col = len(lines[rng.start.line][: rng.start.character].encode("utf-8"))
    return tree.root_node.descendant_for_point_range((rng.start.line, col), (rng.start.line, col))


def _statement_at(text: str, rng: Range) -> tuple[int, int] | None:
    """(start, end) character offsets of the innermost statement at the problem's start."""
    node = _node_at(text, rng)
    while node is not None and not node.type.endswith("_statement"):
        node = node.parent
    if node is None:
        return None
    data = text.encode("utf-8")
    start = len(data[: node.start_byte].decode("utf-8", "replace"))
    end = len(data[: node.end_byte].decode("utf-8", "replace"))
    return start, end


def _statement_keyword(lines: list[str], row: int) -> str | None:
    """The first word of the innermost statement of a code fragment that ends on `row`."""
    fragment = textwrap.dedent("\n".join(lines) + "\n")
    tree = treesitter.parse(fragment, "python")
    best = None
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type.endswith("_statement") and node.end_point[0] == row:
            if best is None or node.start_byte >= best.start_byte:
                best = node
        stack.extend(node.children)
    if best is None or best.text is None:
        return None
    words = bytes(best.text).decode("utf-8", "replace").split()
    return words[0] if words else None


def _suffix_fix(before: str, after: str, text: str, rng: Range) -> ReplayResult | None:
    b_lines, a_lines = before.splitlines(), after.splitlines()
    ops = [
        op
        for op in SequenceMatcher(None, b_lines, a_lines, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    if not ops or any(op[0] != "replace" or op[2] - op[1] != op[4] - op[3] for op in ops):
        return None
    suffix: str | None = None
    keyword_: str | None = None
    alias_added: str | None = None
    old_alias = next((m.group(1) for ln in b_lines if (m := _EXCEPT_ALIAS.match(ln))), None)
    for _, i1, i2, j1, _j2 in ops:
        for k in range(i2 - i1):
            bl, al = b_lines[i1 + k].rstrip(), a_lines[j1 + k].rstrip()
            m_b, m_a = _EXCEPT.match(bl), _EXCEPT_ALIAS.match(al)
            if m_b and m_a and not _EXCEPT_ALIAS.match(bl):
                if al != f"{m_b.group(1)} as {m_a.group(1)}{m_b.group(2)}":
                    return None
                alias_added = m_a.group(1)
                continue
            if not al.startswith(bl) or suffix is not None or not bl.strip():
                return None
            suffix = al[len(bl) :]
            keyword_ = _statement_keyword(b_lines, i1 + k)
    if not suffix or not keyword_ or not keyword.iskeyword(keyword_):
        return None
    alias = alias_added or old_alias
    holes = [n for n in _IDENT.findall(suffix) if not keyword.iskeyword(n)]
    if any(n != alias for n in holes):
        return None  # a name the suffix brings in that nothing binds here
    span = _statement_at(text, rng)
    if span is None:
        return None
    start, end = span
    stmt = text[start:end]
    if not stmt.startswith(keyword_ + " ") and stmt != keyword_:
        return None
    if stmt.rstrip().endswith(suffix.strip()) or (" from " in stmt and keyword_ == "raise"):
        return None
    starts = line_starts(text)
    edits: list[TextEdit] = []
    new_suffix = suffix
    if holes:
        lines = text.splitlines(keepends=True)
        here = offset_position(starts, start).line
        clause_line = next(
            (i for i in range(here - 1, -1, -1) if re.match(r"\s*except\b", lines[i])), None
        )
        if clause_line is None:
            return None
        clause = lines[clause_line].rstrip("\r\n")
        m_alias = _EXCEPT_ALIAS.match(clause)
        if m_alias:
            new_suffix = re.sub(rf"\b{re.escape(alias or '')}\b", m_alias.group(1), suffix)
        else:
            m_exc = _EXCEPT.match(clause)
            if m_exc is None or alias is None or re.search(rf"\b{alias}\b", text):
                return None
            col = len(m_exc.group(1))
            edits.append(TextEdit(Range.of(clause_line, col, clause_line, col), f" as {alias}"))
    end_pos = offset_position(starts, end)
    edits.append(TextEdit(Range(end_pos, end_pos), new_suffix))
    return checked_result(text, edits, 0.9, f"statement suffix: {keyword_} ...{new_suffix}")


# --------------------------------------------------------------------------- call arguments

_KEYWORD_ARG = re.compile(r"^,?\s*([^\W\d]\w*)\s*=\s*(.+?)\s*,?\s*$", re.S)
_CONSTANT = re.compile(r"True|False|None|-?\d+(?:\.\d+)?|'[^'\n]*'|\"[^\"\n]*\"")


def _call_argument_fix(before: str, after: str, text: str, rng: Range) -> ReplayResult | None:
    """A keyword argument with a constant value added to one call (`zip(a, b)` ->
    `zip(a, b, strict=True)`, `warn(msg)` -> `warn(msg, stacklevel=2)`): added to the call of
    the same function at the new problem, whatever its other arguments are."""
    btoks = [t for t in tokenize(before, "python") if t.kind != "comment"]
    atoks = [t for t in tokenize(after, "python") if t.kind != "comment"]
    ops = [
        op
        for op in SequenceMatcher(
            None, [t.text for t in btoks], [t.text for t in atoks], autojunk=False
        ).get_opcodes()
        if op[0] != "equal"
    ]
    if len(ops) != 1 or ops[0][0] != "insert":
        return None
    _, i1, _i2, j1, j2 = ops[0]
    if i1 >= len(btoks) or btoks[i1].text != ")" or i1 == 0:
        return None
    inserted = after[atoks[j1].start : atoks[j2 - 1].end]
    m = _KEYWORD_ARG.match(inserted)
    if m is None or not _CONSTANT.fullmatch(m.group(2)):
        return None
    name, value = m.group(1), m.group(2)
    # the function whose call got the argument: the name before its opening parenthesis
    depth, k = 0, i1
    while k > 0:
        k -= 1
        if btoks[k].text == ")":
            depth += 1
        elif btoks[k].text == "(":
            if depth == 0:
                break
            depth -= 1
    if k == 0 or btoks[k].text != "(" or btoks[k - 1].kind != "ident":
        return None
    function = btoks[k - 1].text
    node = _node_at(text, rng)
    call = None
    while node is not None:
        if node.type == "call":
            fn = node.child_by_field_name("function")
            fn_text = bytes(fn.text or b"").decode("utf-8", "replace") if fn else ""
            if fn_text.split(".")[-1] == function:
                call = node
                break
        node = node.parent
    args = call.child_by_field_name("arguments") if call is not None else None
    if args is None or args.type != "argument_list":
        return None
    if re.search(rf"\b{re.escape(name)}\s*=", bytes(args.text or b"").decode("utf-8", "replace")):
        return None
    close = args.children[-1]
    if close.type != ")":
        return None
    inner = [c for c in args.children[1:-1]]
    lines = text.splitlines(keepends=True)
    row, bcol = close.start_point
    line_text = lines[row].encode("utf-8")
    ccol = len(line_text[:bcol].decode("utf-8", "replace"))
    if not inner:
        insert = f"{name}={value}"
    elif inner[-1].type == ",":
        insert = f"{name}={value},"
        if inner[-1].end_point[0] == row:
            insert = f" {name}={value}"
    else:
        insert = f", {name}={value}"
    if inner and inner[-1].type == "," and inner[-1].end_point[0] != row:
        # a trailing comma on its own line layout: a new line before the bracket
        indent = re.match(r"[ \t]*", lines[inner[-1].end_point[0]]).group()  # type: ignore[union-attr]
        edit = TextEdit(Range.of(row, 0, row, 0), f"{indent}{name}={value},\n")
        if lines[row][:ccol].strip():
            return None
    else:
        edit = TextEdit(Range.of(row, ccol, row, ccol), insert)
    return checked_result(text, [edit], 0.9, f"argument added to {function}(): {name}={value}")


# --------------------------------------------------------------------------- entry point


def replay_pattern(
    change_before: str,
    change_after: str,
    mapping: dict[str, str],
    new_values: list[str],
    new_text: str,
    new_range: Range,
) -> ReplayResult | None:
    """Re-apply a learned change to Python code through the first fix pattern that recognises
    it (`mapping`: `build_value_mapping` of the old and new placeholder values)."""
    return (
        _comment_fix(change_before, change_after, new_text, new_range)
        or import_fix(change_before, change_after, mapping, new_values, new_text)
        or _suffix_fix(change_before, change_after, new_text, new_range)
        or _call_argument_fix(change_before, change_after, new_text, new_range)
    )
