"""Benchmark `codecortex github sync` on a real repository's history, against `learn-history`
on the same changes, and print JSON.

    python bench/github_sync.py REPO_PATH_OR_GIT_DIR [--prs 60] [--tools ruff] [--head REV]

The last `--prs` commits of the repository's first-parent history become merged pull requests
of a fake GitHub on 127.0.0.1 (tests/helpers/fakegithub.py; contents read from the repository's git
objects, nothing fetched): pull request i has the tree of commit i-1 as its base and the tree
of commit i as its head, as a squash merge. The same pairs of trees are mined by `learn-history`
from a linear clone (commit i re-committed on i-1 with its own tree). Both run as the real CLI
into separate databases. Reported: pull requests read, requests sent (first sync, and a second
sync of the unchanged repository, with its 304s), seconds, solutions learned by each and how
many are the same fix (signature, before and after text).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
sys.path.insert(0, str(ROOT / "bench"))

from common import _with_dbname, database, log  # noqa: E402
from fakegithub import CLIENT_ID, FakeGitHub, FakeRepo, Pull, blob_sha  # noqa: E402

CODECORTEX = str(Path(sys.executable).parent / "codecortex")


def git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], input=input, check=True, capture_output=True
    ).stdout


class GitTree:
    """The text files of one commit, read lazily from git objects (what the fake serves)."""

    def __init__(self, repo: Path, sha: str) -> None:
        self.repo, self.sha = repo, sha
        self._blobs: dict[str, str] | None = None
        self._texts: dict[str, str] = {}

    def blobs(self) -> dict[str, str]:
        if self._blobs is None:
            out = git(self.repo, "ls-tree", "-r", "-z", self.sha)
            self._blobs = {}
            for entry in out.split(b"\x00"):
                if not entry:
                    continue
                meta, _, path = entry.partition(b"\t")
                mode, kind, sha = meta.decode().split()
                if kind == "blob" and mode.startswith("100"):
                    self._blobs[path.decode("utf-8", "surrogateescape")] = sha
        return self._blobs

    def __contains__(self, path: object) -> bool:
        return path in self.blobs()

    def __getitem__(self, path: str) -> str:
        if path not in self._texts:
            data = git(self.repo, "cat-file", "blob", self.blobs()[path])
            self._texts[path] = data.decode("utf-8", "replace")
        return self._texts[path]

    def items(self) -> list[tuple[str, str]]:
        return [(p, "") for p in self.blobs()]  # the tree listing needs names only


class LazyCommits(dict):  # type: ignore[type-arg]
    def __init__(self, repo: Path) -> None:
        super().__init__()
        self.repo = repo

    def get(self, sha: Any, default: Any = None) -> Any:
        if not isinstance(sha, str):
            return default
        if not dict.__contains__(self, sha):
            try:
                git(self.repo, "cat-file", "-e", f"{sha}^{{commit}}")
            except subprocess.CalledProcessError:
                return default
            self[sha] = GitTree(self.repo, sha)
        return dict.__getitem__(self, sha)

    def __contains__(self, sha: object) -> bool:
        return self.get(sha) is not None


def changed_files(repo: Path, base: str, head: str) -> list[dict[str, Any]]:
    out = git(repo, "diff-tree", "-r", "-z", "-M", "--no-commit-id", base, head).split(b"\x00")
    files, i = [], 0
    while i < len(out) - 1:
        meta = out[i].decode()
        if not meta.startswith(":"):
            i += 1
            continue
        status = meta.split()[4]
        if status[0] in "RC":
            old, new = out[i + 1].decode(), out[i + 2].decode()
            i += 3
        else:
            old = new = out[i + 1].decode()
            i += 2
        kind = {"M": "modified", "A": "added", "D": "removed", "R": "renamed"}.get(status[0])
        if kind is None:
            continue
        entry = {"filename": new, "status": kind, "changes": 0 if status == "R100" else 1,
                 "sha": blob_sha("")}  # fmt: skip
        if kind == "renamed":
            entry["previous_filename"] = old
        files.append(entry)
    return files


def stamp(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([CODECORTEX, *args], env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done


def fixes(url: str) -> dict[tuple[str, str, str], str]:
    """(signature, before, after) -> "commit file" of each learned fix."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT problem_signature, before_text, after_text, commit_sha, file_path"
            " FROM past_solutions"
        ).fetchall()
    return {
        (r["problem_signature"], r["before_text"], r["after_text"]): (
            f"{(r['commit_sha'] or '')[:10]} {Path(r['file_path'] or '').name}"
        )
        for r in rows
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", type=Path)
    ap.add_argument("--prs", type=int, default=60)
    ap.add_argument("--tools", default="ruff")
    ap.add_argument("--head", default="HEAD", help="the newest commit (default: HEAD)")
    args = ap.parse_args()
    src = args.repo.resolve()
    git_dir = src / ".git" if (src / ".git").exists() else src
    chain = git(git_dir, "rev-list", "--first-parent", f"--max-count={args.prs + 1}", args.head)
    shas = chain.decode().split()[::-1]  # oldest first: shas[0] is the first base
    if len(shas) < 2:
        raise SystemExit("not enough history")
    times = {
        s: int(t)
        for s, t in (
            line.split() for line in git(git_dir, "log", "--no-walk=unsorted", "--format=%H %ct", *shas)
            .decode().splitlines()
        )
    }  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="ccbench-gh-") as tmp_name, database("ccgh") as db:
        tmp = Path(tmp_name)
        # the fake GitHub with one repository whose pull requests are the chain's commits
        fake = FakeGitHub().start()
        repo = FakeRepo(
            100,
            f"bench/{(src.parent.name if src.name == 'repo' else src.name).removesuffix('.git')}",
            commits=LazyCommits(git_dir),
        )
        repo.head = shas[-1]  # type: ignore[attr-defined]
        for n, (base, head) in enumerate(itertools.pairwise(shas), start=1):
            t = times[head]
            repo.pulls.append(Pull(n, f"commit {head[:8]}", "dev", base, head,
                                   changed_files(git_dir, base, head), stamp(t - 3600), stamp(t),
                                   stamp(t)))  # fmt: skip
        fake.repos[repo.id] = repo

        # a linear clone with the same pairs of trees for learn-history
        linear = tmp / "linear"
        subprocess.run(
            ["git", "clone", "-q", "--no-checkout", str(git_dir), str(linear)], check=True
        )
        env_git = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                   "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}  # fmt: skip
        prev = None
        for sha in shas:
            tree = f"{sha}^{{tree}}"
            parent = ["-p", prev] if prev else []
            prev = subprocess.run(
                ["git", "commit-tree", tree, *parent, "-m", sha], cwd=linear, env=env_git,
                check=True, capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
        subprocess.run(
            ["git", "update-ref", "refs/heads/linear", str(prev)], cwd=linear, check=True
        )
        subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/linear"], cwd=linear, check=True)

        urls = {}
        for kind in ("github", "history"):
            name = f"ccgh_{kind}_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(db.url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            urls[kind] = _with_dbname(db.url, name)
        base_env = {**db.server_env, "CODECORTEX_USER": "bench@example.com",
                    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                    "CODECORTEX_DATA_DIR": str(tmp / "data")}  # fmt: skip
        gh_env = {**base_env, "CODECORTEX_DATABASE_URL": urls["github"],
                  "CODECORTEX_GITHUB_URL": fake.base, "CODECORTEX_GITHUB_CLIENT_ID": CLIENT_ID}  # fmt: skip
        for step in (["login"], ["repos"], ["select", repo.full_name]):
            cli(gh_env, "github", *step)
        log(f"github sync of {len(repo.pulls)} pull requests ...")
        fake.requests.clear()
        started = time.perf_counter()
        first = json.loads(cli(gh_env, "github", "sync", "--tools", args.tools, "--json").stdout)
        gh_seconds = time.perf_counter() - started
        first_requests = len(fake.api_requests())
        fake.requests.clear()
        second = json.loads(cli(gh_env, "github", "sync", "--tools", args.tools, "--json").stdout)
        second_requests = fake.api_requests()
        fake.stop()

        log("learn-history on the linear clone ...")
        started = time.perf_counter()
        hist = cli({**base_env, "CODECORTEX_DATABASE_URL": urls["history"]}, "learn-history",
                   "--tools", args.tools, "--json", cwd=linear)  # fmt: skip
        hist_seconds = time.perf_counter() - started
        hist_report = json.loads(hist.stdout)
        from_github, from_history = fixes(urls["github"]), fixes(urls["history"])

    (report,) = first["repositories"]
    result = {
        "repository": str(src),
        "pull_requests": len(repo.pulls),
        "tools": args.tools.split(","),
        "github_sync": {
            "seconds": round(gh_seconds, 1),
            "requests": first_requests,
            "pull_requests_done": report.get("commits_done"),
            "skipped": report.get("commits_skipped"),
            "solutions_learned": report.get("solutions_learned"),
            "errors": first.get("errors"),
        },
        "second_sync": {
            "requests": len(second_requests),
            "not_modified": sum(1 for r in second_requests if r.status == 304),
            "up_to_date": all(r.get("up_to_date") for r in second["repositories"]),
        },
        "learn_history": {
            "seconds": round(hist_seconds, 1),
            "commits_done": hist_report.get("commits_done"),
            "solutions_learned": hist_report.get("solutions_learned"),
        },
        "same_fixes": len(from_github.keys() & from_history.keys()),
        "only_github": sorted(
            f"{k[0]} in {v}" for k, v in from_github.items() if k not in from_history
        ),
        "only_history": sorted(
            f"{k[0]} in {v}" for k, v in from_history.items() if k not in from_github
        ),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
