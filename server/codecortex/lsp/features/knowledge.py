"""Knowledge in the editor: `codecortex.search` [query], `codecortex.addNote` [text or {text,
title, tags}], `codecortex.stats`, and `codecortex.reindex` (the workspace docs indexed again,
with work-done progress the user can cancel; also at start and when folders are added)."""

from __future__ import annotations

import asyncio
from typing import Any

from codecortex import limits, presentation
from codecortex.lsp import convert
from codecortex.lsp.feature import Command, Feature
from codecortex.lsp.progress import WorkDone

CMD_SEARCH = "codecortex.search"
CMD_ADD_NOTE = "codecortex.addNote"
CMD_STATS = "codecortex.stats"
CMD_REINDEX = "codecortex.reindex"


class KnowledgeFeature(Feature):
    name = "knowledge"

    def commands(self) -> list[Command]:
        return [
            Command(CMD_SEARCH, self.search, {"results": [], "error": "search failed"}),
            Command(CMD_ADD_NOTE, self.add_note, {"error": "could not add the note"}),
            Command(CMD_STATS, self.stats, {"error": "stats unavailable"}),
            Command(CMD_REINDEX, self.reindex, {"queued": False}),
        ]

    async def search(self, *args: Any) -> dict[str, Any]:
        query = str(args[0]) if args else ""
        if not query.strip():
            return {"results": []}
        error = limits.too_long("the search query", query, limits.MAX_QUERY)
        if error is not None:
            return {"results": [], "error": error}
        hits = await self.service.knowledge.search(query)
        root = self.service.folders[0] if self.service.folders else None
        return {"results": [presentation.search_result_json(h, root) for h in hits]}

    async def add_note(self, *args: Any) -> dict[str, Any]:
        arg = convert.plain(args[0]) if args else {}
        if isinstance(arg, str):
            arg = {"text": arg}
        if not isinstance(arg, dict):
            return {"error": "the argument must be the note's text or {text, title, tags}"}
        text = str(arg.get("text") or "").strip()
        if not text:
            return {"error": "a note needs text"}
        title = str(arg.get("title") or "")
        raw_tags = arg.get("tags") or []
        if not isinstance(raw_tags, list):
            return {"error": "tags must be a list of strings"}
        tags = [str(t) for t in raw_tags]
        for name, value, limit in [
            ("the note", text, limits.MAX_NOTE),
            ("the note's title", title, limits.MAX_TITLE),
            *(("a tag", t, limits.MAX_TAG) for t in tags),
        ]:
            error = limits.too_long(name, value, limit)
            if error is not None:
                return {"error": error}
        if len(tags) > limits.MAX_TAGS:
            return {"error": f"too many tags ({len(tags)}; the limit is {limits.MAX_TAGS})"}
        note_id = await self.service.knowledge.add_note(text, title, tags)
        return {"id": str(note_id)}

    async def stats(self, *args: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.service.stats()
        return result

    async def reindex(self, *args: Any) -> dict[str, Any]:
        self.index("reindex")
        return {"queued": True}

    def index(self, why: str) -> None:
        """Index the workspace docs in the background."""
        self.service.spawn(self._index_with_progress(), why)

    async def _index_with_progress(self) -> None:
        """Index the workspace docs with work-done progress the user can cancel."""
        ls = self.ls
        work = await WorkDone(ls, "CodeCortex: indexing docs").begin()

        async def progress(fraction: float, message: str) -> None:
            if work.cancelled:
                raise asyncio.CancelledError
            work.report(message, fraction)

        message = "done"
        try:
            result = await self.service.knowledge.index_docs(progress)
            message = f"{result['files']} doc files, {result['added']} chunks added"
        except asyncio.CancelledError:
            message = "cancelled"
        except Exception as exc:
            message = f"failed: {exc}"
            ls.log(f"indexing docs failed: {exc}", "error")
        finally:
            work.end(message)
