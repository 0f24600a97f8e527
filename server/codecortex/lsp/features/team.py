"""Team features in the editor: a "share this fix with the team" code action (and the
`codecortex.share` command behind it), and achievements announced once with window/showMessage.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from codecortex import presentation
from codecortex.diagnostics import Range
from codecortex.lsp.feature import Command, Feature, quick_fix
from codecortex.lsp.server import CodeCortexServer

log = logging.getLogger(__name__)

CMD_SHARE = "codecortex.share"
ANNOUNCE_DELAY = 1.0  # seconds after the last change before metrics are refreshed


class TeamFeature(Feature):
    name = "team"

    def __init__(self, ls: CodeCortexServer) -> None:
        super().__init__(ls)
        self.shared: set[str] = set()  # solutions shared in this session
        self._announce: asyncio.TimerHandle | None = None

    def code_actions(
        self, uri: str, rng: Range, text: str, version: int | None
    ) -> list[types.CodeAction]:
        """Offer to share the developer's own private fixes that are in view at `rng`: ones
        just learned here, and ones offered for a problem here."""
        service = self.service
        if not service.shared_database():
            return []  # the embedded database is this machine's alone: nobody to share with
        candidates: dict[str, str] = {}
        state = service.documents.get(uri)
        if service.settings.default_visibility == "private" and state is not None:
            for resolved in state.resolved:
                line = resolved.problem.get("line_number") or 0
                if resolved.solution_id is not None and abs(line - rng.start.line) <= 3:
                    message = presentation.shorten(resolved.problem.get("error_message") or "", 40)
                    candidates.setdefault(
                        str(resolved.solution_id), f"the fix you just made ({message})"
                    )
        for view in service.views_at(uri, rng):
            for fix in view.fixes:
                sol = fix.solution
                if (
                    str(sol.get("user_id")) == str(service.user_id)
                    and sol.get("visibility") == "private"
                ):
                    candidates.setdefault(
                        str(sol["id"]),
                        f"your past fix for “{presentation.short_message(view.diagnostic)}”",
                    )
        return [
            quick_fix(
                f"CodeCortex: share {what} with the team", ("Share with the team", CMD_SHARE, [sid])
            )
            for sid, what in candidates.items()
            if sid not in self.shared
        ]

    def commands(self) -> list[Command]:
        return [Command(CMD_SHARE, self.share, {"shared": False})]

    async def share(self, *args: Any) -> dict[str, Any]:
        if not args or not isinstance(args[0], str):
            return {"shared": False}
        solution_id = args[0]
        kind = await self.service.learning.share(solution_id)
        if kind is None:
            self.ls.show_once(
                "share-denied", f"CodeCortex: only your own fixes can be shared ({solution_id})."
            )
            return {"shared": False}
        self.shared.add(solution_id)
        self.ls.log(f"shared {kind} {solution_id} with the team")
        self.schedule_achievements()
        return {"shared": True, "kind": kind}

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        """Publishes nothing: it runs whenever a document's problems were processed, which is
        when metrics may have moved."""
        self.schedule_achievements()
        return []

    def schedule_achievements(self) -> None:
        """Debounced: one refresh ANNOUNCE_DELAY seconds after the last burst of changes."""
        if self._announce is not None:
            self._announce.cancel()

        def fire() -> None:
            self._announce = None
            self.service.spawn(self._announce_logged(), "achievements")

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._announce = loop.call_later(ANNOUNCE_DELAY, fire)

    async def announce_achievements(self) -> list[str]:
        """Refresh the metrics, award what is earned, and show each new achievement once."""
        messages = await self.service.learning.new_achievements()
        for message in messages:
            self.ls.show_once(f"achievement:{message}", message, "info")
        return messages

    async def _announce_logged(self) -> None:
        try:
            await self.announce_achievements()
        except Exception as exc:  # never disturb the editor for this
            log.warning("achievements check failed: %s", exc)
