"""`codecortex github sync`: learn fixes from the merged pull requests of the selected
repositories, through the REST API (no clone).

The history miner does the learning (`codecortex.history.miner.HistoryMiner`, the code path of
`learn-history`, with its noise filters, detectors, rules and deduplication): here a merged pull
request is a "commit" whose parent is the merge base and whose child is the pull request's head,
read by `PullRequestHistory`, which gives the miner the `Git` interface over these endpoints:

- `GET /repos/{repo}` (conditional): metadata, and a rename (GitHub answers 301 to the old name);
- `GET /repos/{repo}/pulls?state=closed&sort=updated&direction=desc` (first page conditional):
  merged pull requests after the last one learned (`github_repos.last_synced_sha` is its head);
- `GET /repos/{repo}/pulls/{n}/files`: changed files (modified or renamed);
- `GET /repos/{repo}/compare/{base}...{head}`: the merge base (the "before" side);
- `GET /repos/{repo}/contents/{path}?ref=`: the before and after contents;
- `GET /repos/{repo}/git/trees/{head}?recursive=1`: which tool configuration files exist.

Each pull request's fixes are stored with the new `last_synced_sha` in one transaction, so an
interrupted sync continues after the last pull request it finished; the pulls list's ETag is
stored only when a repository's sync completed, so an unchanged repository costs two 304s.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from codecortex.config import Settings
from codecortex.github.account import AccountError, make_client, require_account
from codecortex.github.api import AuthError, GitHubClient, GitHubError, json_of
from codecortex.github.repos import repo_metadata
from codecortex.history.git import Change, Commit, Git, GitError
from codecortex.history.job import enqueue_taking_over
from codecortex.history.miner import HistoryMiner
from codecortex.history.options import HistoryOptions
from codecortex.jobs import Handler, JobContext, PermanentJobError
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.store import github as store

log = logging.getLogger(__name__)

JOB_TYPE = "github_sync"
LEASE_SECONDS = 300.0


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_since(value: str | None) -> datetime | None:
    """`--since` for pull requests: an ISO date or date-time (UTC unless it says otherwise)."""
    if not value:
        return None
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class PullRequestHistory(Git):
    """A repository's merged pull requests behind the miner's `Git` interface."""

    def __init__(
        self, client: GitHubClient, full_name: str, list_etag: str | None, since: datetime | None
    ) -> None:
        super().__init__(Path("/"))
        self.client = client
        self.full_name = full_name
        self.list_etag = list_etag
        self.since = since
        self.new_list_etag: str | None = None
        self.unchanged = False  # the pulls list answered 304
        self.pulls: dict[str, dict[str, Any]] = {}  # head sha -> pull request
        self._bases: dict[str, str] = {}  # head sha -> merge base sha
        self._trees: dict[str, dict[str, str]] = {}

    def _path(self, tail: str) -> str:
        return f"/repos/{self.full_name}/{tail}"

    async def run(self, *args: str, input: bytes | None = None, ok: Any = (0,)) -> bytes:
        raise GitError(f"{self.full_name}: not a local repository")

    async def resolve(self, rev: str) -> str | None:
        return rev  # "HEAD" stands for the default branch; a stored head sha is kept as is

    async def commits(self, head: str, exclude: str | None, since: str | None) -> list[Commit]:
        collected: list[dict[str, Any]] = []
        cursor_merged: datetime | None = None
        first = True
        async for resp in self.client.pages(
            self._path("pulls"),
            self.full_name,
            {"state": "closed", "sort": "updated", "direction": "desc"},
            etag=self.list_etag,  # stored only after a complete sync of the repository
        ):
            if resp.status == 304:
                self.unchanged = True
                return []
            if first:
                self.new_list_etag = resp.header("etag")
                first = False
            done = False
            for pr in json_of(resp, self.full_name, list):
                if not isinstance(pr, dict):
                    continue
                updated = _time(pr.get("updated_at"))
                floor = cursor_merged or self.since
                if floor is not None and updated is not None and updated < floor:
                    done = True  # sorted by update: everything further was merged earlier
                    break
                merged = _time(pr.get("merged_at"))
                head_sha = str((pr.get("head") or {}).get("sha") or "")
                if merged is None or not head_sha:
                    continue  # closed without merging
                if exclude and head_sha == exclude:
                    cursor_merged = merged
                    continue
                collected.append(pr)
            if done:
                break
        commits: list[tuple[datetime, int, Commit]] = []
        for pr in collected:
            merged = _time(pr.get("merged_at"))
            assert merged is not None
            if cursor_merged is not None and merged < cursor_merged:
                continue
            if self.since is not None and merged < self.since:
                continue
            head_sha = str(pr["head"]["sha"])
            self.pulls[head_sha] = pr
            user = (pr.get("user") or {}).get("login") or "unknown"
            number = int(pr.get("number") or 0)
            commits.append(
                (
                    merged,
                    number,
                    Commit(
                        head_sha,
                        [f"base-of:{head_sha}"],
                        str(user),
                        int(merged.timestamp()),
                        f"#{number} {pr.get('title') or ''}",
                    ),
                )
            )
        commits.sort(key=lambda c: (c[0], c[1]))
        return [c for _, _, c in commits]

    async def _merge_base(self, head_sha: str) -> str:
        if head_sha not in self._bases:
            pr = self.pulls[head_sha]
            base = str((pr.get("base") or {}).get("sha") or "")
            data = await self.client.get_json(
                self._path(f"compare/{base}...{head_sha}"), self.full_name
            )
            sha = (
                (data.get("merge_base_commit") or {}).get("sha") if isinstance(data, dict) else None
            )
            if not sha:
                raise GitHubError(f"{self.full_name}: no merge base for #{pr.get('number')}")
            self._bases[head_sha] = str(sha)
        return self._bases[head_sha]

    async def changes(self, parent: str, child: str) -> list[Change]:
        pr = self.pulls[child]
        changes: list[Change] = []
        async for resp in self.client.pages(
            self._path(f"pulls/{int(pr['number'])}/files"), self.full_name
        ):
            for f in json_of(resp, self.full_name, list):
                if not isinstance(f, dict) or not f.get("filename"):
                    continue
                status, name = str(f.get("status") or ""), str(f["filename"])
                old = str(f.get("previous_filename") or name)
                if status in ("modified", "changed") or (
                    status == "renamed" and int(f.get("changes") or 0) > 0
                ):
                    changes.append(
                        Change(
                            "R" if status == "renamed" else "M",
                            old,
                            name,
                            f"{parent}\x00{old}",
                            f"{child}\x00{name}",
                        )
                    )
        return changes

    async def changes_many(self, commits: Sequence[Commit]) -> dict[str, list[Change]]:
        return {c.sha: await self.changes(c.parents[0], c.sha) for c in commits}

    async def blobs_at(self, commit: str, paths: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        entries = await self.tree_entries(commit, list(paths))
        return {p: (sha, await self.blob(sha)) for p, sha in sorted(entries.items())}

    async def tree_entries(self, commit: str, paths: list[str]) -> dict[str, str]:
        if commit not in self._trees:
            data = await self.client.get_json(
                self._path(f"git/trees/{commit}"), self.full_name, {"recursive": 1}
            )
            tree = data.get("tree") if isinstance(data, dict) else None
            self._trees[commit] = {
                str(e["path"]): f"{commit}\x00{e['path']}"
                for e in (tree or [])
                if isinstance(e, dict) and e.get("type") == "blob" and e.get("path")
            }
        entries = self._trees[commit]
        return {p: entries[p] for p in paths if p in entries}

    async def attributes(self, paths: list[str]) -> dict[str, set[str]]:
        return {}  # .gitattributes are not read through the API (path and header filters apply)

    async def blob(self, sha: str) -> bytes:
        ref, _, path = sha.partition("\x00")
        if ref.startswith("base-of:"):
            ref = await self._merge_base(ref.removeprefix("base-of:"))
        data = await self.client.get_json(
            self._path(f"contents/{quote(path)}"), f"{self.full_name}: {path}", {"ref": ref}
        )
        if not isinstance(data, dict) or data.get("type") != "file":
            raise GitHubError(f"{self.full_name}: {path} at {ref[:12]} is not a file")
        if data.get("encoding") == "base64" and data.get("content") is not None:
            return base64.b64decode(str(data["content"]))
        # over 1 MB the contents API leaves the content out: read the blob instead
        blob = await self.client.get_json(
            self._path(f"git/blobs/{data.get('sha')}"), f"{self.full_name}: {path}"
        )
        return base64.b64decode(str((blob or {}).get("content") or ""))

    async def blame_time(self, commit: str, path: str, first: int, last: int) -> int | None:
        # No blame through the REST API: the problem is taken to be as old as the pull request.
        pr = self.pulls.get(commit.removeprefix("base-of:"))
        created = _time((pr or {}).get("created_at"))
        return int(created.timestamp()) if created else None

    async def close(self) -> None:
        return None


class PullRequestMiner(HistoryMiner):
    solution_source = "github"


def _pulls_key(repo: dict[str, Any]) -> str:
    return f"/repositories/{repo['github_id']}/pulls"


async def _refresh_repo(
    conn: Any,
    client: GitHubClient,
    account: dict[str, Any],
    repo: dict[str, Any],
    cache: dict[str, Any],
) -> str:
    """The repository's current name (metadata refreshed, a rename recorded)."""
    key = f"/repositories/{repo['github_id']}"
    cached = cache.get(key) or {}
    resp = await client.get(
        f"/repos/{repo['full_name']}", repo["full_name"], etag=cached.get("etag")
    )
    if resp.status == 304:
        return str(repo["full_name"])
    data = json_of(resp, repo["full_name"], dict)
    if data.get("id") != repo["github_id"]:
        raise GitHubError(
            f"{repo['full_name']}: now a different repository (the old one was deleted or renamed)"
        )
    full_name = str(data.get("full_name") or repo["full_name"])
    async with conn.transaction():
        await store.rename_repo(
            conn, repo["id"], full_name, data.get("default_branch"),
            repo_metadata(data, account.get("github_user_id")),
        )  # fmt: skip
        if resp.header("etag"):
            await store.set_etag(conn, account["id"], key, {"etag": resp.header("etag")})
    return full_name


