"""Hard-coded secrets: well-known credential formats and `password = "..."`-style literals.

Runs over the text of any file (language-agnostic). Findings never contain the secret itself:
titles name the kind of secret and `detail.preview` shows at most its first four characters.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right

from codecortex.analysis.builder import InsightBuilder, Rule
from codecortex.diagnostics import Range
from codecortex.llm.redaction import formats_in

__all__ = ["scan_secrets"]

# The credential formats are the redactor's table (`codecortex.llm.redaction.SECRET_FORMATS`): what
# this insight calls a secret is what redaction removes before storing or sending.

# `name = "literal"` where the name contains one of these words (found with str.find, then the
# assignment is matched right after the word)
_CREDENTIAL_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "api_key",
    "apikey",
    "access_token",
    "accesstoken",
    "auth_token",
    "authtoken",
    "api_token",
    "bearer_token",
    "refresh_token",
    "private_key",
    "privatekey",
)
# Which of those words can occur: one pass per probe instead of one per word (a word whose
# probes are all absent cannot occur; a word without a probe is always looked for)
_PROBES = tuple(re.compile(p) for p in ("p(?:assw|wd|rivate)", "secret", "api", "token"))
_WORD_PROBES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (probe, tuple(w for w in _CREDENTIAL_WORDS if probe.search(w))) for probe in _PROBES
)
_UNPROBED = frozenset(w for w in _CREDENTIAL_WORDS if not any(p.search(w) for p in _PROBES))
_AFTER_WORD = re.compile(
    r"[A-Za-z0-9_]*[\"']?[ \t]*(?::=|[:=])[ \t]*(?P<q>[\"'])(?P<value>[^\"'\n]{4,200})(?P=q)"
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_PLACEHOLDER = re.compile(
    r"(?i)^\W*$|[{}<>$%]|\s|\.\.\.|^x+$|\*{3}|changeme|change_me|example|dummy|placeholder|"
    r"your[_-]|redacted|sample|fake|not.?a.?secret|^(none|null|true|false|test|secret|password)$"
)


def _credential_literals(text: str) -> list[tuple[int, int, str, str]]:
    """(value start, value end, variable name, value) of `password = "..."`-style literals."""
    lower = text.lower()
    out: list[tuple[int, int, str, str]] = []
    seen: set[int] = set()
    possible: set[str] = set(_UNPROBED)
    for probe, words in _WORD_PROBES:
        if probe.search(lower):
            possible.update(words)
    if not possible:
        return out
    for word in _CREDENTIAL_WORDS:
        if word not in possible:
            continue
        pos = lower.find(word)
        while pos >= 0:
            m = _AFTER_WORD.match(text, pos + len(word))
            if m:
                begin = pos
                while begin > 0 and text[begin - 1] in _NAME_CHARS:
                    begin -= 1
                if begin not in seen:
                    seen.add(begin)
                    name_end = m.start("q")
                    name = text[begin:name_end].rstrip(" \t:=\"'")
                    out.append((m.start("value"), m.end("value"), name, m.group("value")))
            pos = lower.find(word, pos + len(word))
    out.sort()
    return out


_HARDCODED_SECRET = Rule(
    "security.hardcoded_secret",
    "security_issue",
    "hours",
    "Secrets in source end up in every clone, backup, log and fork of the repository.",
    "Revoke/rotate it, then load it from the environment or a secret manager "
    "(and purge it from git history).",
)


def _preview(value: str) -> str:
    return value[:4] + "…" if len(value) > 4 else "…"


def scan_secrets(b: InsightBuilder, text: str) -> None:
    """Add a `security.hardcoded_secret` insight for each credential-looking literal in `text`."""
    found: list[tuple[int, int, str, str, str, str, float]] = []
    for fmt in formats_in(text):
        for m in fmt.pattern.finditer(text):
            if fmt.kind == "private_key":
                end = m.group(0).find("\n")  # the BEGIN line, not the whole block
                m_end = m.end() if end < 0 else m.start() + end
            else:
                m_end = m.end()
            found.append((m.start(), m_end, fmt.kind, fmt.human, fmt.kind, m.group(0),
                          fmt.confidence))  # fmt: skip
    for start, end, name, value in _credential_literals(text):
        if _PLACEHOLDER.search(value) or value.lower() == name.lower():
            continue
        if re.fullmatch(r"[A-Z_]+", value) or re.fullmatch(r"[a-z_]+\.[a-z_.]+", value):
            continue  # an identifier-like constant ("PASSWORD", "auth.token"), not a secret
        found.append((start, end, "password_literal", "hard-coded credential", name, value, 0.7))
    if not found:
        return
    line_starts = [0]
    pos = text.find("\n")
    while pos >= 0:
        line_starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    test = b.is_test
    for start, end, kind, human, name, secret, confidence in sorted(found):
        sl = bisect_right(line_starts, start) - 1
        el = bisect_right(line_starts, end) - 1
        rng = Range.of(sl, start - line_starts[sl], el, end - line_starts[el])
        digest = hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()[:16]
        b.add(
            _HARDCODED_SECRET,
            title=(
                f"Hard-coded credential in {name}"
                if kind == "password_literal"
                else f"Hard-coded {human}"
            ),
            summary=f"A {human} is written in the source; anyone with the code has it.",
            range_=rng,
            severity="warning" if test else "critical",
            confidence=round(confidence * (0.6 if test else 1.0), 2),
            snippet=f"{kind}:{name}:{digest}",
            extra={"secret_kind": kind, "preview": _preview(secret), "secret_sha256": digest},
        )
