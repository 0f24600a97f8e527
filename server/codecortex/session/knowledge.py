"""The session's part in knowledge: notes, search, the workspace docs indexed (and indexed
again when they change outside the editor)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codecortex.files.listing import DEFAULT_SKIP_DIRS
from codecortex.knowledge.docs import add_note, ingest_file, ingest_workspace

if TYPE_CHECKING:
    from codecortex.session.service import Service


class Knowledge:
    def __init__(self, service: Service) -> None:
        self.service = service

    async def add_note(self, text: str, title: str = "", tags: list[str] | None = None) -> Any:
        async with self.service.db.connection() as conn:
            return await add_note(
                conn,
                self.service.memory.embedder,
                user_id=self.service.user_id,
                repo_id=next(iter(self.service.repos.values()), None),
                text=text,
                title=title,
                tags=tags,
                visibility=self.service.settings.default_visibility,
            )

    async def search(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        async with self.service.db.connection() as conn:
            return await self.service.memory.search(conn, self.service.identity(), query, limit)

    async def index_docs(
        self, progress: Callable[[float, str], Awaitable[None]] | None = None
    ) -> dict[str, int]:
        totals = {"files": 0, "added": 0, "removed": 0}
        for n, (folder, repo_id) in enumerate(self.service.repos.items()):

            async def report(fraction: float, message: str, n: int = n) -> None:
                if progress is not None:
                    await progress((n + fraction) / max(len(self.service.repos), 1), message)

            async with self.service.db.connection() as conn:
                result = await ingest_workspace(
                    conn,
                    self.service.memory.embedder,
                    repo_id,
                    self.service.repo_infos[folder].root,
                    max_file_size=self.service.settings.max_file_size,
                    progress=report,
                    user_id=self.service.user_id,
                    visibility=self.doc_visibility(),
                )
            for key in totals:
                totals[key] += result[key]
        return totals

    def doc_visibility(self) -> str:
        """Indexed docs are the indexing developer's own unless shareDocs is on."""
        return "team" if self.service.settings.share_docs else "private"

    async def reingest(self, paths: list[Path]) -> int:
        """Re-ingest doc files changed outside the editor (watchfiles)."""
        changed = 0
        async with self.service.db.connection() as conn:
            for path in paths:
                for folder, repo_id in self.service.repos.items():
                    root = self.service.repo_infos[folder].root
                    if root in path.parents:
                        added, removed = await ingest_file(
                            conn,
                            self.service.memory.embedder,
                            repo_id,
                            root,
                            path,
                            self.service.settings.max_file_size,
                            user_id=self.service.user_id,
                            visibility=self.doc_visibility(),
                        )
                        changed += added + removed
        return changed

    async def watch_workspace(
        self, open_files: Callable[[], set[Path]], on_sources: Callable[[list[Path]], None]
    ) -> None:
        """Re-ingest docs changed outside the editor (git checkout, generators); source files
        changed there (not open in the editor) go to `on_sources`."""
        from codecortex.files.watching import changed_files
        from codecortex.knowledge.docs import DOC_SUFFIXES
        from codecortex.syntax.grammars import language_for_path

        roots = [str(info.root) for info in self.service.repo_infos.values()]
        if not roots:
            return
        self.service.client.log(f"watching {len(roots)} folder(s) for doc changes")
        async for found in changed_files(roots, DEFAULT_SKIP_DIRS, DOC_SUFFIXES):
            opened = open_files()
            sources = sorted(p for p in found if language_for_path(p) and p not in opened)
            if sources and self.service.connected:
                on_sources(sources)
            paths = sorted(p for p in found if p.suffix.lower() in DOC_SUFFIXES)
            if not paths or not self.service.connected:
                continue
            try:
                changed = await self.reingest(paths)
                self.service.client.log(
                    f"re-indexed {len(paths)} changed doc file(s) ({changed} chunks changed)"
                )
            except Exception as exc:
                self.service.client.log(f"re-indexing changed docs failed: {exc}", "warning")
