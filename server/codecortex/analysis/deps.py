"""Offline dependency drift (`stale_dep`): manifests vs lock files vs what is installed.

Python: pyproject.toml (PEP 621, PEP 735 groups, Poetry) and requirements*.txt, checked against
requirements.lock / poetry.lock / uv.lock / pdm.lock and against the distributions installed in the
project's virtualenv (importlib.metadata). JavaScript: package.json against package-lock.json and
node_modules. Also: unpinned requirements and duplicated / conflicting declarations.
No network access.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codecortex.analysis.builder import InsightBuilder, Rule
from codecortex.analysis.manifests import (
    Declaration,
    canonical,
    default_site_packages,
    installed_versions,
    line_of,
    python_declarations,
    python_locked,
)
from codecortex.analysis.model import Insight
from codecortex.analysis.versions import npm_satisfies, pep440_satisfies
from codecortex.diagnostics import Range

__all__ = ["dependency_rules"]


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
    dirs = default_site_packages(root) if site_packages is None else site_packages
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
            line = line_of(lines, f'"{name}"')
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
