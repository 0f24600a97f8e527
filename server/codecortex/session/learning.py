"""The session's part in what the developer learns and shares: synthesized fixes and their
feedback, learning paths, fixes shared with the team, achievements."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codecortex.llm import LLMError
from codecortex.memory.views import ProblemView
from codecortex.reports import achievements
from codecortex.synthesis import fixes as synthesis
from codecortex.synthesis import learning_paths
from codecortex.synthesis.runner import Synthesizer
from codecortex.team import roles as team

if TYPE_CHECKING:
    from codecortex.session.service import Service


class Learning:
    def __init__(self, service: Service) -> None:
        self.service = service

    # --- synthesized fixes -------------------------------------------------------------------

    async def synthesize(
        self,
        synth: Synthesizer,
        view: ProblemView,
        *,
        uri: str,
        path: Path | None,
        language: str | None,
        text: str,
        version: int | None,
        still_current: Callable[[], bool],
        progress: Callable[[str], Any],
    ) -> synthesis.SynthesisResult:
        """Ask the model for a fix of a recorded problem (`synthesis.fix_for_problem`)."""
        service = self.service
        async with service.db.connection() as conn:
            ident = service.identity(path)
            return await synthesis.fix_for_problem(
                conn,
                synth,
                view.problem_id,
                view.diagnostic,
                path=service.workspace.relative(path, uri),
                language=language,
                text=text,
                version=version,
                user_id=ident.user_id,
                repo_id=ident.repo_id,
                known_solutions=[f.solution for f in view.fixes],
                related=view.related,
                still_current=still_current,
                progress=progress,
            )

    async def record_synthesis(
        self,
        synth_id: str,
        action: str,
        path: Path | None,
        note: str | None = None,
        modifications: str | None = None,
    ) -> dict[str, Any]:
        """Record applied / modified / rejected for a synthesized fix."""
        service = self.service
        async with service.db.connection() as conn:
            return await synthesis.record_action(
                conn,
                service.memory,
                service.identity(path),
                synth_id,
                action,
                note=note,
                modifications=modifications,
            )

    async def synthesized_snippets(self, synth_id: str) -> list[str]:
        """The non-blank texts a synthesized fix inserts."""
        async with self.service.db.connection() as conn:
            row = await synthesis.synthesis_row(conn, synth_id)
        return [e["new_text"] for e in (row or {}).get("edits", []) if e["new_text"].strip()]

    # --- learning paths ----------------------------------------------------------------------

    def _first_identity(self) -> Any:
        service = self.service
        return service.identity(service.folders[0] if service.folders else None)

    async def learning_path(
        self, synth: Synthesizer | None, weeks: int, refresh: bool
    ) -> dict[str, Any]:
        """The latest learning path (a new one with `refresh`); the model's errors go on
        (`LLMError`), `NotEnoughHistory` too."""
        ident = self._first_identity()
        async with self.service.db.connection() as conn:
            if not refresh:
                latest = await learning_paths.latest(conn, ident.user_id)
                if latest is not None:
                    return learning_paths.path_json(latest)
            if synth is None:
                return {"error": "no model is configured (setting llm.provider)"}
            try:
                row = await learning_paths.generate(
                    conn, synth, ident, weeks=weeks, use_cache=not refresh
                )
            except (learning_paths.NotEnoughHistory, LLMError) as exc:
                failed: Exception = exc  # raised once what was written is committed
            else:
                return learning_paths.path_json(row)
        raise failed

    async def mark_lesson(self, path_id: str, lesson_id: str, done: bool) -> dict[str, Any]:
        ident = self._first_identity()
        async with self.service.db.connection() as conn:
            row = await learning_paths.mark_lesson(conn, ident.user_id, path_id, lesson_id, done)
        return learning_paths.path_json(row)

    # --- the team ----------------------------------------------------------------------------

    async def share(self, solution_id: str) -> str | None:
        """Share one of the developer's own fixes with the team: what was shared, else None.
        The cached offers show it as shared from now on."""
        service = self.service
        async with service.db.connection() as conn:
            kind = await team.share(conn, service.user_id, solution_id, "team")
        if kind is None:
            return None
        for doc in service.documents.values():
            for view in doc.views:
                for fix in view.fixes:
                    if str(fix.solution.get("id")) == solution_id:
                        fix.solution["visibility"] = "team"
        return kind

    async def new_achievements(self) -> list[str]:
        """Store the refreshed metrics, award what is due; the announcements not made yet."""
        service = self.service
        if service.user_id is None or not service.connected:
            return []
        async with service.db.connection() as conn:
            await achievements.record_progress(conn, service.user_id)
            return await achievements.take_announcements(conn, service.user_id)
