"""Secret redaction applied to everything that leaves the machine (LLM prompts, remote
embeddings) and to everything stored or exported (`codecortex.store` calls `scrub` on file
snapshots, code contexts, messages, past solutions, doc chunks, notes; exports and imports).

``redact(text) -> (redacted_text, count)`` replaces each secret with ``[REDACTED:<kind>]``.
Rules run in order; a later rule never re-redacts an earlier placeholder. Deterministic and
idempotent (redacting twice changes nothing) and it keeps line breaks: the same code redacts to
the same text, so a snapshot and the current file still differ only where the code changed,
and fixes learned from redacted text replay on redacted text.

Over 400 lines: the ordered rule tables and the one pass that applies them belong together
(a rule's order is part of its meaning).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PLACEHOLDER_RE",
    "SECRET_FORMATS",
    "redact",
    "redact_messages",
    "redact_value",
    "scrub",
    "scrub_async",
    "scrub_value",
]

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

# --- 3. Well-known token formats: the one table, also used by the hard-coded-secret insight
# (`analysis/secrets.py`) --------------------------------------------------------------------
_B = r"(?<![A-Za-z0-9_\-])"  # left boundary that also excludes '-' and '_'
_E = r"(?![A-Za-z0-9_\-])"


@dataclass(frozen=True)
class SecretFormat:
    kind: str  # the placeholder's kind and the insight's rule kind
    human: str  # what to call it in a message
    pattern: re.Pattern[str]
    confidence: float  # that a match is a real secret (insights)
    literals: tuple[str, ...]  # one of them occurs in any match (a cheap pre-check)


def _f(kind: str, human: str, regex: str, confidence: float, *literals: str) -> SecretFormat:
    return SecretFormat(kind, human, re.compile(regex), confidence, literals)


SECRET_FORMATS: list[SecretFormat] = [
    _f("anthropic_key", "Anthropic API key", _B + r"sk-ant-[A-Za-z0-9_\-]{20,}" + _E, 0.9,
       "sk-ant-"),
    _f("openai_key", "OpenAI API key",
       _B + r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}" + _E, 0.85, "sk-"),
    _f("stripe_key", "Stripe key", _B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}" + _E, 0.9,
       "k_live_", "k_test_"),
    _f("aws_access_key", "AWS access key id",
       r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", 0.9, "AKIA", "ASIA", "AGPA", "AIDA",
       "AROA"),
    _f("github_token", "GitHub token", _B + r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}" + _E,
       0.9, "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    _f("github_token", "GitHub token", _B + r"github_pat_[A-Za-z0-9_]{22,}" + _E, 0.9,
       "github_pat_"),
    _f("gitlab_token", "GitLab token", _B + r"glpat-[A-Za-z0-9_\-]{20,}" + _E, 0.9, "glpat-"),
    _f("slack_token", "Slack token", _B + r"xox[abposre]-[A-Za-z0-9\-]{10,}" + _E, 0.85, "xox"),
    _f("slack_webhook", "Slack webhook",
       r"https://hooks\.slack\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+", 0.85,
       "hooks.slack.com"),
    _f("google_api_key", "Google API key", _B + r"AIza[0-9A-Za-z_\-]{35}" + _E, 0.8, "AIza"),
    _f("npm_token", "npm token", _B + r"npm_[A-Za-z0-9]{36}" + _E, 0.8, "npm_"),
    _f("huggingface_token", "Hugging Face token", _B + r"hf_[A-Za-z0-9]{30,}" + _E, 0.8, "hf_"),
    _f("jwt", "JSON web token",
       _B + r"eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*" + _E, 0.7, "eyJ"),
    SecretFormat("private_key", "private key block", _PEM_RE, 0.95, ("PRIVATE KEY",)),
    # The AWS secret key has no format of its own: 40 characters after its variable's name.
    # The key = value rules below redact it (keeping the name); this rule names it for insights.
    _f("aws_secret_key", "AWS secret access key",
       r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"'][A-Za-z0-9/+=]{40}[\"']", 0.9,
       "aws_secret", "AWS_SECRET", "aws_Secret", "awsSecret", "AwsSecret"),
]  # fmt: skip
# (PEM blocks are redacted first, keeping their line breaks; the AWS secret by the key = value
# rules, keeping the name.)
# formats whose matches the other rules below redact (keeping line breaks, or the key's name)
_NOT_TOKEN_RULES = frozenset({"private_key", "aws_secret_key"})


def _literal_groups() -> list[tuple[re.Pattern[str], frozenset[int]]]:
    """The formats' literals grouped by their first character, one regex per group (a search for a
    literal first character is fast; one alternation of every literal is not), with the indices
    of the formats that have a literal in the group."""
    by_first: dict[str, dict[str, set[int]]] = {}
    for i, fmt in enumerate(SECRET_FORMATS):
        for lit in fmt.literals:
            by_first.setdefault(lit[0], {}).setdefault(lit[1:], set()).add(i)
    out = []
    for first, rests in sorted(by_first.items()):
        alternatives = "|".join(re.escape(r) for r in sorted(rests, key=lambda r: (-len(r), r)))
        formats = frozenset(i for ids in rests.values() for i in ids)
        out.append((re.compile(f"{re.escape(first)}(?:{alternatives})"), formats))
    return out


_LITERAL_GROUPS = _literal_groups()


def formats_in(text: str) -> list[SecretFormat]:
    """The formats one of whose literals occurs in `text` (the cheap pre-check: a format cannot
    match where none does), in table order."""
    candidates: set[int] = set()
    for pattern, formats in _LITERAL_GROUPS:
        if pattern.search(text):
            candidates |= formats
    return [
        fmt
        for i, fmt in enumerate(SECRET_FORMATS)
        if i in candidates and any(lit in text for lit in fmt.literals)
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
# one of these occurs (any case) in every key _KEY_CORE matches
_KEY_WORDS = ("pass", "pwd", "secret", "token", "key", "credential")

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

    # The block becomes one placeholder plus its line breaks: stored snapshots keep their line
    # numbers (problems, learned fixes and replays are located by line).
    # Each rule runs only where a text it needs occurs (its literals, a key word): the same
    # result, and most texts (diagnostic messages, code lines) skip every rule.
    present = formats_in(text)
    if any(fmt.kind == "private_key" for fmt in present):
        text, n = _sub_counted(
            _PEM_RE, lambda m: _ph("private_key") + "\n" * m.group(0).count("\n"), text
        )
        total += n

    def url_repl(m: re.Match[str]) -> str:
        pw = m.group("password")
        if pw.startswith("[REDACTED") or _TEMPLATE_VALUE_RE.match(pw):
            return m.group(0)
        return m.group("prefix") + _ph("password") + m.group("at")

    if "://" in text and "@" in text:
        text, n = _sub_counted(_URL_CRED_RE, url_repl, text)
        total += n

    for fmt in present:
        if fmt.kind not in _NOT_TOKEN_RULES:
            text, n = _sub_counted(fmt.pattern, lambda m, k=fmt.kind: _ph(k), text)  # type: ignore[misc]
            total += n

    def auth_repl(kind: str) -> Callable[[re.Match[str]], str]:
        def repl(m: re.Match[str]) -> str:
            tok = m.group("token")
            if tok.startswith("[REDACTED") or not _looks_random(tok):
                return m.group(0)
            return m.group("scheme") + _ph(kind)

        return repl

    if "earer" in text:
        text, n = _sub_counted(_BEARER_RE, auth_repl("bearer_token"), text)
        total += n
    if "asic" in text:
        text, n = _sub_counted(_BASIC_RE, auth_repl("basic_auth"), text)
        total += n
    lowered = text.lower()
    if not any(word in lowered for word in _KEY_WORDS):
        return text, total

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


def scrub(text: str) -> str:
    """`text` with its secrets redacted (what the store writes)."""
    return redact(text)[0] if text else text


async def scrub_async(text: str) -> str:
    """`scrub`, off the event loop for big text (a whole file)."""
    if len(text) > 50_000:
        return await asyncio.to_thread(scrub, text)
    return scrub(text)


def scrub_value(value: Any) -> Any:
    """A JSON-like value with the secrets in its strings redacted."""
    return redact_value(value)[0]
