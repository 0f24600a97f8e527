"""Tree-sitter query rules: security issues and performance traps in code.

Each language has one rules query; every pattern's outer capture names the rule (`@eval`,
`@shell`, `@sql`, ...). The handlers look only at the matched nodes and their few ancestors.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from tree_sitter import Node, Query, QueryCursor

from codecortex.analysis._text import LineIndex
from codecortex.analysis.builder import InsightBuilder, Rule
from codecortex.analysis.languages import queries
from codecortex.analysis.model import FileAnalysis
from codecortex.diagnostics import TextEdit
from codecortex.syntax.grammars import get_language, parse

__all__ = ["run_code_rules"]

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
_TRIGGERS: dict[str, tuple[str, ...]] = {
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
_TRIGGERS["typescript"] = _TRIGGERS["tsx"] = _TRIGGERS["javascript"]

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

_LOOPS = {
    "python": frozenset(
        {
            "for_statement",
            "while_statement",
            "list_comprehension",
            "set_comprehension",
            "dictionary_comprehension",
            "generator_expression",
        }
    ),
    "javascript": frozenset(
        {"for_statement", "for_in_statement", "while_statement", "do_statement"}
    ),
    "go": frozenset({"for_statement"}),
    "java": frozenset(
        {"for_statement", "enhanced_for_statement", "while_statement", "do_statement"}
    ),
}
_LOOPS["typescript"] = _LOOPS["tsx"] = _LOOPS["javascript"]

_BOUNDARIES = {
    "python": frozenset({"function_definition", "class_definition", "lambda", "module"}),
    "javascript": frozenset(
        {
            "function_declaration",
            "function_expression",
            "arrow_function",
            "method_definition",
            "generator_function_declaration",
            "class_body",
            "program",
        }
    ),
    "go": frozenset({"function_declaration", "method_declaration", "func_literal", "source_file"}),
    "java": frozenset(
        {"method_declaration", "constructor_declaration", "lambda_expression", "class_body"}
    ),
}
_BOUNDARIES["typescript"] = _BOUNDARIES["tsx"] = _BOUNDARIES["javascript"]

_SQL = re.compile(
    r"(?is)\b(select\b.+\bfrom|insert\s+into|update\s+[\w.\"`]+\s+set|delete\s+from"
    r"|create\s+(table|index)|drop\s+table|alter\s+table|truncate\s)\b"
)
_SHELL_META = re.compile(r"[|&;<>()$`*?\[\]{}~!#\n\\]|^\s*\w+=")
_PASSWORD = re.compile(rb"(?i)pass(word|wd)?|pwd|secret|credential")


@cache
def _query(language: str) -> Query | None:
    source = _RULES.get(language)
    return Query(get_language(language), source) if source else None


class _Ctx:
    """One file's rule run: its text and tree helpers, and what the checks share (the string
    assignments the SQL rule follows, the loops the query-in-loop rule has reported)."""

    __slots__ = ("analysis", "assigns", "b", "index", "lang", "seen_loops", "src", "text")

    def __init__(self, b: InsightBuilder, analysis: FileAnalysis, text: str, src: bytes):
        self.b = b
        self.analysis = analysis
        self.lang = analysis.language
        self.text = text
        self.src = src
        self.index = LineIndex(src, len(src) == len(text))
        self.assigns: dict[str, list[tuple[Node, int]]] = {}
        self.seen_loops: set[int] = set()

    def t(self, node: Node | None) -> str:
        if node is None:
            return ""
        return self.src[node.start_byte : node.end_byte].decode("utf-8", errors="replace")

    def loop_and_scope(self, node: Node) -> tuple[Node | None, Node | None]:
        """(innermost loop within the same function, the function/module scope) of `node`."""
        loops = _LOOPS[self.lang]
        bounds = _BOUNDARIES[self.lang]
        loop = None
        n = node.parent
        while n is not None:
            t = n.type
            if t in bounds:
                return loop, n
            if loop is None and t in loops:
                loop = n
            n = n.parent
        return loop, None

    def edit(self, start: int, end: int, new_text: str) -> TextEdit:
        return TextEdit(self.index.range_of_offsets(start, end), new_text)


# --------------------------------------------------------------------------- classification


def _py_string_is_fstring(node: Node) -> bool:
    return any(c.type == "interpolation" for c in node.children)


def _py_literal(node: Node) -> bool:
    if node.type == "string":
        return not _py_string_is_fstring(node)
    if node.type == "concatenated_string":
        return all(_py_literal(c) for c in node.named_children)
    return False


def _py_built(ctx: _Ctx, node: Node) -> str | None:
    """How a Python string expression is built from variable parts, or None."""
    t = node.type
    if t == "string":
        return "f-string" if _py_string_is_fstring(node) else None
    if t == "concatenated_string":
        return "f-string" if any(_py_built(ctx, c) for c in node.named_children) else None
    if t == "binary_operator":
        op = node.child_by_field_name("operator")
        op_text = ctx.t(op)
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        has_str = any(
            n is not None and n.type in ("string", "concatenated_string", "binary_operator")
            for n in (left, right)
        )
        if op_text == "%" and left is not None and left.type in ("string", "concatenated_string"):
            return "%-formatting"
        if op_text == "+" and has_str:
            return "concatenation"
        return None
    if t == "call":
        fn = node.child_by_field_name("function")
        if fn is not None and fn.type == "attribute":
            attr = fn.child_by_field_name("attribute")
            obj = fn.child_by_field_name("object")
            if ctx.t(attr) == "format" and obj is not None and obj.type == "string":
                return ".format()"
    if t == "parenthesized_expression" and node.named_child_count == 1:
        inner = node.named_child(0)
        return _py_built(ctx, inner) if inner is not None else None
    return None


def _js_literal(node: Node) -> bool:
    if node.type == "string":
        return True
    if node.type == "template_string":
        return not any(c.type == "template_substitution" for c in node.children)
    return False


def _js_built(ctx: _Ctx, node: Node) -> str | None:
    if node.type == "template_string":
        if any(c.type == "template_substitution" for c in node.children):
            return "template string"
        return None
    if node.type == "binary_expression" and ctx.t(node.child_by_field_name("operator")) == "+":
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        if any(
            n is not None and n.type in ("string", "template_string", "binary_expression")
            for n in (left, right)
        ):
            return "concatenation"
    return None


def _go_built(ctx: _Ctx, node: Node) -> str | None:
    if node.type == "call_expression":
        fn = ctx.t(node.child_by_field_name("function"))
        if fn in ("fmt.Sprintf", "fmt.Sprint", "strings.Join"):
            return fn
    if node.type == "binary_expression" and ctx.t(node.child_by_field_name("operator")) == "+":
        return "concatenation"
    return None


def _java_built(ctx: _Ctx, node: Node) -> str | None:
    if node.type == "binary_expression" and ctx.t(node.child_by_field_name("operator")) == "+":
        return "concatenation"
    if node.type == "method_invocation":
        if ctx.t(node.child_by_field_name("name")) in ("format", "formatted"):
            return "String.format"
    return None


_BUILT: dict[str, Callable[[_Ctx, Node], str | None]] = {
    "python": _py_built,
    "javascript": _js_built,
    "typescript": _js_built,
    "tsx": _js_built,
    "go": _go_built,
    "java": _java_built,
}


def _remove_argument(ctx: _Ctx, arg: Node) -> TextEdit:
    prev = arg.prev_named_sibling
    nxt = arg.next_named_sibling
    if prev is not None and prev.type != "comment":
        return ctx.edit(prev.end_byte, arg.end_byte, "")
    if nxt is not None and nxt.type != "comment":
        return ctx.edit(arg.start_byte, nxt.start_byte, "")
    return ctx.edit(arg.start_byte, arg.end_byte, "")


# --------------------------------------------------------------------------- rules

_Caps = dict[str, list[Node]]


@dataclass(frozen=True, slots=True)
class _Finding:
    """What a check says about one match: the insight's node (its range), texts and weight;
    `says` replaces the rule's spec for a variant with its own why / how."""

    node: Node
    title: str
    summary: str
    severity: str
    confidence: float
    snippet: str
    says: Rule | None = None
    fix: list[TextEdit] | None = None
    extra: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class _CodeRule:
    """A query rule: the rules-query capture its matches carry, the check that decides whether a
    match is a finding, and what the rule says."""

    capture: str
    check: Callable[[_Ctx, Node, _Caps], _Finding | None]
    says: Rule