async def sync_repos(
    settings: Settings,
    memory: Memory,
    connection: Any,
    user_id: Any,
    user_name: str,
    visibility: str,
    options: HistoryOptions,
    names: list[str] | None,
    progress: Any,
) -> dict[str, Any]:
    """Sync the selected repositories (or those of `names`); one result per repository."""
    async with connection() as conn:
        account = await require_account(conn, user_id)
        repos = await store.list_repos(conn, account["id"], selected_only=not names)
        cache = await store.etag_cache(conn, account["id"])
    if names:
        wanted = {n.lower() for n in names}
        repos = [r for r in repos if r["full_name"].lower() in wanted]
    state = {"fraction": 0.0}

    async def on_wait(message: str) -> None:
        await progress(state["fraction"], message)

    client = make_client(settings, connection, account, on_wait=on_wait)
    since = parse_since(options.since)
    results: list[dict[str, Any]] = []
    for n, repo in enumerate(repos):
        name = str(repo["full_name"])
        entry: dict[str, Any] = {"repository": name}

        async def report(fraction: float, message: str, n: int = n, name: str = name) -> None:
            state["fraction"] = (n + fraction) / max(len(repos), 1)
            # the miner counts "commits": here each one is a merged pull request
            await progress(state["fraction"], f"{name}: {message.replace(' commits', ' PRs')}")

        try:
            async with connection() as conn:
                current = await _refresh_repo(conn, client, account, repo, cache)
            if current != name:
                entry["renamed_to"] = current
                name = current
            history = PullRequestHistory(
                client, name, (cache.get(_pulls_key(repo)) or {}).get("etag"), since
            )
            ident = Identity(user_id, user_name, repo["id"], visibility)
            miner = PullRequestMiner(
                Path("/github") / name, memory, ident, connection,
                HistoryOptions.from_payload({**options.to_payload(), "since": None}),
                report, git=history,
            )  # fmt: skip
            result = (await miner.run()).to_json()
            result["pull_requests_unchanged"] = history.unchanged
            complete = result["commits_done"] >= result["commits_pending"]
            async with connection() as conn:
                async with conn.transaction():
                    if complete and history.new_list_etag:
                        await store.set_etag(
                            conn, account["id"], _pulls_key(repo), {"etag": history.new_list_etag}
                        )
                    await store.set_synced(conn, repo["id"], None)
            entry.update(result)
        except AuthError:
            raise
        except (GitHubError, GitError) as exc:
            message = str(exc)
            entry["error"] = message if message.startswith(name) else f"{name}: {message}"
            log.warning("github sync: %s", entry["error"])
        results.append(entry)
    await progress(1.0, "done")
    return {
        "repositories": results,
        "requests": client.requests,
        "not_modified": client.not_modified,
        "errors": [r["error"] for r in results if r.get("error")],
    }


