"""The tree-sitter rules queries of `code_rules`, and how they are matched cheaply.

Each language has one rules query; every pattern's outer capture names the rule (`@eval`,
`@shell`, `@sql`, ...). A file is only matched when it contains one of the language's trigger
strings, and Python's query runs only on the calls found from their names in the source.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from tree_sitter import Node, Query, QueryCursor

from codecortex.syntax.grammars import get_language

__all__ = ["TRIGGERS", "rule_matches", "rules_query"]

_PYTHON_RULES = r"""
(call function: (identifier) @fn arguments: (argument_list . (_) @arg)
  (#any-of? @fn "eval" "exec")) @eval
(call function: (attribute object: (identifier) @mod attribute: (identifier) @fn)
  arguments: (argument_list . (_) @arg
    (keyword_argument name: (identifier) @kw value: (true) @val))
  (#eq? @kw "shell")) @shell
(call function: (identifier) @fn
  arguments: (argument_list . (_) @arg
    (keyword_argument name: (identifier) @kw value: (true) @val))
  (#eq? @kw "shell")) @shell
(call function: (attribute object: (identifier) @mod attribute: (identifier) @fn)
  arguments: (argument_list . (_) @arg)
  (#eq? @mod "os") (#any-of? @fn "system" "popen")) @ossystem
(call function: (attribute attribute: (identifier) @fn) arguments: (argument_list . (_) @arg)
  (#any-of? @fn "execute" "executemany" "executescript" "mogrify" "raw")) @sql
(call function: (attribute object: (identifier) @mod attribute: (identifier) @fn)
  arguments: (argument_list) @args
  (#eq? @mod "yaml") (#any-of? @fn "load" "load_all")) @yaml
(call function: (attribute object: (identifier) @mod attribute: (identifier) @fn)
  (#any-of? @mod "pickle" "cPickle" "_pickle" "dill")
  (#any-of? @fn "load" "loads" "Unpickler")) @pickle
(call function: (attribute object: (identifier) @mod attribute: (identifier) @fn)
  arguments: (argument_list) @args
  (#eq? @mod "hashlib") (#any-of? @fn "md5" "sha1" "new")) @weakhash
(call arguments: (argument_list
  (keyword_argument name: (identifier) @kw value: (false)) @kwarg)
  (#eq? @kw "verify")) @verify
(call function: (attribute attribute: (identifier) @fn)
  (#any-of? @fn "execute" "query" "fetchrow" "fetchval" "raw")) @dbcall
(assignment left: (identifier) @var
  right: [(string) (concatenated_string)
          (binary_operator left: [(string) (concatenated_string) (binary_operator)])
          (call function: (attribute object: (string) attribute: (identifier) @_f)
            (#eq? @_f "format"))] @rhs) @assign
"""

_JS_RULES = r"""
(call_expression function: (identifier) @fn arguments: (arguments . (_) @arg)
  (#eq? @fn "eval")) @eval
(new_expression constructor: (identifier) @fn arguments: (arguments (_) @arg .)
  (#eq? @fn "Function")) @eval
(assignment_expression left: (member_expression property: (property_identifier) @prop)
  right: (_) @rhs (#any-of? @prop "innerHTML" "outerHTML")) @html
(augmented_assignment_expression left: (member_expression property: (property_identifier) @prop)
  right: (_) @rhs (#any-of? @prop "innerHTML" "outerHTML")) @html
(call_expression
  function: (member_expression object: (identifier) @obj property: (property_identifier) @fn)
  arguments: (arguments . (_) @rhs)
  (#eq? @obj "document") (#any-of? @fn "write" "writeln")) @html
(call_expression
  function: [(identifier) @fn (member_expression property: (property_identifier) @fn)]
  arguments: (arguments . (_) @arg) (#any-of? @fn "exec" "execSync")) @cpexec
(call_expression function: (member_expression property: (property_identifier) @fn)
  arguments: (arguments . (_) @arg) (#any-of? @fn "query" "execute" "raw")) @sql
(call_expression function: (member_expression property: (property_identifier) @fn)
  (#any-of? @fn "query" "execute")) @dbcall
"""

_GO_RULES = r"""
(call_expression function: (selector_expression field: (field_identifier) @fn)
  arguments: (argument_list . (_) @arg) (#any-of? @fn "Query" "QueryRow" "Exec")) @sql
(call_expression function: (selector_expression field: (field_identifier) @fn)
  arguments: (argument_list . (_) . (_) @arg)
  (#any-of? @fn "QueryContext" "QueryRowContext" "ExecContext")) @sql
(call_expression function: (selector_expression field: (field_identifier) @fn)
  (#any-of? @fn "Query" "QueryRow" "Exec" "QueryContext" "QueryRowContext" "ExecContext"))
  @dbcall
"""

_JAVA_RULES = r"""
(method_invocation name: (identifier) @fn arguments: (argument_list . (_) @arg)
  (#any-of? @fn "executeQuery" "executeUpdate" "execute" "prepareStatement" "addBatch"
    "createQuery" "createNativeQuery")) @sql
(method_invocation name: (identifier) @fn (#any-of? @fn "executeQuery" "executeUpdate")) @dbcall
"""

_RULES = {
    "python": _PYTHON_RULES,
    "javascript": _JS_RULES,
    "typescript": _JS_RULES,
    "tsx": _JS_RULES,
    "go": _GO_RULES,
    "java": _JAVA_RULES,
}

# a file can only match the rules query when it contains one of these strings; most files do
# not, and skipping the query saves a full pass over their tree
TRIGGERS: dict[str, tuple[str, ...]] = {
    "python": (
        "eval(",
        "exec(",
        "shell",
        "os.system",
        "os.popen",
        ".execute",
        ".mogrify",
        ".raw(",
        "yaml.",
        "ickle.",
        "dill.",
        "hashlib.",
        "verify",
        ".query(",
        ".fetchrow",
        ".fetchval",
    ),
    "javascript": (
        "eval(",
        "Function(",
        "innerHTML",
        "outerHTML",
        "document.write",
        "exec",
        ".query(",
        ".execute(",
        ".raw(",
    ),
    "go": ("Query", "Exec"),
    "java": (
        "execute",
        "prepareStatement",
        "addBatch",
        "createQuery",
        "createNativeQuery",
    ),
}
TRIGGERS["typescript"] = TRIGGERS["tsx"] = TRIGGERS["javascript"]

# Python: every rules pattern but `@assign` is rooted at a `call` and constrains one of its
# identifiers (the function's name or a keyword argument's name) to one of these names, and that
# identifier's ancestors up to the call are only `attribute`, `keyword_argument` and
# `argument_list` nodes. So instead of matching the whole tree, the rules query runs on the calls
# found from these names' occurrences in the source (same matches, a fraction of the nodes).
_PY_CALL_NAMES = frozenset(
    {
        "eval",
        "exec",
        "shell",
        "system",
        "popen",
        "execute",
        "executemany",
        "executescript",
        "mogrify",
        "raw",
        "load",
        "load_all",
        "loads",
        "Unpickler",
        "md5",
        "sha1",
        "new",
        "verify",
        "query",
        "fetchrow",
        "fetchval",
    }
)


def _name_finders(names: frozenset[str]) -> tuple[re.Pattern[bytes], ...]:
    """One regex per first letter of `names` (a search for a literal first byte is fast; one
    alternation of every name is not), each matching a whole name up to a word boundary."""
    by_first: dict[str, list[str]] = {}
    for name in names:
        by_first.setdefault(name[0], []).append(name[1:])
    return tuple(
        re.compile(
            re.escape(first).encode()
            + b"(?:"
            + b"|".join(re.escape(r).encode() for r in sorted(rests, key=lambda r: (-len(r), r)))
            + rb")\b"
        )
        for first, rests in sorted(by_first.items())
    )


_PY_CALL_FINDERS = _name_finders(_PY_CALL_NAMES)
_IDENT_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_UP_TO_CALL = frozenset({"attribute", "keyword_argument", "argument_list"})


@cache
def rules_query(language: str) -> Query | None:
    source = _RULES.get(language)
    return Query(get_language(language), source) if source else None


def _python_rule_calls(root: Node, src: bytes) -> list[Node]:
    """The `call` nodes with an identifier named in `_PY_CALL_NAMES` as their function's name or
    a keyword argument's name (see `_PY_CALL_NAMES`), in document order."""
    found: dict[tuple[int, int], Node] = {}
    descend = root.descendant_for_byte_range
    ident = _IDENT_BYTES
    for finder in _PY_CALL_FINDERS:
        for m in finder.finditer(src):
            start, end = m.span()
            if start > 0 and src[start - 1] in ident:
                continue  # the end of a longer identifier
            node = descend(start, end)
            if node is None or node.type != "identifier" or node.start_byte != start:
                continue
            n = node.parent
            while n is not None and n.type in _UP_TO_CALL:
                n = n.parent
            if n is not None and n.type == "call":
                found[(n.start_byte, n.end_byte)] = n
    return [n for _span, n in sorted(found.items(), key=lambda kv: (kv[0][0], -kv[0][1]))]


def rule_matches(
    query: Query, tree: Any, lang: str, src: bytes
) -> tuple[list[dict[str, list[Node]]], list[tuple[int, dict[str, list[Node]]]] | None]:
    """(captures of the rules query's non-`assign` matches, sorted by their first byte; all the
    matches of the whole tree, or None when they were not needed)."""
    if lang != "python":
        matches = QueryCursor(query).matches(tree.root_node)
        rest = [caps for _idx, caps in matches if "assign" not in caps]
    else:
        matches = None
        rest = []
        for call in _python_rule_calls(tree.root_node, src):
            cursor = QueryCursor(query)
            cursor.set_max_start_depth(0)  # only the matches rooted at this call
            rest += [c for _idx, c in cursor.matches(call) if "assign" not in c]
        if any("sql" in c and c["arg"][0].type == "identifier" for c in rest):
            # the SQL rule follows `sql = f"..."` assignments: the whole tree's matches
            matches = QueryCursor(query).matches(tree.root_node)
            rest = [caps for _idx, caps in matches if "assign" not in caps]
    # match order does not follow the document; fingerprints of repeated findings do
    rest.sort(key=lambda c: min(n.start_byte for nodes in c.values() for n in nodes))
    return rest, matches