def _security(rule: str, effort: str, why: str, how: str) -> Rule:
    return Rule(rule, "security_issue", effort, why, how)


_EVAL = _security(
    "security.eval",
    "hours",
    "Evaluating data as code lets whoever controls that data run arbitrary code.",
    "Parse the data instead (ast.literal_eval / json.loads / JSON.parse) or dispatch "
    "through a table of allowed operations.",
)
_SHELL_FIXED = _security(
    "security.subprocess_shell",
    "minutes",
    "Going through /bin/sh adds quoting pitfalls and an injection surface later.",
    "Pass the command as a list (shlex.split of the string) with shell=False.",
)
_SHELL_BUILT = _security(
    "security.subprocess_shell",
    "minutes",
    "Shell metacharacters in interpolated values lead to command injection.",
    "Pass a list of arguments with shell=False; never interpolate into shell strings.",
)
_OS_SYSTEM = _security(
    "security.subprocess_shell",
    "minutes",
    "Shell metacharacters in interpolated values lead to command injection.",
    "Use subprocess.run([...], shell=False) with an argument list.",
)
_SQL_INJECTION = _security(
    "security.sql_injection",
    "minutes",
    "Values spliced into SQL text allow SQL injection and break on quotes.",
    "Use placeholders (%s, ?, $1, :name) and pass the values as parameters.",
)
_YAML_LOAD = {
    safe: _security(
        "security.yaml_load",
        "minutes",
        "Unsafe YAML loaders instantiate arbitrary Python objects from tagged documents.",
        f"Use yaml.{safe}() (or Loader=yaml.SafeLoader).",
    )
    for safe in ("safe_load", "safe_load_all")
}
_PICKLE_LOAD = _security(
    "security.pickle_load",
    "hours",
    "Unpickling data from an untrusted source is remote code execution.",
    "Load only data you wrote yourself, or switch to JSON / a schema'd format.",
)
_WEAK_PASSWORD_HASH = _security(
    "security.weak_password_hash",
    "hours",
    "MD5/SHA-1 password hashes are cracked at billions of guesses per second.",
    "Use hashlib.scrypt / pbkdf2_hmac with a salt, or argon2/bcrypt.",
)
_TLS_VERIFY_DISABLED = _security(
    "security.tls_verify_disabled",
    "minutes",
    "Without verification a man-in-the-middle can read and alter the traffic.",
    "Remove verify=False (or point verify= at the right CA bundle).",
)
_XSS_HTML_SINK = _security(
    "security.xss_html_sink",
    "minutes",
    "Markup built from data is cross-site scripting when the data is user-controlled.",
    "Use textContent / createElement, or sanitise (DOMPurify) before assigning.",
)
_CHILD_PROCESS_EXEC = _security(
    "security.child_process_exec",
    "minutes",
    "Interpolated values containing shell syntax lead to command injection.",
    "Use execFile/spawn with an argument array instead of a shell string.",
)
_QUERY_IN_LOOP = Rule(
    "performance.query_in_loop",
    "performance",
    "hours",
    "One round trip per item multiplies latency and database load.",
    "Fetch or write in one statement (IN / ANY($1), executemany, bulk insert, a join).",
)
_STRING_CONCAT_IN_LOOP = Rule(
    "performance.string_concat_in_loop",
    "performance",
    "minutes",
    "Repeated concatenation is quadratic in the worst case.",
    "Collect the parts in a list and ''.join() them after the loop (or io.StringIO).",
)