# --------------------------------------------------------------------------- the job


async def enqueue_github_sync(
    conn: Any, ident: Identity, options: HistoryOptions, names: list[str] | None
) -> str:
    """Queue a sync for this user (one at a time); a job left by a dead process is taken over."""
    payload = {"options": options.to_payload(), "names": names, "visibility": ident.visibility,
               "user_name": ident.user_name}  # fmt: skip
    return await enqueue_taking_over(
        conn, JOB_TYPE, payload, f"{JOB_TYPE}:{ident.user_id}", ident.user_id, None
    )


def make_job_handler(settings: Settings, memory: Memory | None = None) -> Handler:
    async def github_sync(ctx: JobContext) -> dict[str, Any]:
        payload = ctx.payload
        options = HistoryOptions.from_payload(dict(payload.get("options") or {}))
        names = payload.get("names") or None
        try:
            return await sync_repos(
                settings,
                memory or Memory(settings),
                ctx.connection,
                ctx.job.user_id,
                str(payload.get("user_name") or ""),
                str(payload.get("visibility") or settings.default_visibility),
                options,
                [str(n) for n in names] if isinstance(names, list) else None,
                ctx.progress,
            )
        except (AuthError, AccountError) as exc:
            raise PermanentJobError(str(exc)) from exc

    return github_sync
