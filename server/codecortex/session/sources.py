"""The session's part in learning from past work: a workspace folder's git history and the
merged pull requests of the developer's GitHub repositories (jobs run on the session's runner),
and the repositories registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from codecortex.github.sync import enqueue_github_sync
from codecortex.history.job import enqueue_learn_history
from codecortex.history.options import HistoryOptions
from codecortex.jobs import ProgressCallback
from codecortex.store import github as github_store
from codecortex.store.jobs import Job

if TYPE_CHECKING:
    from codecortex.session.service import Service


class NotSignedIn(Exception):
    pass


class Sources:
    def __init__(self, service: Service) -> None:
        self.service = service

    async def queue_history(self, folder: Path, root: Path, options: HistoryOptions) -> str:
        """Queue learning from the git history of a workspace folder's repository."""
        service = self.service
        async with service.db.connection() as conn:
            return await enqueue_learn_history(conn, service.identity(folder), root, options)

    async def queue_github(self, options: HistoryOptions, names: list[str] | None) -> str:
        """Queue a GitHub sync of the signed-in developer's selected (or `names`) repositories;
        `NotSignedIn` without a GitHub account."""
        service = self.service
        async with service.db.connection() as conn:
            if await github_store.get_account(conn, service.user_id) is None:
                raise NotSignedIn
            return await enqueue_github_sync(conn, service.identity(None), options, names)

    async def run(self, job_id: str, on_progress: ProgressCallback) -> Job | None:
        """Run a queued history or GitHub job now (None: it disappeared); a job another
        worker holds is returned running."""
        return await self.service.runner.run(job_id, on_progress=on_progress)

    async def repositories(self) -> list[dict[str, Any]]:
        """The repositories registry: this workspace's local repositories, then the signed-in
        account's GitHub repositories."""
        service = self.service
        async with service.db.connection() as conn:
            found = await github_store.registry(conn, service.user_id)
        open_ids = {str(i) for i in service.repos.values()}
        return [r for r in found if r["kind"] != "local" or str(r["id"]) in open_ids]
