"""The workspace of one editor connection: its folders, their repositories (and rows), the
`[tool.codecortex]` settings of each, and who the developer is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from codecortex.config import ProjectConfig, Settings, load_project_config
from codecortex.files.roots import RepoInfo, repo_info, uri_to_path, user_name
from codecortex.memory.identity import Identity


class Workspace:
    def __init__(self, log: Callable[[str, str], None]) -> None:
        self._log = log
        self.folders: list[Path] = []
        self.repos: dict[Path, Any] = {}  # folder -> repository id (once connected)
        self.repo_infos: dict[Path, RepoInfo] = {}
        self.projects: dict[Path, ProjectConfig] = {}  # [tool.codecortex] per repository root
        self.user_id: Any = None
        self.user_name = ""
        self.user_email: str | None = None

    async def open(self, folders: list[Path], settings: Settings) -> None:
        self.folders = [f.resolve() for f in folders]
        name, email = await user_name(settings.user, self.folders[0] if folders else None)
        self.user_name, self.user_email = name, email
        for folder in self.folders:
            self.repo_infos[folder] = await repo_info(folder)
        self.reload_project_configs()

    async def add(self, folder: Path) -> RepoInfo | None:
        """A folder added while running (None when it is there already)."""
        folder = folder.resolve()
        if folder in self.folders:
            return None
        self.folders.append(folder)
        info = self.repo_infos[folder] = await repo_info(folder)
        self.reload_project_configs()
        return info

    def remove(self, folder: Path) -> None:
        folder = folder.resolve()
        if folder in self.folders:
            self.folders.remove(folder)
        self.repos.pop(folder, None)
        self.repo_infos.pop(folder, None)

    def reload_project_configs(self) -> None:
        """Read `[tool.codecortex]` of every workspace repository again (at start, when a
        folder is added, when a pyproject.toml is saved)."""
        self.projects = {}
        for info in self.repo_infos.values():
            config = load_project_config(info.root, info.root)
            self.projects[info.root] = config
            for error in config.errors:
                self._log(f"invalid project setting: {error}", "warning")

    def project_for(self, path: Path | None) -> ProjectConfig:
        """The `[tool.codecortex]` settings of the workspace repository containing `path`."""
        if path is not None:
            best: Path | None = None
            for root in self.projects:
                if (path == root or root in path.parents) and (
                    best is None or len(root.parts) > len(best.parts)
                ):
                    best = root
            if best is not None:
                return self.projects[best]
        return ProjectConfig()

    def records(self, path: Path | None) -> bool:
        """Whether problems of `path` are recorded: not when its project disables CodeCortex
        or ignores the path (`[tool.codecortex]`)."""
        project = self.project_for(path.resolve() if path is not None else None)
        return project.enable and not (path is not None and project.ignores(path))

    def repo_for(self, path: Path | None) -> Any:
        if path is None:
            return None
        for folder, repo_id in self.repos.items():
            if path == folder or folder in path.parents:
                return repo_id
        return None

    def repository_of(self, path: Path) -> tuple[Path, Path, Any] | None:
        """(folder, repository root, repo id) of the workspace repository containing `path`
        (the innermost one)."""
        best: tuple[Path, Path, Any] | None = None
        for folder, info in self.repo_infos.items():
            root = info.root.resolve()
            if path == root or root in path.parents:
                repo_id = self.repos.get(folder)
                if repo_id is not None and (best is None or len(root.parts) > len(best[1].parts)):
                    best = (folder, root, repo_id)
        return best

    def folder_of(self, path: Path) -> Path:
        """The workspace folder holding `path` (else its directory)."""
        return next((f for f in self.folders if f == path or f in path.parents), path.parent)

    def where(self, uri: str) -> dict[str, Any]:
        """Where a document lives, for re-running detectors on its text: its path and the
        workspace folder that holds it (the project root whose configuration applies)."""
        path = uri_to_path(uri)
        if path is None:
            return {"path": None, "root": self.folders[0] if self.folders else None}
        return {"path": path, "root": self.folder_of(path)}

    def relative(self, path: Path | None, uri: str) -> str:
        """`path` relative to its workspace folder (its name outside them)."""
        if path is None:
            return uri
        for folder in self.folders:
            if folder in path.parents:
                return path.relative_to(folder).as_posix()
        return path.name

    def identity(self, path: Path | None, visibility: str) -> Identity:
        return Identity(self.user_id, self.user_name, self.repo_for(path), visibility)

    def forget_database(self) -> None:
        """The database changed: its rows (user, repositories) are not ours any more."""
        self.user_id = None
        self.repos = {}
