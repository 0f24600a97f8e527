"""Tree-sitter query rules: security issues and performance traps in code.

The rules are a table of specs (`_CODE_RULES`: the query capture a match carries, the check
that turns the match into a finding, the `Rule` that says why and how), evaluated by one loop;
the queries and their matching are in `code_queries`, the checks' helpers in `code_context`.
Over 400 lines: the table, its specs and its eleven checks stay together, one rule each.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tree_sitter import Node, QueryCursor

from codecortex.analysis.builder import InsightBuilder, Rule
from codecortex.analysis.code_context import (
    BUILT,
    RuleContext,
    js_built,
    js_literal,
    py_built,
    py_literal,
    remove_argument,
)
from codecortex.analysis.code_queries import TRIGGERS, rule_matches, rules_query
from codecortex.analysis.model import FileAnalysis
from codecortex.diagnostics import TextEdit
from codecortex.syntax.grammars import parse
from codecortex.syntax.queries import queries

__all__ = ["run_code_rules"]

_SQL = re.compile(
    r"(?is)\b(select\b.+\bfrom|insert\s+into|update\s+[\w.\"`]+\s+set|delete\s+from"
    r"|create\s+(table|index)|drop\s+table|alter\s+table|truncate\s)\b"
)
_SHELL_META = re.compile(r"[|&;<>()$`*?\[\]{}~!#\n\\]|^\s*\w+=")
_PASSWORD = re.compile(rb"(?i)pass(word|wd)?|pwd|secret|credential")


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
    check: Callable[[RuleContext, Node, _Caps], _Finding | None]
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


def _eval(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
    arg = caps["arg"][0]
    fn = ctx.t(caps["fn"][0])
    if ctx.lang == "python":
        if py_literal(arg):
            return None
        built = py_built(ctx, arg)
    else:
        if js_literal(arg):
            return None
        built = js_built(ctx, arg)
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


def _shell_fix(ctx: RuleContext, arg: Node, val: Node) -> list[TextEdit] | None:
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


def _shell(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
    fn = ctx.t(caps["fn"][0])
    mod = ctx.t(caps["mod"][0]) if "mod" in caps else ""
    if mod and mod not in ("subprocess", "sp", "asyncio"):
        return None
    if not mod and fn not in _SHELL_FUNCTIONS:
        return None
    arg = caps["arg"][0]
    if arg.type == "keyword_argument":
        return None
    if py_literal(arg):
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
    built = py_built(ctx, arg)
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


def _os_system(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
    built = py_built(ctx, caps["arg"][0])
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


def _sql(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
    arg = caps["arg"][0]
    built = BUILT[ctx.lang](ctx, arg)
    source = arg
    if built is None and arg.type == "identifier" and ctx.lang == "python":
        # `sql = f"SELECT ... {x}"` earlier in the same scope, then `cur.execute(sql)`
        _, scope = ctx.loop_and_scope(call)
        name = ctx.t(arg)
        for rhs, rscope in reversed(ctx.assigns.get(name, ())):
            if rhs.start_byte < call.start_byte and rscope == (
                scope.start_byte if scope is not None else -1
            ):
                built = py_built(ctx, rhs)
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


def _yaml(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
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
        fix.append(remove_argument(ctx, loader_arg))
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


def _pickle(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
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


def _weakhash(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
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


def _verify(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
    kwarg = caps["kwarg"][0]
    return _Finding(
        kwarg,
        "TLS certificate verification disabled (verify=False)",
        "The request skips certificate checks, so any server can impersonate the host.",
        "warning",
        0.85,
        ctx.t(call),
        fix=[remove_argument(ctx, kwarg)],
    )


def _html(ctx: RuleContext, node: Node, caps: _Caps) -> _Finding | None:
    rhs = caps["rhs"][0]
    if js_literal(rhs):
        return None
    built = js_built(ctx, rhs)
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


def _cpexec(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
    if b"child_process" not in ctx.src:
        return None
    built = js_built(ctx, caps["arg"][0])
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


def _dbcall(ctx: RuleContext, call: Node, caps: _Caps) -> _Finding | None:
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


def _report(ctx: RuleContext, says: Rule, found: _Finding) -> None:
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


def _concat_rule(ctx: RuleContext, rule_nodes: dict[str, list[Node]]) -> None:
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


def run_code_rules(
    b: InsightBuilder, analysis: FileAnalysis, text: str, src: bytes | None = None
) -> None:
    """Run the language's query rules over the file (reusing `analysis.tree` when present).
    `src` is `text` encoded (UTF-8, surrogatepass), when the caller has it."""
    lang = analysis.language
    triggers = TRIGGERS.get(lang)
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
    ctx = RuleContext(b, analysis, text, src)
    if any(t in text for t in triggers):
        query = rules_query(lang)
        rest, matches = rule_matches(query, tree, lang, src) if query is not None else ([], [])
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
