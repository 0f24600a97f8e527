"""Python dependency declarations and pins as the project states them: pyproject.toml (PEP 621,
PEP 735 groups, Poetry) and requirements*.txt, the lock files (requirements.lock / poetry.lock /
uv.lock / pdm.lock) and the distributions installed in the project's virtualenv."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "Declaration",
    "canonical",
    "default_site_packages",
    "installed_versions",
    "line_of",
    "parse_requirement",
    "python_declarations",
    "python_locked",
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


def line_of(lines: list[str], needle: str, start: int = 0) -> int:
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
                    line = line_of(lines, req.strip()) or line_of(lines, name)
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
                        line_of(lines, name),
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


def default_site_packages(root: Path) -> list[Path]:
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
