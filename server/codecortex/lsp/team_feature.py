"""Team features in the editor: a "share this fix with the team" code action (and the
`codecortex.share` command behind it), and achievements announced once with window/showMessage.

Plugged in through `FEATURE_MODULES` in lsp/features.py; engine calls only, no SQL.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from codecortex import presentation
from codecortex.diagnostics import Range
from codecortex.lsp.server import CodeCortexServer
from codecortex.reports import achievements, metrics
from codecortex.team import roles as team

log = logging.getLogger(__name__)

CMD_SHARE = "codecortex.share"
ANNOUNCE_DELAY = 1.0  # seconds after the last change before metrics are refreshed


def _shared(ls: CodeCortexServer) -> set[str]:
    shared = getattr(ls, "_cc_shared", None)
    if shared is None:
        shared = set()
        ls._cc_shared = shared  # type: ignore[attr-defined]
    return shared


def share_actions(
    ls: CodeCortexServer, uri: str, rng: Range, text: str, version: int | None
) -> list[types.CodeAction]:
    """Offer to share the developer's own private fixes that are in view at `rng`: ones just
    learned here, and ones offered for a problem here."""
    service = ls.service
    target = service.db.target
    if service.user_id is None or target is None or target.embedded:
        return []  # the embedded database is this machine's alone: nobody to share with
    shared = _shared(ls)
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
        types.CodeAction(
            title=f"CodeCortex: share {what} with the team",
            kind=types.CodeActionKind.QuickFix,
            command=types.Command(title="Share with the team", command=CMD_SHARE, arguments=[sid]),
        )
        for sid, what in candidates.items()
        if sid not in shared
    ]


async def share_solution(ls: CodeCortexServer, solution_id: str) -> dict[str, Any]:
    async with ls.service.db.connection() as conn:
        kind = await team.share(conn, ls.service.user_id, solution_id, "team")
    if kind is None:
        ls.show_once(
            "share-denied", f"CodeCortex: only your own fixes can be shared ({solution_id})."
        )
        return {"shared": False}
    _shared(ls).add(solution_id)
    for doc in ls.service.documents.values():  # cached offers now show it as shared
        for view in doc.views:
            for fix in view.fixes:
                if str(fix.solution.get("id")) == solution_id:
                    fix.solution["visibility"] = "team"
    ls.log(f"shared {kind} {solution_id} with the team")
    schedule_achievements(ls)
    return {"shared": True, "kind": kind}


async def announce_achievements(ls: CodeCortexServer) -> list[str]:
    """Refresh the metrics, award what is earned, and show each new achievement once."""
    service = ls.service
    if service.user_id is None or service.db.state != "connected":
        return []
    async with service.db.connection() as conn:
        refreshed = await metrics.refresh_metrics(conn, service.user_id)
        await achievements.check_achievements(conn, service.user_id, refreshed["figures"])
        messages = await achievements.take_announcements(conn, service.user_id)
    for message in messages:
        ls.show_once(f"achievement:{message}", message, "info")
    return messages


def schedule_achievements(ls: CodeCortexServer) -> None:
    """Debounced: one refresh ANNOUNCE_DELAY seconds after the last burst of changes."""
    handle = getattr(ls, "_cc_achievements_handle", None)
    if handle is not None:
        handle.cancel()

    def fire() -> None:
        ls._cc_achievements_handle = None  # type: ignore[attr-defined]
        ls.service.spawn(_announce_logged(ls), "achievements")

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    ls._cc_achievements_handle = loop.call_later(ANNOUNCE_DELAY, fire)  # type: ignore[attr-defined]


async def _announce_logged(ls: CodeCortexServer) -> None:
    try:
        await announce_achievements(ls)
    except Exception as exc:  # never disturb the editor for this
        log.warning("achievements check failed: %s", exc)


def _after_views_changed(ls: CodeCortexServer, uri: str) -> list[types.Diagnostic]:
    """A diagnostics provider that publishes nothing: it runs whenever a document's problems
    were processed, which is when metrics may have moved."""
    schedule_achievements(ls)
    return []


def setup(server: CodeCortexServer) -> None:
    from codecortex.lsp import features

    features.ACTION_PROVIDERS.append(share_actions)
    features.DIAGNOSTIC_PROVIDERS.append(_after_views_changed)

    @server.command(CMD_SHARE)
    @features.guarded(default={"shared": False})
    async def share(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        if not args or not isinstance(args[0], str):
            return {"shared": False}
        return await share_solution(ls, args[0])
