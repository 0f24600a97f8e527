"""Per-project settings: the `[tool.codecortex]` table of the project's `pyproject.toml`.

```toml
[tool.codecortex]
enable = true                      # false: CodeCortex records nothing in this project
detectors = ["ruff", "mypy"]       # what `check`, detectOnSave and learn-history run by default
ignore = ["generated/**", "docs/_build/**"]   # paths (globs from the project root) never recorded
```

Read by the CLI and the language server from the repository root (the folder of the nearest
`pyproject.toml` with such a table, up to the repository root). Invalid values are reported as
`errors` (one line each) and ignored.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any


@dataclass(frozen=True)
class ProjectConfig:
    root: Path | None = None  # folder of the pyproject.toml it came from
    enable: bool = True
    detectors: tuple[str, ...] | None = None  # None: the default set
    ignore: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=(), compare=False)

    def ignores(self, path: Path) -> bool:
        """Whether `path` (absolute) is ignored: a glob of `ignore` matches it, or a folder of it
        (`vendor` and `vendor/` ignore everything below)."""
        if self.root is None or not self.ignore:
            return False
        try:
            rel = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return False
        parts = PurePosixPath(rel).parts
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        for pattern in self.ignore:
            pattern = pattern.strip().strip("/")
            if not pattern:
                continue
            if fnmatch.fnmatchcase(rel, pattern) or any(
                fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes[:-1]
            ):
                return True
        return False


def load_project_config(start: Path, stop: Path | None = None) -> ProjectConfig:
    """The `[tool.codecortex]` table nearest to `start` (a file or folder), up to `stop`."""
    folder = start if start.is_dir() else start.parent
    for d in (folder, *folder.parents):
        pyproject = d / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                return ProjectConfig(root=d, errors=(f"{pyproject}: unreadable ({exc})",))
            table = data.get("tool", {}).get("codecortex")
            if table is not None:
                return _parse(d, pyproject, table)
        if stop is not None and d == stop:
            break
    return ProjectConfig()


def _parse(root: Path, pyproject: Path, table: Any) -> ProjectConfig:
    from codecortex.detectors import TOOLS

    where = f"{pyproject} [tool.codecortex]"
    if not isinstance(table, dict):
        return ProjectConfig(root=root, errors=(f"{where} must be a table",))
    errors: list[str] = []
    enable = table.get("enable", True)
    if not isinstance(enable, bool):
        errors.append(f"{where} enable: expected true or false")
        enable = True
    detectors: tuple[str, ...] | None = None
    raw = table.get("detectors")
    if raw is not None:
        if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
            errors.append(f"{where} detectors: expected a list of names")
        else:
            unknown = [t for t in raw if t not in TOOLS]
            if unknown:
                errors.append(
                    f"{where} detectors: unknown {', '.join(unknown)} (known: {', '.join(TOOLS)})"
                )
            detectors = tuple(t for t in raw if t in TOOLS)
    ignore: tuple[str, ...] = ()
    raw = table.get("ignore", [])
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        errors.append(f"{where} ignore: expected a list of paths or globs")
    else:
        ignore = tuple(raw)
    for key in sorted(set(table) - {"enable", "detectors", "ignore"}):
        errors.append(f"{where}: unknown key {key}")
    return ProjectConfig(root, enable, detectors, ignore, tuple(errors))
