"""Learning from past work in the editor.

`codecortex.learnHistory` [{folder?, since?, maxCommits?, branch?, tools?}] -> {queued, jobId}:
learn fixes from a workspace folder's git history on the job queue, with work-done progress the
user can cancel (the commits done so far stay learned; the next run continues after them).

`codecortex.repositories` [] -> {repositories: [...]}: the server's repositories registry, the
workspace's local repositories next to the signed-in account's GitHub repositories (selected or
not, with their metadata and sync state).

`codecortex.githubSync` [{names?, since?, maxPrs?, tools?}] -> {queued, jobId}: learn fixes from
merged pull requests of the selected repositories on the job queue, with work-done progress the
user can cancel (including waits for GitHub's rate limits)."""

from __future__ import annotations

import logging
from typing import Any

from codecortex.files.roots import uri_to_path
from codecortex.github.sync import parse_since
from codecortex.history.options import HistoryOptions
from codecortex.jobs import Job
from codecortex.lsp.feature import Command, Feature
from codecortex.lsp.progress import follow_job
from codecortex.session.sources import NotSignedIn

log = logging.getLogger(__name__)

CMD_LEARN_HISTORY = "codecortex.learnHistory"
CMD_REPOSITORIES = "codecortex.repositories"
CMD_GITHUB_SYNC = "codecortex.githubSync"


