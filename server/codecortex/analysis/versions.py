"""Version matching without network access: a subset of PEP 440 specifiers (Python) and of npm
semver ranges, enough for the dependency-drift rules (`deps`). Each answers None when it cannot
tell."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["npm_satisfies", "pep440_satisfies", "version_key"]


# --------------------------------------------------------------------------- PEP 440 (subset)

_VERSION = re.compile(
    r"^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)"
    r"(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d*))?"
    r"(?:[-_.]?(post|rev|r)[-_.]?(\d*)|-(\d+))?"
    r"(?:[-_.]?(dev)[-_.]?(\d*))?"
    r"(?:\+[a-z0-9.]+)?\s*$",
    re.I,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def version_key(version: str) -> tuple[Any, ...] | None:
    m = _VERSION.match(version)
    if not m:
        return None
    epoch = int(m.group(1) or 0)
    release = [int(x) for x in m.group(2).split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre_l, pre_n = m.group(3), m.group(4)
    post = m.group(6) if m.group(5) else m.group(7)
    dev = m.group(8)
    if pre_l:
        pre: tuple[int, ...] = (0, _PRE_RANK[pre_l.lower()], int(pre_n or 0))
    elif dev and post is None:
        pre = (-1,)
    else:
        pre = (1,)
    post_key = int(post or 0) if (m.group(5) or m.group(7)) else -1
    dev_key: tuple[int, ...] = (0, int(m.group(9) or 0)) if dev else (1,)
    return (epoch, tuple(release), pre, post_key, dev_key)


def _release(version: str) -> list[int]:
    m = _VERSION.match(version)
    return [int(x) for x in m.group(2).split(".")] if m else []


def pep440_satisfies(version: str, spec: str) -> bool | None:
    """Whether `version` satisfies the PEP 440 specifier set; None when it cannot tell."""
    v = version_key(version)
    if v is None:
        return None
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        m = re.match(r"^(===|==|!=|~=|>=|<=|>|<)\s*(\S+)$", clause)
        if not m:
            return None
        op, target = m.groups()
        if op == "===":
            if version.strip() != target:
                return False
            continue
        if target.endswith(".*"):
            if op not in ("==", "!="):
                return None
            prefix = [int(x) for x in target[:-2].split(".") if x.isdigit()]
            rel = _release(version)
            rel += [0] * max(0, len(prefix) - len(rel))
            match = rel[: len(prefix)] == prefix
            if match != (op == "=="):
                return False
            continue
        t = version_key(target)
        if t is None:
            return None
        if op == "==" and v != t:
            return False
        if op == "!=" and v == t:
            return False
        if op == ">=" and v < t:
            return False
        if op == "<=" and v > t:
            return False
        if op == ">" and v <= t:
            return False
        if op == "<" and v >= t:
            return False
        if op == "~=":
            parts = _release(target)
            if len(parts) < 2 or v < t:
                return False
            prefix = parts[:-1]
            rel = _release(version)
            rel += [0] * max(0, len(prefix) - len(rel))
            if rel[: len(prefix)] != prefix:
                return False
    return True


# --------------------------------------------------------------------------- npm semver (subset)


def _semver(v: str) -> tuple[int, int, int, int] | None:
    m = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[0-9A-Za-z.-]+)?(?:\+\S*)?\s*$", v)
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), 0 if m.group(4) else 1)


def _partial(v: str) -> list[int] | None:
    v = v.strip().lstrip("v=")
    if v in ("", "*", "x", "X"):
        return []
    parts = []
    for p in v.split("-")[0].split("+")[0].split("."):
        if p in ("x", "X", "*"):
            break
        if not p.isdigit():
            return None
        parts.append(int(p))
    return parts


def _upper(parts: list[int], idx: int) -> tuple[int, int, int, int]:
    bumped = [*parts[:idx], parts[idx] + 1]
    bumped += [0] * (3 - len(bumped))
    return (bumped[0], bumped[1], bumped[2], 0)  # exclusive, below any prerelease of it


def _comparator_ok(v: tuple[int, int, int, int], comp: str) -> bool | None:
    m = re.match(r"^(\^|~>?|>=|<=|>|<|=)?\s*(.*)$", comp)
    if not m:
        return None
    op, rest = m.group(1) or "", m.group(2)
    parts = _partial(rest)
    if parts is None:
        return None
    lo = (*[*parts, 0, 0, 0][:3], 0)
    if op in ("", "="):
        if len(parts) == 3:
            exact = _semver(rest)
            return exact is not None and v[:3] == exact[:3]
        if not parts:
            return True
        return lo <= v < _upper(parts, len(parts) - 1)
    if op == "^":
        if not parts:
            return True
        idx = next((i for i, n in enumerate(parts) if n), len(parts) - 1)
        return lo <= v < _upper(parts, idx)
    if op in ("~", "~>"):
        if not parts:
            return True
        return lo <= v < _upper(parts, min(1, len(parts) - 1))
    full: tuple[int, ...] | None = _semver(rest) if len(parts) == 3 else (*lo[:3], 1)
    if full is None:
        return None
    if op == ">=":
        return v >= lo
    if op == ">":
        return v >= _upper(parts, len(parts) - 1) if len(parts) < 3 else v > full
    if op == "<":
        return v < lo
    if op == "<=":
        return v < _upper(parts, len(parts) - 1) if len(parts) < 3 else v <= full
    return None


def npm_satisfies(version: str, range_: str) -> bool | None:
    """Whether `version` satisfies an npm semver range; None for tags, URLs and the like."""
    v = _semver(version)
    if v is None:
        return None
    range_ = range_.strip()
    if range_ in ("", "*", "latest", "x"):
        return True
    if re.search(r"[:/]|^[a-z]", range_):
        return None
    any_ok = False
    for alt in range_.split("||"):
        alt = alt.strip()
        hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", alt)
        comps = [f">={hyphen.group(1)}", f"<={hyphen.group(2)}"] if hyphen else None
        if comps is None:
            comps = re.findall(r"(?:\^|~>?|>=|<=|>|<|=)?\s*[^\s]+", alt) or ["*"]
        results = [_comparator_ok(v, c.replace(" ", "")) for c in comps]
        if any(r is None for r in results):
            return None
        if all(results):
            any_ok = True
    return any_ok
