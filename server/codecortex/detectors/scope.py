"""Which files a detector checks as the project runs it: mypy only under its configuration
(its `files` and `exclude`, else its pre-commit hook's selection), tsc under a tsconfig.json,
eslint under an ESLint configuration, cargo in a crate."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codecortex.detectors.tools import cargo_toolchain

ESLINT_CONFIGS = (
    "eslint.config.js",
    "eslint.config.mjs",
    "eslint.config.cjs",
    "eslint.config.ts",
    "eslint.config.mts",
    "eslint.config.cts",
    ".eslintrc",
    ".eslintrc.js",
    ".eslintrc.cjs",
    ".eslintrc.json",
    ".eslintrc.yml",
    ".eslintrc.yaml",
)


def nearest(start: Path, names: Iterable[str], stop: Path | None = None) -> Path | None:
    names = tuple(names)
    for d in (start, *start.parents):
        if any((d / n).exists() for n in names):
            return d
        if stop is not None and d == stop:
            break
    return None


def _has_section(path: Path, header: re.Pattern[str]) -> bool:
    try:
        return header.search(path.read_text(encoding="utf-8", errors="replace")) is not None
    except OSError:
        return False


_MYPY_SECTIONS = {
    "pyproject.toml": re.compile(r"^\s*\[tool\.mypy[\].]", re.M),
    "setup.cfg": re.compile(r"^\s*\[mypy[\]:]", re.M),
    "tox.ini": re.compile(r"^\s*\[mypy[\]:]", re.M),
}


def mypy_config_dir(start: Path, stop: Path | None = None) -> Path | None:
    """The nearest folder (up to `stop`) whose files configure mypy: mypy.ini, .mypy.ini, or a
    mypy section in pyproject.toml, setup.cfg or tox.ini."""
    for d in (start, *start.parents):
        if (d / "mypy.ini").is_file() or (d / ".mypy.ini").is_file():
            return d
        if any(_has_section(d / name, rx) for name, rx in _MYPY_SECTIONS.items()):
            return d
        if stop is not None and d == stop:
            break
    return None


def mypy_scope(config_dir: Path) -> tuple[list[Path], str]:
    """The `files` (absolute) and `exclude` (a regex, "" for none) of the mypy configuration in
    `config_dir`: what `mypy` run there without arguments checks."""
    import configparser
    import tomllib

    files: Any = None
    exclude: Any = ""
    for name in ("mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg", "tox.ini"):
        path = config_dir / name
        if not path.is_file():
            continue
        try:
            if name == "pyproject.toml":
                section = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
                section = section.get("mypy")
                if section is None:
                    continue
            else:
                parser = configparser.ConfigParser()
                parser.read(path, encoding="utf-8")
                if not parser.has_section("mypy"):
                    continue
                section = dict(parser["mypy"])
        except (OSError, ValueError, configparser.Error):
            continue
        files, exclude = section.get("files"), section.get("exclude") or ""
        break
    if isinstance(files, str):
        files = [f.strip() for f in files.split(",")]
    if isinstance(exclude, list):
        exclude = "|".join(f"(?:{e})" for e in exclude)
    return [config_dir / f for f in files or [] if f], str(exclude).strip()


def precommit_scopes(config_dir: Path, tool: str) -> list[tuple[Path, str, str]] | None:
    """How the project's pre-commit hooks for `tool` select files: (the folder of
    `.pre-commit-config.yaml`, `files` regex, `exclude` regex) per hook; None when no such
    hook is configured (in `config_dir` or a parent folder up to the repository's root)."""
    import yaml

    for d in (config_dir, *config_dir.parents):
        path = d / ".pre-commit-config.yaml"
        if path.is_file():
            try:
                config = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, yaml.YAMLError):
                return None
            hooks = [
                hook
                for repo in (config or {}).get("repos") or []
                if isinstance(repo, dict)
                for hook in repo.get("hooks") or []
                if isinstance(hook, dict) and hook.get("id") == tool
            ]
            if not hooks:
                return None
            return [(d, str(h.get("files") or ""), str(h.get("exclude") or "")) for h in hooks]
        if (d / ".git").exists():
            return None
    return None


def _regex_hit(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _in_precommit_scope(path: Path, scopes: list[tuple[Path, str, str]]) -> bool:
    for base, files, exclude in scopes:
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            continue
        if (not files or _regex_hit(files, rel)) and not (exclude and _regex_hit(exclude, rel)):
            return True
    return False


def _in_mypy_files(path: Path, root: Path) -> bool:
    """Whether `mypy`, run as the project configures it, checks `path`: its configuration's
    `files` and `exclude`, else the files its pre-commit hook passes it, else any."""
    config_dir = mypy_config_dir(path.parent, root)
    if config_dir is None:
        return False
    files, exclude = mypy_scope(config_dir)
    if files and not any(path == f or f in path.parents for f in files):
        return False
    if not files:
        scopes = precommit_scopes(config_dir, "mypy")
        if scopes is not None and not _in_precommit_scope(path, scopes):
            return False
    if exclude:
        try:
            rel = path.relative_to(config_dir).as_posix()
        except ValueError:
            rel = path.as_posix()
        try:
            if re.search(exclude, rel):
                return False
        except re.error:
            pass
    return True


def configured_files(tool: str, files: list[Path], root: Path) -> tuple[list[Path], str | None]:
    """Files whose project configures `tool` (mypy, tsc), or why none does. Run by default only
    there: a project that does not type-check would get every file's type errors."""
    if tool == "mypy":
        covered = [f for f in files if mypy_config_dir(f.parent, root) is not None]
        if not covered:
            return [], "the project has no mypy configuration"
        covered = [f for f in covered if _in_mypy_files(f, root)]
        return covered, None if covered else "no file in the mypy configuration's `files`"
    if tool == "tsc":
        covered = [f for f in files if nearest(f.parent, ["tsconfig.json"], root) is not None]
        return covered, None if covered else "the project has no tsconfig.json"
    return files, None


def checkable_files(tool: str, files: list[Path], root: Path) -> tuple[list[Path], str | None]:
    """Files the tool can check, or a reason to skip it."""
    if tool == "eslint":
        if (
            nearest(files[0].parent, ESLINT_CONFIGS) is None
            and nearest(root, ESLINT_CONFIGS) is None
        ):
            return [], "no ESLint configuration"
    if tool == "cargo":
        in_crate = [f for f in files if nearest(f.parent, ["Cargo.toml"]) is not None]
        if not in_crate:
            return [], "no Cargo.toml"
        return in_crate, None
    return files, None


def why_not_runnable(tool: str, exe: str) -> str | None:
    """Why an installed tool cannot run at all (cargo without a toolchain), or None."""
    if tool == "cargo":
        working, reason = cargo_toolchain(exe)
        return None if working else reason
    return None
