"""Offline dependency drift (`stale_dep`): manifests vs lock files vs what is installed.

Python: pyproject.toml (PEP 621, PEP 735 groups, Poetry) and requirements*.txt, checked against
requirements.lock / poetry.lock / uv.lock / pdm.lock and against the distributions installed in the
project's virtualenv (importlib.metadata). JavaScript: package.json against package-lock.json and
node_modules. Also: unpinned requirements and duplicated / conflicting declarations.
No network access.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from codecortex.analysis.builder import InsightBuilder, Rule
from codecortex.analysis.model import Insight
from codecortex.diagnostics import Range

__all__ = [
    "Declaration",
    "dependency_rules",
    "npm_satisfies",
    "parse_requirement",
    "pep440_satisfies",
    "python_declarations",
]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(slots=True)
class Declaration:
    name: str
    spec: str  # PEP 440 specifier ("" = any) or npm range
    file: str
    line: int
    group: str  # "main", extra/group name, "dev", requirements file name
    marker: str = ""
    raw: str = ""


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


_REQ = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
    r"(?P<spec>\(?\s*(?:===|==|!=|~=|>=|<=|>|<)[^;]*?\)?)?\s*(?:;(?P<marker>.*))?$"
)


def parse_requirement(text: str) -> tuple[str, str, str] | None:
    """(name, specifier, marker) of a PEP 508 requirement; None for URLs and options."""
    text = text.split(" #", 1)[0].strip()
    if not text or text.startswith(("-", "#")) or "://" in text or " @ " in text:
        return None
    m = _REQ.match(text)
    if not m:
        return None
    spec = (m.group("spec") or "").strip().strip("()").replace(" ", "")
    return m.group("name"), spec, (m.group("marker") or "").strip()


def _poetry_spec(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("version")
        if value is None:
            return None
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value in ("", "*"):
        return ""
    out = []
    for part in value.split(","):
        part = part.strip()
        if part.startswith("^") or (part.startswith("~") and not part.startswith("~=")):
            caret = part[0] == "^"
            base = part[1:].strip()
            nums = [int(x) for x in base.split(".") if x.isdigit()]
            if not nums:
                return None
            if caret:
                idx = next((i for i, n in enumerate(nums) if n), len(nums) - 1)
                upper = nums[: idx + 1]
            else:
                upper = nums[:2] if len(nums) >= 2 else nums[:1]
            upper = [*upper[:-1], upper[-1] + 1]
            out.append(f">={base},<{'.'.join(map(str, upper))}")
        elif re.match(r"^\d", part):
            out.append(f"=={part}")
        else:
            out.append(part.replace(" ", ""))
    return ",".join(out)


def _line_of(lines: list[str], needle: str, start: int = 0) -> int:
    pat = re.compile(r"(^|[\"'\s])" + re.escape(needle) + r"(?![A-Za-z0-9_-])", re.I)
    for i in range(start, len(lines)):
        if pat.search(lines[i]):
            return i
    for i in range(0, start):
        if pat.search(lines[i]):
            return i
    return 0


def python_declarations(root: Path) -> list[Declaration]:
    """Dependencies declared in pyproject.toml and requirements*.txt at the project root."""
    out: list[Declaration] = []
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            text = pyproject.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            data, text = {}, ""
        lines = text.splitlines()
        project = data.get("project", {})
        groups: list[tuple[str, list[Any]]] = [("main", project.get("dependencies", []))]
        groups += list(project.get("optional-dependencies", {}).items())
        groups += list(data.get("dependency-groups", {}).items())
        for group, reqs in groups:
            for req in reqs if isinstance(reqs, list) else []:
                if not isinstance(req, str):
                    continue
                parsed = parse_requirement(req)
                if parsed:
                    name, spec, marker = parsed
                    line = _line_of(lines, req.strip()) or _line_of(lines, name)
                    out.append(Declaration(name, spec, "pyproject.toml", line, group, marker, req))
        poetry = data.get("tool", {}).get("poetry", {})
        poetry_groups = [("main", poetry.get("dependencies", {}))]
        poetry_groups.append(("dev", poetry.get("dev-dependencies", {})))
        for gname, g in poetry.get("group", {}).items():
            poetry_groups.append((gname, g.get("dependencies", {})))
        for group, deps in poetry_groups:
            for name, value in deps.items() if isinstance(deps, dict) else []:
                if name.lower() == "python":
                    continue
                poetry_spec = _poetry_spec(value)
                if poetry_spec is None:
                    continue
                out.append(
                    Declaration(
                        name,
                        poetry_spec,
                        "pyproject.toml",
                        _line_of(lines, name),
                        group,
                        raw=str(value),
                    )
                )
    req_files = sorted(root.glob("requirements*.txt")) + sorted(root.glob("requirements/*.txt"))
    for path in req_files:
        rel = path.relative_to(root).as_posix()
        try:
            req_lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for i, req_line in enumerate(req_lines):
            parsed_req = parse_requirement(req_line)
            if parsed_req:
                req_name, req_spec, req_marker = parsed_req
                out.append(
                    Declaration(req_name, req_spec, rel, i, rel, req_marker, req_line.strip())
                )
    return out


def python_locked(root: Path) -> tuple[str, dict[str, str]] | None:
    """(lock file name, {canonical name: pinned version}) from the first lock file found."""
    for name in ("uv.lock", "poetry.lock", "pdm.lock"):
        path = root / name
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
            pins = {
                canonical(p["name"]): str(p["version"])
                for p in data.get("package", [])
                if isinstance(p, dict) and "name" in p and "version" in p
            }
            return name, pins
    for name in ("requirements.lock", "requirements-lock.txt", "requirements.txt.lock"):
        path = root / name
        if path.is_file():
            pins = {}
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                parsed = parse_requirement(line)
                if parsed and parsed[1].startswith("=="):
                    pins[canonical(parsed[0])] = parsed[1][2:].split(",")[0]
            return name, pins
    return None


def _default_site_packages(root: Path) -> list[Path]:
    out = []
    for venv in (".venv", "venv", "env"):
        base = root / venv
        if not (base / "pyvenv.cfg").is_file():
            continue
        out += sorted(base.glob("lib/python*/site-packages"))
        out += sorted(base.glob("Lib/site-packages"))
    return out


def installed_versions(site_packages: list[Path]) -> dict[str, str]:
    dists = metadata.distributions(path=[str(p) for p in site_packages])
    out: dict[str, str] = {}
    for d in dists:
        name = d.metadata["Name"] if d.metadata else None
        if name:
            out.setdefault(canonical(name), d.version)
    return out


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


# --------------------------------------------------------------------------- the rules


_STALE_WHY = (
    "When declared, locked and installed versions disagree, builds are not "
    "reproducible and you test against something other than what you ship."
)


def _add(
    b: InsightBuilder,
    decl: Declaration,
    kind: str,
    title: str,
    summary: str,
    *,
    severity: str,
    confidence: float,
    how: str,
    extra: dict[str, Any] | None = None,
) -> None:
    b.add(
        Rule(f"stale_dep.{kind}", "stale_dep", "minutes", _STALE_WHY, how),
        title=title,
        summary=summary,
        range_=Range.of(decl.line, 0, decl.line, max(len(decl.raw), 1)),
        severity=severity,
        confidence=confidence,
        snippet=f"{kind}|{canonical(decl.name)}|{decl.spec}|{decl.group}",
        use_symbol_at=False,
        file=decl.file,
        extra={
            "package": decl.name,
            "declared": decl.spec or "*",
            "group": decl.group,
            **(extra or {}),
        },
    )


def _duplicates(b: InsightBuilder, decls: list[Declaration]) -> None:
    by_key: dict[tuple[str, str], list[Declaration]] = {}
    for d in decls:
        by_key.setdefault((d.file + "#" + d.group, canonical(d.name)), []).append(d)
    for (_where, _name), found in by_key.items():
        if len(found) < 2 or all(f.marker for f in found):
            continue
        specs = sorted({f.spec or "*" for f in found})
        conflicting = len(specs) > 1
        d = found[1]
        _add(
            b,
            d,
            "duplicate",
            f"{d.name} is declared {len(found)} times in {d.file}",
            f"{d.name} appears {len(found)} times ({', '.join(specs)})"
            + (" with conflicting versions." if conflicting else "."),
            severity="warning" if conflicting else "info",
            confidence=0.9,
            how="Keep a single declaration with the intended version range.",
            extra={"specs": specs, "lines": [f.line for f in found]},
        )
    # the same package pinned differently in two requirements files
    req = [d for d in decls if d.file.startswith("requirements") and d.spec.startswith("==")]
    pins: dict[str, dict[str, Declaration]] = {}
    for d in req:
        pins.setdefault(canonical(d.name), {}).setdefault(d.spec, d)
    for _name, variants in pins.items():
        if len(variants) > 1:
            ds = sorted(variants.values(), key=lambda x: (x.file, x.line))
            if len({x.file for x in ds}) < 2:
                continue
            d = ds[-1]
            _add(
                b,
                d,
                "conflicting_pins",
                f"{d.name} is pinned to different versions across requirements files",
                f"{d.name}: " + ", ".join(f"{x.spec} in {x.file}" for x in ds) + ".",
                severity="warning",
                confidence=0.9,
                how="Pin one version (e.g. with a shared constraints file).",
                extra={"pins": {x.file: x.spec for x in ds}},
            )


def _python_rules(b: InsightBuilder, root: Path, site_packages: list[Path] | None) -> None:
    decls = python_declarations(root)
    if not decls:
        return
    _duplicates(b, decls)
    for d in decls:
        if d.file.startswith("requirements") and not d.spec and not d.marker:
            _add(
                b,
                d,
                "unpinned",
                f"{d.name} is not pinned in {d.file}",
                f"{d.name} has no version constraint, so every install may get a different one.",
                severity="info",
                confidence=0.8,
                how=f"Pin it ({d.name}==<tested version>) or constrain it (>=, <).",
            )
    lock = python_locked(root)
    if lock is not None:
        lock_name, pins = lock
        for d in decls:
            if d.marker or (d.group != "main" and not d.file.startswith("requirements")):
                continue
            pinned = pins.get(canonical(d.name))
            if pinned is None:
                _add(
                    b,
                    d,
                    "missing_from_lock",
                    f"{d.name} is declared but not in {lock_name}",
                    f"{d.name} ({d.spec or 'any version'}) is missing from {lock_name}; the lock "
                    "is older than the manifest.",
                    severity="warning",
                    confidence=0.85,
                    how="Re-generate the lock file (uv lock / poetry lock / pip-compile).",
                    extra={"lock": lock_name},
                )
            elif d.spec and pep440_satisfies(pinned, d.spec) is False:
                _add(
                    b,
                    d,
                    "lock_drift",
                    f"{lock_name} pins {d.name} {pinned}, outside {d.spec}",
                    f"The manifest asks for {d.name}{d.spec} but {lock_name} pins {pinned}.",
                    severity="warning",
                    confidence=0.9,
                    how="Re-generate the lock file so it honours the declared range.",
                    extra={"lock": lock_name, "locked": pinned},
                )
    dirs = _default_site_packages(root) if site_packages is None else site_packages
    if not dirs:
        return
    installed = installed_versions(dirs)
    for d in decls:
        if d.marker:
            continue
        have = installed.get(canonical(d.name))
        if have is None:
            if d.group == "main":
                _add(
                    b,
                    d,
                    "not_installed",
                    f"{d.name} is declared but not installed",
                    f"{d.name} ({d.spec or 'any version'}) is not installed in the environment.",
                    severity="info",
                    confidence=0.7,
                    how="Install the project's dependencies (pip install -e . / uv sync).",
                    extra={"environment": [str(p) for p in dirs]},
                )
        elif d.spec and pep440_satisfies(have, d.spec) is False:
            _add(
                b,
                d,
                "installed_drift",
                f"Installed {d.name} {have} does not satisfy {d.spec}",
                f"The environment has {d.name} {have}, the manifest asks for {d.spec}.",
                severity="warning",
                confidence=0.9,
                how="Re-install the dependencies (pip install -e . / uv sync).",
                extra={"installed": have},
            )


def _npm_rules(b: InsightBuilder, root: Path) -> None:
    manifest = root / "package.json"
    if not manifest.is_file():
        return
    try:
        text = manifest.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError):
        return
    lines = text.splitlines()
    decls: list[Declaration] = []
    for group in ("dependencies", "devDependencies", "optionalDependencies"):
        deps = data.get(group) or {}
        if not isinstance(deps, dict):
            continue
        for name, spec in deps.items():
            if not isinstance(spec, str):
                continue
            line = _line_of(lines, f'"{name}"')
            decls.append(
                Declaration(name, spec, "package.json", line, group, raw=lines[line].strip())
            )
    seen: dict[str, Declaration] = {}
    for d in decls:
        if d.spec.strip() in ("*", "latest", "", "x"):
            _add(
                b,
                d,
                "unpinned",
                f"{d.name} accepts any version ({d.spec or 'empty'})",
                f"{d.name} is declared as '{d.spec}'; installs are not reproducible.",
                severity="info",
                confidence=0.85,
                how="Use a caret range of the tested version (e.g. ^1.2.3).",
            )
        first = seen.get(d.name)
        if first is not None:
            _add(
                b,
                d,
                "duplicate",
                f"{d.name} is declared in both {first.group} and {d.group}",
                f"{d.name}: {first.spec} in {first.group}, {d.spec} in {d.group}.",
                severity="warning" if first.spec != d.spec else "info",
                confidence=0.9,
                how="Declare the package in one group only.",
            )
        else:
            seen[d.name] = d
    lock_path = root / "package-lock.json"
    locked: dict[str, str] | None = None
    if lock_path.is_file():
        try:
            lock = json.loads(lock_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            lock = {}
        locked = {}
        for key, info in (lock.get("packages") or {}).items():
            if key.startswith("node_modules/") and isinstance(info, dict) and "version" in info:
                name = key[len("node_modules/") :]
                if "/node_modules/" not in name:
                    locked[name] = str(info["version"])
        for name, info in (lock.get("dependencies") or {}).items():
            if isinstance(info, dict) and "version" in info:
                locked.setdefault(name, str(info["version"]))
    for d in decls:
        if locked is not None:
            pinned = locked.get(d.name)
            if pinned is None:
                _add(
                    b,
                    d,
                    "missing_from_lock",
                    f"{d.name} is declared but not in package-lock.json",
                    f"{d.name} ({d.spec}) is missing from package-lock.json; run npm install.",
                    severity="warning",
                    confidence=0.85,
                    how="Run npm install to refresh package-lock.json and commit it.",
                    extra={"lock": "package-lock.json"},
                )
            elif npm_satisfies(pinned, d.spec) is False:
                _add(
                    b,
                    d,
                    "lock_drift",
                    f"package-lock.json pins {d.name} {pinned}, outside {d.spec}",
                    f"package.json asks for {d.name}@{d.spec} but the lock has {pinned}.",
                    severity="warning",
                    confidence=0.9,
                    how="Run npm install to refresh package-lock.json and commit it.",
                    extra={"lock": "package-lock.json", "locked": pinned},
                )
        installed_manifest = root / "node_modules" / d.name / "package.json"
        if installed_manifest.is_file():
            try:
                have = str(json.loads(installed_manifest.read_text(encoding="utf-8"))["version"])
            except (OSError, ValueError, KeyError):
                continue
            if npm_satisfies(have, d.spec) is False:
                _add(
                    b,
                    d,
                    "installed_drift",
                    f"Installed {d.name} {have} does not satisfy {d.spec}",
                    f"node_modules has {d.name} {have}, package.json asks for {d.spec}.",
                    severity="warning",
                    confidence=0.9,
                    how="Run npm ci to install what the lock file says.",
                    extra={"installed": have},
                )


def dependency_rules(root: Path, site_packages: list[Path] | None = None) -> list[Insight]:
    """All `stale_dep` insights for the project at `root`."""
    b = InsightBuilder("pyproject.toml")
    _python_rules(b, root, site_packages)
    _npm_rules(b, root)
    return b.finish()