class HistoryFeature(Feature):
    name = "history"

    def commands(self) -> list[Command]:
        return [
            Command(CMD_LEARN_HISTORY, self.learn_history, guarded=False),
            Command(CMD_REPOSITORIES, self.repositories, guarded=False),
            Command(CMD_GITHUB_SYNC, self.github_sync, guarded=False),
        ]

    def _tools(self, arg: dict[str, Any]) -> list[str] | None:
        tools = arg.get("tools")
        return [str(t) for t in tools] if isinstance(tools, list) and tools else None

    # --- git history ---------------------------------------------------------------------------

    async def learn_history(self, *args: Any) -> dict[str, Any]:
        arg = args[0] if args and isinstance(args[0], dict) else {}
        service = self.service
        folder = uri_to_path(str(arg["folder"])) if arg.get("folder") else None
        if folder is None and service.folders:
            folder = service.folders[0]
        if folder is None:
            return {"queued": False, "error": "no workspace folder"}
        folder = folder.resolve()
        info = service.repo_infos.get(folder)
        if info is None or service.repo_for(folder) is None:
            return {"queued": False, "error": f"{folder} is not a workspace folder"}
        if not service.connected:
            return {"queued": False, "error": "database unavailable"}
        try:
            max_commits = arg.get("maxCommits")
            options = HistoryOptions.from_settings(
                self.ls.settings,
                branch=str(arg["branch"]) if arg.get("branch") else None,
                since=str(arg["since"]) if arg.get("since") else None,
                max_commits=int(max_commits) if max_commits is not None else None,
                tools=self._tools(arg),
            )
        except (TypeError, ValueError) as exc:
            return {"queued": False, "error": f"invalid arguments: {exc}"}
        job_id = await service.sources.queue_history(folder, info.root, options)
        service.spawn(self._follow(job_id, "history"), "learn history")
        return {"queued": True, "jobId": job_id}

    def _history_outcome(self, job: Job) -> str:
        if job.status == "completed":
            result = job.result or {}
            if result.get("up_to_date"):
                return "up to date"
            return (
                f"{result.get('solutions_learned', 0)} fixes learned from "
                f"{result.get('commits_done', 0)} commits"
            )
        if job.status == "running":
            return f"already running in {job.locked_by}"
        if job.status == "cancelled":
            return "cancelled; the next run continues where this one stopped"
        self.ls.log(f"learning from git history failed: {job.last_error}", "error")
        return f"failed: {job.last_error}"

    # --- GitHub --------------------------------------------------------------------------------

    async def repositories(self, *args: Any) -> dict[str, Any]:
        if not self.service.connected:
            return {"repositories": [], "error": "database unavailable"}
        found = await self.service.sources.repositories()
        return {"repositories": [_row(r) for r in found]}

    async def github_sync(self, *args: Any) -> dict[str, Any]:
        arg = args[0] if args and isinstance(args[0], dict) else {}
        service = self.service
        if not service.connected:
            return {"queued": False, "error": "database unavailable"}
        try:
            parse_since(str(arg["since"]) if arg.get("since") else None)
            max_prs = arg.get("maxPrs")
            options = HistoryOptions.from_settings(
                self.ls.settings,
                since=str(arg["since"]) if arg.get("since") else None,
                max_commits=int(max_prs) if max_prs is not None else None,
                tools=self._tools(arg),
            )
        except (TypeError, ValueError) as exc:
            return {"queued": False, "error": f"invalid arguments: {exc}"}
        names = arg.get("names")
        try:
            job_id = await service.sources.queue_github(
                options, [str(n) for n in names] if isinstance(names, list) and names else None
            )
        except NotSignedIn:
            return {
                "queued": False,
                "error": "not signed in to GitHub: run `codecortex github login`",
            }
        service.spawn(self._follow(job_id, "github"), "github sync")
        return {"queued": True, "jobId": job_id}

    def _github_outcome(self, job: Job) -> str:
        if job.status == "completed":
            result = job.result or {}
            repos = result.get("repositories") or []
            learned = sum(int(r.get("solutions_learned") or 0) for r in repos)
            prs = sum(int(r.get("commits_done") or 0) for r in repos)
            message = f"{learned} fixes learned from {prs} pull requests"
            errors = result.get("errors") or []
            if errors:
                message += f"; {len(errors)} failed: {errors[0]}"
                self.ls.log("GitHub sync: " + "; ".join(errors), "warning")
            return message
        if job.status == "running":
            return f"already running in {job.locked_by}"
        if job.status == "cancelled":
            return "cancelled; the next sync continues where this one stopped"
        error = str(job.last_error or "").split(": ", 1)[-1]
        self.ls.log(f"GitHub sync failed: {error}", "error")
        return f"failed: {error}"

    # --- the job, followed in the editor ---------------------------------------------------------

    async def _follow(self, job_id: str, source: str) -> None:
        ls, service = self.ls, self.service
        history = source == "history"
        describe = self._history_outcome if history else self._github_outcome
        label = "learn history" if history else "github sync"

        def outcome(job: Job | None) -> str:
            message = "the job disappeared" if job is None else describe(job)
            ls.log(f"{label}: {message}")
            return message

        def failed(error: str) -> None:
            what = "learning from git history" if history else "GitHub sync"
            ls.log(f"{what} failed: {error}", "error")

        await follow_job(
            ls,
            job_id,
            title="CodeCortex: learning from "
            + ("git history" if history else "GitHub pull requests"),
            token=f"codecortex-{source}-{job_id}",
            run=lambda report: service.sources.run(job_id, report),
            outcome=outcome,
            failed=failed,
        )
        try:
            await service.refresh_status()
        except Exception as exc:  # the status is refreshed on the next change anyway
            log.debug("status refresh failed: %s", exc)


def _row(r: dict[str, Any]) -> dict[str, Any]:
    meta = r.get("metadata") or {}
    return {
        "kind": r["kind"],
        "fullName": r["full_name"],
        "rootPath": r.get("root_path"),
        "selected": bool(r.get("selected")),
        "defaultBranch": r.get("default_branch"),
        "lastSyncedSha": r.get("last_synced_sha"),
        "lastFetchedAt": r["last_fetched_at"].isoformat() if r.get("last_fetched_at") else None,
        "language": meta.get("language"),
        "stars": meta.get("stars"),
        "description": meta.get("description"),
        "topics": meta.get("topics") or [],
    }
