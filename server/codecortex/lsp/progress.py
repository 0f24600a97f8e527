"""Server-initiated LSP work-done progress: one place for create/begin/report/end and the
client's cancel button. A no-op for clients that do not support progress."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from codecortex.lsp.server import CodeCortexServer


class WorkDone:
    def __init__(self, ls: CodeCortexServer, title: str, *, cancellable: bool = True) -> None:
        self.ls = ls
        self.title = title
        self.cancellable = cancellable
        self.token = ""

    async def begin(self, token: str | None = None) -> WorkDone:
        window = self.ls.client_capabilities.window if self.ls.client_capabilities else None
        if window is None or not window.work_done_progress:
            return self
        token = token or str(uuid.uuid4())
        try:
            await self.ls.work_done_progress.create_async(token)
        except Exception:  # the client refused or went away: carry on without progress
            return self
        self.token = token
        self.ls.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title=self.title, cancellable=self.cancellable, percentage=0
            ),
        )
        return self

    @property
    def cancelled(self) -> bool:
        """True once the user pressed cancel on this progress."""
        future = self.ls.work_done_progress.tokens.get(self.token) if self.token else None
        return future is not None and future.cancelled()

    def report(self, message: str | None = None, fraction: float | None = None) -> None:
        if self.token:
            self.ls.work_done_progress.report(
                self.token,
                types.WorkDoneProgressReport(
                    message=message,
                    percentage=None if fraction is None else int(fraction * 100),
                ),
            )

    def end(self, message: str | None = None) -> None:
        if self.token:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.ls.work_done_progress.tokens.pop(self.token, None)
            self.token = ""
