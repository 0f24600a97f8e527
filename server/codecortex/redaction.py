"""Secret redaction applied to everything that leaves the machine (LLM prompts, remote
embeddings) or is stored (code snapshots, diffs).

``redact(text) -> (redacted_text, count)`` replaces each secret with ``[REDACTED:<kind>]``.
Rules run in order; a later rule never re-redacts an earlier placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["PLACEHOLDER_RE", "redact", "redact_messages", "redact_value"]

PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z_]+\]")


def _ph(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# --- 1. PEM private keys (also a truncated block without its END line) -----------------------
_PEM_RE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY((?: BLOCK)?)-----"
    r"(?:.*?-----END \1PRIVATE KEY\2-----|.*\Z)",
    re.DOTALL,
)

# --- 2. Credentials inside URLs / connection strings: scheme://user:password@host ------------
_URL_CRED_RE = re.compile(
    r"(?P<prefix>\b[a-zA-Z][a-zA-Z0-9+.\-]*://(?P<user>[^:/?#@\s'\"`<>]*):)"
    r"(?P<password>[^@/\s'\"`<>]+)(?P<at>@)"
)

# --- 3. Well-known token formats --------------------------------------------------------------
_B = r"(?<![A-Za-z0-9_\-])"  # left boundary that also excludes '-' and '_'
_E = r"(?![A-Za-z0-9_\-])"
_TOKEN_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("anthropic_key", re.compile(_B + r"sk-ant-[A-Za-z0-9_\-]{20,}" + _E)),
    ("openai_key", re.compile(_B + r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}" + _E)),
    ("stripe_key", re.compile(_B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}" + _E)),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b")),
    ("github_token", re.compile(_B + r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}" + _E)),
    ("github_token", re.compile(_B + r"github_pat_[A-Za-z0-9_]{22,}" + _E)),
    ("gitlab_token", re.compile(_B + r"glpat-[A-Za-z0-9_\-]{20,}" + _E)),
    ("slack_token", re.compile(_B + r"xox[abposre]-[A-Za-z0-9\-]{10,}" + _E)),
    (
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+"),
    ),
    ("google_api_key", re.compile(_B + r"AIza[0-9A-Za-z_\-]{35}" + _E)),
    ("npm_token", re.compile(_B + r"npm_[A-Za-z0-9]{36}" + _E)),
    ("huggingface_token", re.compile(_B + r"hf_[A-Za-z0-9]{30,}" + _E)),
    (
        "jwt",
        re.compile(_B + r"eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*" + _E),
    ),
]

# --- 4. Authorization headers -----------------------------------------------------------------
_BEARER_RE = re.compile(r"(?P<scheme>\b[Bb]earer\s+)(?P<token>[A-Za-z0-9._~+/\-]{16,}=*)")
_BASIC_RE = re.compile(r"(?P<scheme>\b[Bb]asic\s+)(?P<token>[A-Za-z0-9+/]{12,}={0,2})(?![\w+/=])")

# --- 5. Assignments: password = "...", "api_key": "...", TOKEN=..., secret: ... -----------------
_KEY_CORE = (
    r"passwd|password|passphrase|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key"
    r"|auth[_\-]?key|private[_\-]?key|client[_\-]?secret|credentials?"
)
_KEY = r"(?P<key>[A-Za-z0-9_.\-]*?(?:" + _KEY_CORE + r")[A-Za-z0-9_.\-]*)"

# quoted value: python/js/go/json/yaml/toml/kwargs; optional type annotation (password: str = "x")
_QUOTED_RE = re.compile(
    r"(?<![A-Za-z0-9_])" + _KEY + r"(?P<kq>[\"']?)"
    r"(?P<sep>\s*(?::\s*[A-Za-z_][\w\[\]., |]*?\s*)?(?::=|=>|==|=|:)\s*)"
    r"(?P<q>\"|'|`)(?P<value>(?:(?!(?P=q)).){1,500}?)(?P=q)",
    re.IGNORECASE,
)

# unquoted value at the start of a line: .env (KEY=value, no spaces), YAML / ini (key: value)
_UNQUOTED_RE = re.compile(
    r"^(?P<lead>[ \t]*(?:export[ \t]+|-[ \t]+)?)" + _KEY + r"(?P<sep>=|:[ \t]+|[ \t]*=[ \t]*)"
    r"(?P<value>[^\s\"'`#][^\s#]*)[ \t]*(?=#|$)",
    re.IGNORECASE | re.MULTILINE,
)

# key suffixes that name something about a secret rather than the secret itself
_NON_SECRET_SUFFIXES = {
    "type",
    "types",
    "count",
    "counts",
    "len",
    "length",
    "name",
    "names",
    "field",
    "fields",
    "label",
    "url",
    "uri",
    "endpoint",
    "file",
    "path",
    "dir",
    "id",
    "ids",
    "prefix",
    "header",
    "limit",
    "limits",
    "size",
    "max",
    "min",
    "expiry",
    "expires",
    "expiration",
    "ttl",
    "timeout",
    "kind",
    "format",
    "pattern",
    "regex",
    "hint",
    "policy",
    "env",
    "var",
    "placeholder",
    "message",
    "msg",
    "error",
    "errors",
    "help",
    "text",
    "title",
    "description",
    "index",
    "idx",
    "usage",
    "used",
    "budget",
    "estimate",
    "total",
    "cost",
    "strength",
    "required",
    "enabled",
    "mode",
    "provider",
    "version",
    "key_id",
    "location",
    "class",
    "source",
}
_TYPE_WORDS = {
    "str",
    "string",
    "bytes",
    "int",
    "integer",
    "number",
    "bool",
    "boolean",
    "float",
    "any",
    "none",
    "null",
    "nil",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "undefined",
    "object",
    "secretstr",
    "optional",
    "char",
    "void",
    "~",
    "required",
    "redacted",
}
_SPLIT_KEY_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_TEMPLATE_VALUE_RE = re.compile(
    r"^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\{\{.*\}\}|\{[A-Za-z_][A-Za-z0-9_]*\}|<[^<>]+>"
    r"|%\(?[A-Za-z_]*\)?s|\*+|x+|\.{3}|…|%s)$",
    re.IGNORECASE,
)
_DOTTED_REF_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")


_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CAMEL_TYPE_RE = re.compile(r"^(?:[A-Z][a-z]+)+$")
_CORE_WORDS = {"password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "credentials"}


def _looks_random(token: str) -> bool:
    """Real tokens mix cases or contain digits; prose words ("Basic configuration") do not."""
    if _TEMPLATE_VALUE_RE.match(token):
        return False
    has_digit = any(c.isdigit() for c in token)
    has_upper = any(c.isupper() for c in token)
    has_lower = any(c.islower() for c in token)
    return has_digit or (has_upper and has_lower) or token.endswith("=")


def _key_kind(key: str) -> str | None:
    """The placeholder kind for a key that names a secret, or None if it names metadata."""
    parts = [p.lower() for p in _SPLIT_KEY_RE.findall(key)]
    if not parts:
        return None
    if parts[0] in ("max", "min", "num", "n"):  # max_tokens, num_tokens
        return None
    if parts[-1] in _NON_SECRET_SUFFIXES or "_".join(parts[-2:]) in _NON_SECRET_SUFFIXES:
        return None
    low = key.lower()
    if "pass" in low or "pwd" in low:
        return "password"
    if re.search(r"api[_\-]?key", low):
        return "api_key"
    if "token" in low:
        return "token"
    if "secret" in low or "private" in low:
        return "secret"
    if "credential" in low:
        return "credential"
    return "secret"


def _looks_like_value(value: str, *, quoted: bool) -> bool:
    v = value.strip()
    if not v or PLACEHOLDER_RE.search(v):
        return False
    if _TEMPLATE_VALUE_RE.match(v):
        return False
    if re.fullmatch(r"-?\d{1,7}(?:\.\d+)?", v):
        return False
    if quoted:
        return True
    # unquoted: reject code expressions, type annotations, references and small numbers
    if v.lower() in _TYPE_WORDS:
        return False
    if any(c in v for c in "()[]{};,<>"):
        return False
    if _DOTTED_REF_RE.match(v):
        return False
    return True


def _sub_counted(
    pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str], text: str
) -> tuple[str, int]:
    count = 0

    def wrapper(m: re.Match[str]) -> str:
        nonlocal count
        out = repl(m)
        if out != m.group(0):
            count += 1
        return out

    return pattern.sub(wrapper, text), count


def redact(text: str) -> tuple[str, int]:
    """Replace secrets in ``text`` with ``[REDACTED:<kind>]``; return (new text, number)."""
    if not text:
        return text, 0
    total = 0

    text, n = _sub_counted(_PEM_RE, lambda m: _ph("private_key"), text)
    total += n

    def url_repl(m: re.Match[str]) -> str:
        pw = m.group("password")
        if pw.startswith("[REDACTED") or _TEMPLATE_VALUE_RE.match(pw):
            return m.group(0)
        return m.group("prefix") + _ph("password") + m.group("at")

    text, n = _sub_counted(_URL_CRED_RE, url_repl, text)
    total += n

    for kind, pattern in _TOKEN_RULES:
        text, n = _sub_counted(pattern, lambda m, k=kind: _ph(k), text)  # type: ignore[misc]
        total += n

    def auth_repl(kind: str) -> Callable[[re.Match[str]], str]:
        def repl(m: re.Match[str]) -> str:
            tok = m.group("token")
            if tok.startswith("[REDACTED") or not _looks_random(tok):
                return m.group(0)
            return m.group("scheme") + _ph(kind)

        return repl

    text, n = _sub_counted(_BEARER_RE, auth_repl("bearer_token"), text)
    total += n
    text, n = _sub_counted(_BASIC_RE, auth_repl("basic_auth"), text)
    total += n

    def quoted_repl(m: re.Match[str]) -> str:
        kind = _key_kind(m.group("key"))
        if kind is None or not _looks_like_value(m.group("value"), quoted=True):
            return m.group(0)
        q = m.group("q")
        return m.group("key") + m.group("kq") + m.group("sep") + q + _ph(kind) + q

    text, n = _sub_counted(_QUOTED_RE, quoted_repl, text)
    total += n

    def unquoted_repl(m: re.Match[str]) -> str:
        key, sep, value = m.group("key"), m.group("sep"), m.group("value")
        kind = _key_kind(key)
        if kind is None or not _looks_like_value(value, quoted=False):
            return m.group(0)
        if _IDENT_RE.match(value):
            # `password = user_input` (code) vs `PASSWORD=hunter2` (.env): a bare identifier is
            # a secret only in KEY=value / key: value form, and never a reference to itself.
            if value.lower() == key.lower() or "_" in value or value.lower() in _CORE_WORDS:
                return m.group(0)
            if sep.strip() == "=" and sep != "=":
                return m.group(0)
            if sep.startswith(":") and _CAMEL_TYPE_RE.match(value):
                return m.group(0)  # `password: Password` is a type annotation
        return m.group("lead") + m.group("key") + m.group("sep") + _ph(kind)

    text, n = _sub_counted(_UNQUOTED_RE, unquoted_repl, text)
    total += n
    return text, total


def redact_value(value: Any) -> tuple[Any, int]:
    """Redact every string inside a JSON-like value (dicts, lists, strings)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        total = 0
        out_list = []
        for item in value:
            new, n = redact_value(item)
            out_list.append(new)
            total += n
        return out_list, total
    if isinstance(value, dict):
        total = 0
        out_dict = {}
        for k, v in value.items():
            new, n = redact_value(v)
            out_dict[k] = new
            total += n
        return out_dict, total
    return value, 0


def redact_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Redact the ``content`` of chat messages (plain strings or lists of content parts)."""
    total = 0
    out = []
    for message in messages:
        msg = dict(message)
        if "content" in msg:
            msg["content"], n = redact_value(msg["content"])
            total += n
        out.append(msg)
    return out, total