_SHELL_FUNCTIONS = frozenset(
    {"run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput"}
)


def _eval(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    arg = caps["arg"][0]
    fn = ctx.t(caps["fn"][0])
    if ctx.lang == "python":
        if _py_literal(arg):
            return None
        built = _py_built(ctx, arg)
    else:
        if _js_literal(arg):
            return None
        built = _js_built(ctx, arg)
    user_input = b"input(" in ctx.src[arg.start_byte : arg.end_byte]
    critical = built is not None or user_input
    return _Finding(
        call,
        f"{fn}() on a non-literal value",
        f"{fn}() runs code computed at run time ({built or 'a variable'}).",
        "critical" if critical else "warning",
        0.85 if critical else 0.6,
        ctx.t(call),
    )


def _shell_fix(ctx: _Ctx, arg: Node, val: Node) -> list[TextEdit] | None:
    """`"ls -l"` -> `["ls", "-l"]` and `shell=True` -> `shell=False`, for a plain fixed command."""
    if arg.type != "string":
        return None
    try:
        value = ast.literal_eval(ctx.t(arg))
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, str) or not value.strip() or _SHELL_META.search(value):
        return None
    parts = shlex.split(value)
    quote = ctx.t(arg).lstrip("rRuU")[:1]
    items = [repr(p) if quote == "'" else json.dumps(p) for p in parts]
    return [
        ctx.edit(arg.start_byte, arg.end_byte, "[" + ", ".join(items) + "]"),
        ctx.edit(val.start_byte, val.end_byte, "False"),
    ]


def _shell(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    fn = ctx.t(caps["fn"][0])
    mod = ctx.t(caps["mod"][0]) if "mod" in caps else ""
    if mod and mod not in ("subprocess", "sp", "asyncio"):
        return None
    if not mod and fn not in _SHELL_FUNCTIONS:
        return None
    arg = caps["arg"][0]
    if arg.type == "keyword_argument":
        return None
    if _py_literal(arg):
        return _Finding(
            call,
            f"{fn}() runs a fixed command through the shell",
            "shell=True is not needed for a fixed command; pass an argument list.",
            "info",
            0.9,
            ctx.t(call),
            says=_SHELL_FIXED,
            fix=_shell_fix(ctx, arg, caps["val"][0]),
        )
    built = _py_built(ctx, arg)
    return _Finding(
        call,
        f"Shell command built from variables in {fn}(..., shell=True)",
        (
            f"The command passed to {fn}() with shell=True is built with {built}; "
            "values containing shell syntax run as commands."
            if built
            else f"{fn}() runs a command held in a variable through the shell."
        ),
        "critical" if built else "warning",
        0.9 if built else 0.55,
        ctx.t(call),
        extra={"built_with": built},
    )


def _os_system(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    built = _py_built(ctx, caps["arg"][0])
    if built is None:
        return None
    fn = ctx.t(caps["fn"][0])
    return _Finding(
        call,
        f"os.{fn}() with a command built from variables",
        f"os.{fn}() runs its argument through the shell; it is built with {built}.",
        "critical",
        0.9,
        ctx.t(call),
        extra={"built_with": built},
    )


def _sql(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    arg = caps["arg"][0]
    built = _BUILT[ctx.lang](ctx, arg)
    source = arg
    if built is None and arg.type == "identifier" and ctx.lang == "python":
        # `sql = f"SELECT ... {x}"` earlier in the same scope, then `cur.execute(sql)`
        _, scope = ctx.loop_and_scope(call)
        name = ctx.t(arg)
        for rhs, rscope in reversed(ctx.assigns.get(name, ())):
            if rhs.start_byte < call.start_byte and rscope == (
                scope.start_byte if scope is not None else -1
            ):
                built = _py_built(ctx, rhs)
                source = rhs
                break
    if built is None or not _SQL.search(ctx.t(source)):
        return None
    fn = ctx.t(caps["fn"][0])
    return _Finding(
        call,
        f"SQL built with {built} passed to {fn}()",
        f"The SQL statement given to {fn}() is built with {built} instead of parameters.",
        "critical",
        0.85,
        ctx.t(call),
        extra={"built_with": built},
    )


def _yaml(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    args = caps["args"][0]
    fn_node = caps["fn"][0]
    loader_arg: Node | None = None
    loader_text = ""
    positional = 0
    for a in args.named_children:
        if a.type == "keyword_argument":
            if ctx.t(a.child_by_field_name("name")) == "Loader":
                loader_arg = a
                loader_text = ctx.t(a.child_by_field_name("value"))
        elif a.type != "comment":
            positional += 1
    if positional >= 2:
        return None  # loader passed positionally; leave it to a human
    if loader_arg is not None and re.search(r"\b(C?SafeLoader|BaseLoader)\b", loader_text):
        return None
    fn = ctx.t(fn_node)
    safe = "safe_load_all" if fn == "load_all" else "safe_load"
    fix = [ctx.edit(fn_node.start_byte, fn_node.end_byte, safe)]
    if loader_arg is not None:
        fix.append(_remove_argument(ctx, loader_arg))
    return _Finding(
        call,
        f"yaml.{fn}() without SafeLoader",
        f"yaml.{fn}() with {loader_text or 'the default loader'} can construct any object.",
        "critical",
        0.85,
        ctx.t(call),
        says=_YAML_LOAD[safe],
        fix=fix,
    )


def _pickle(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    mod, fn = ctx.t(caps["mod"][0]), ctx.t(caps["fn"][0])
    return _Finding(
        call,
        f"{mod}.{fn}() deserialises untrusted-capable data",
        f"{mod}.{fn}() executes code embedded in the data it loads.",
        "warning",
        0.6,
        ctx.t(call),
    )


def _statement_of(node: Node) -> Node:
    n = node
    while n.parent is not None and n.parent.type not in ("block", "module"):
        n = n.parent
    return n


def _weakhash(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    fn = ctx.t(caps["fn"][0])
    args = caps["args"][0]
    algo = fn
    if fn == "new":
        first = args.named_child(0)
        algo = ctx.t(first).strip("'\"").lower() if first is not None else ""
        if algo not in ("md5", "sha1"):
            return None
    stmt = _statement_of(call)
    context = ctx.src[stmt.start_byte : stmt.end_byte]
    sym = ctx.b.symbol_at(call.start_point[0])
    if not _PASSWORD.search(context) and not (
        sym is not None and _PASSWORD.search(sym.name.encode())
    ):
        return None
    return _Finding(
        call,
        f"{algo} used to hash a password",
        f"hashlib.{fn}() ({algo}) is fast and broken; it must not protect passwords.",
        "critical",
        0.75,
        ctx.t(call),
    )


def _verify(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    kwarg = caps["kwarg"][0]
    return _Finding(
        kwarg,
        "TLS certificate verification disabled (verify=False)",
        "The request skips certificate checks, so any server can impersonate the host.",
        "warning",
        0.85,
        ctx.t(call),
        fix=[_remove_argument(ctx, kwarg)],
    )


def _html(ctx: _Ctx, node: Node, caps: _Caps) -> _Finding | None:
    rhs = caps["rhs"][0]
    if _js_literal(rhs):
        return None
    built = _js_built(ctx, rhs)
    target = ctx.t(caps["prop"][0]) if "prop" in caps else f"document.{ctx.t(caps['fn'][0])}"
    return _Finding(
        node,
        f"Dynamic HTML written to {target}",
        f"{target} receives {built or 'a non-literal value'}; unescaped data becomes HTML.",
        "critical" if built else "warning",
        0.8 if built else 0.55,
        ctx.t(node),
        extra={"built_with": built},
    )


def _cpexec(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    if b"child_process" not in ctx.src:
        return None
    built = _js_built(ctx, caps["arg"][0])
    if built is None:
        return None
    fn = ctx.t(caps["fn"][0])
    return _Finding(
        call,
        f"child_process.{fn}() with a command built from a {built}",
        f"{fn}() runs its command through the shell; the command is a {built}.",
        "critical",
        0.85,
        ctx.t(call),
        extra={"built_with": built},
    )


def _dbcall(ctx: _Ctx, call: Node, caps: _Caps) -> _Finding | None:
    loop, _scope = ctx.loop_and_scope(call)
    if loop is None or loop.start_byte in ctx.seen_loops:
        return None
    ctx.seen_loops.add(loop.start_byte)
    fn = ctx.t(caps["fn"][0])
    return _Finding(
        call,
        f"Database call {fn}() inside a loop",
        f"{fn}() runs once per iteration (N+1 queries).",
        "warning",
        0.6,
        ctx.t(call),
    )


# a match carries the capture of the pattern it matched; the first rule whose capture it carries
# checks it
_CODE_RULES = (
    _CodeRule("eval", _eval, _EVAL),
    _CodeRule("shell", _shell, _SHELL_BUILT),
    _CodeRule("ossystem", _os_system, _OS_SYSTEM),
    _CodeRule("sql", _sql, _SQL_INJECTION),
    _CodeRule("yaml", _yaml, _YAML_LOAD["safe_load"]),
    _CodeRule("pickle", _pickle, _PICKLE_LOAD),
    _CodeRule("weakhash", _weakhash, _WEAK_PASSWORD_HASH),
    _CodeRule("verify", _verify, _TLS_VERIFY_DISABLED),
    _CodeRule("html", _html, _XSS_HTML_SINK),
    _CodeRule("cpexec", _cpexec, _CHILD_PROCESS_EXEC),
    _CodeRule("dbcall", _dbcall, _QUERY_IN_LOOP),
)


def _report(ctx: _Ctx, says: Rule, found: _Finding) -> None:
    ctx.b.add(
        found.says or says,
        title=found.title,
        summary=found.summary,
        range_=ctx.index.range_of(found.node),
        severity=found.severity,
        confidence=found.confidence,
        snippet=found.snippet,
        fix=found.fix,
        extra=found.extra,
    )


def _concat_rule(ctx: _Ctx, rule_nodes: dict[str, list[Node]]) -> None:
    """`s += ...` on a string inside a loop (Python)."""
    concats = rule_nodes.get("rule.concat")
    if not concats:
        return
    # only the variables that some `+=` extends are ever looked up
    concat_vars = {ctx.t(node.child_by_field_name("left")) for node in concats}
    str_vars: set[tuple[int, str]] = set()
    for node in rule_nodes.get("rule.strassign", ()):
        var = ctx.t(node.child(0))
        if var not in concat_vars:
            continue
        _, scope = ctx.loop_and_scope(node)
        str_vars.add((scope.start_byte if scope is not None else -1, var))
    seen: set[tuple[int, str]] = set()
    for node in sorted(concats, key=lambda n: n.start_byte):
        loop, scope = ctx.loop_and_scope(node)
        if loop is None:
            continue
        var = ctx.t(node.child_by_field_name("left"))
        rhs = node.child_by_field_name("right")
        scope_key = scope.start_byte if scope is not None else -1
        is_str = (rhs is not None and rhs.type in ("string", "concatenated_string")) or (
            scope_key,
            var,
        ) in str_vars
        if not is_str or (loop.start_byte, var) in seen:
            continue
        seen.add((loop.start_byte, var))
        found = _Finding(
            node,
            f"String built with += in a loop ({var})",
            f"{var} grows by += inside a loop; each step may copy the whole string.",
            "info",
            0.7,
            f"{var} +=",
        )
        _report(ctx, _STRING_CONCAT_IN_LOOP, found)


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


def _rule_matches(
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


def run_code_rules(
    b: InsightBuilder, analysis: FileAnalysis, text: str, src: bytes | None = None
) -> None:
    """Run the language's query rules over the file (reusing `analysis.tree` when present).
    `src` is `text` encoded (UTF-8, surrogatepass), when the caller has it."""
    lang = analysis.language
    triggers = _TRIGGERS.get(lang)
    if triggers is None:
        return
    if src is None:
        src = text.encode("utf-8", errors="surrogatepass")
    tree = analysis.tree
    rule_nodes = analysis.rule_nodes
    if tree is None or rule_nodes is None:
        tree = parse(src, lang)
        caps = QueryCursor(queries(lang).structure).captures(tree.root_node)
        rule_nodes = {k: v for k, v in caps.items() if k.startswith("rule.")}
    ctx = _Ctx(b, analysis, text, src)
    if any(t in text for t in triggers):
        query = _query(lang)
        rest, matches = _rule_matches(query, tree, lang, src) if query is not None else ([], [])
        assigns = ctx.assigns
        if matches and any("sql" in c and c["arg"][0].type == "identifier" for c in rest):
            for _idx, caps in matches:
                if "assign" not in caps:
                    continue
                _, scope = ctx.loop_and_scope(caps["assign"][0])
                scope_key = scope.start_byte if scope is not None else -1
                assigns.setdefault(ctx.t(caps["var"][0]), []).append((caps["rhs"][0], scope_key))
        for caps in rest:
            for rule in _CODE_RULES:
                if rule.capture in caps:
                    found = rule.check(ctx, caps[rule.capture][0], caps)
                    if found is not None:
                        _report(ctx, rule.says, found)
                    break
    _concat_rule(ctx, rule_nodes)
