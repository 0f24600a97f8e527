"""A small fake GitHub (web + REST API in the GitHub Enterprise Server layout: the API under
``/api/v3``) for tests, on 127.0.0.1. Never reaches the internet.

- Device flow: ``POST /login/device/code``, ``POST /login/oauth/access_token`` (device grant,
  scripted outcomes per poll: ``pending``, ``slow_down``, ``denied``, ``expired``, ``ok``; and the
  refresh grant, which rotates both tokens).
- API: ``/user``, ``/user/repos``, ``/repos/{o}/{r}`` (and ``/repositories/{id}/...``; a renamed
  repository answers 301 to its old name), ``pulls``, ``pulls/{n}/files``, ``compare/{a}...{b}``,
  ``git/trees/{sha}``, ``contents/{path}?ref=``. Lists are paginated (``page_size``) with
  ``Link`` headers; ``/user/repos`` pages, repositories and the pulls list carry ETags and
  answer 304 to a matching ``If-None-Match``. Every answer has ``X-RateLimit-*`` headers.
- Faults: ``fail(pattern, action, times)`` answers requests whose path matches the regular
  expression with ``{"status": 404}`` (optionally ``body``/``headers``), ``{"kind": "truncate"}``
  (a body shorter than its Content-Length), ``{"kind": "text"}`` (200, not JSON) or
  ``{"kind": "drop"}`` (connection closed without an answer). ``rate_remaining`` counts down;
  at 0 requests get 403 with ``X-RateLimit-Remaining: 0`` until ``X-RateLimit-Reset``.

Every request is recorded in ``requests`` (method, path, If-None-Match, whether it was
authenticated, and the status answered).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "Iv1.codecortex-test"


def blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def tree_sha(files: dict[str, str]) -> str:
    return hashlib.sha1(json.dumps(sorted(files.items())).encode()).hexdigest()


@dataclass
class Pull:
    number: int
    title: str
    user: str
    base_sha: str
    head_sha: str
    files: list[dict[str, Any]]
    created_at: str
    merged_at: str | None
    updated_at: str


@dataclass
class FakeRepo:
    id: int
    full_name: str
    language: str | None = "Python"
    stars: int = 0
    description: str | None = None
    topics: list[str] = field(default_factory=list)
    default_branch: str = "main"
    commits: dict[str, dict[str, str]] = field(default_factory=dict)
    pulls: list[Pull] = field(default_factory=list)

    def json(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "full_name": self.full_name,
            "name": self.full_name.split("/")[1],
            "owner": {"login": self.full_name.split("/")[0]},
            "private": False,
            "language": self.language,
            "stargazers_count": self.stars,
            "description": self.description,
            "topics": self.topics,
            "default_branch": self.default_branch,
            "archived": False,
            "html_url": f"{base}/{self.full_name}",
        }


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    if_none_match: str | None
    authenticated: bool
    status: int = 0


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class FakeGitHub:
    def __init__(self, page_size: int = 100) -> None:
        self.page_size = page_size
        self.lock = threading.RLock()
        self.users = {"octo": {"login": "octo", "id": 501}}
        self.scopes = "repo, read:user"
        self.repos: dict[int, FakeRepo] = {}
        self.renamed: dict[str, int] = {}
        self.deleted: set[int] = set()
        self.tokens: dict[str, dict[str, Any]] = {}  # access token -> {user, expires_at}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.issued: list[str] = []  # every token handed out (access and refresh)
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.poll_script: list[str] = ["ok"]
        self.poll_times: list[float] = []
        self.interval = 1
        self.expires_in: int | None = 28800
        self.refreshes = 0
        self.faults: list[dict[str, Any]] = []
        self.rate_remaining = 5000
        self.rate_reset_in = 1.0
        self._rate_reset_at: float | None = None
        self.requests: list[Recorded] = []
        self.clock = 1_700_000_000
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- setup -------------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def api(self) -> str:
        return f"{self.base}/api/v3"

    def add_repo(self, full_name: str, files: dict[str, str], **kw: Any) -> FakeRepo:
        with self.lock:
            repo = FakeRepo(100 + len(self.repos), full_name, **kw)
            sha = tree_sha(files)
            repo.commits[sha] = dict(files)
            repo.head = sha  # type: ignore[attr-defined]
            self.repos[repo.id] = repo
            return repo

    def merge_pr(
        self,
        repo: FakeRepo,
        title: str,
        changes: dict[str, str | None],
        *,
        user: str = "alice",
        merged: bool = True,
        renames: dict[str, str] | None = None,
    ) -> Pull:
        """A pull request from the repository's head changing `changes` (None deletes),
        renaming `renames` (old -> new), merged (the head becomes the new base) or closed."""
        with self.lock:
            base = repo.head  # type: ignore[attr-defined]
            before = repo.commits[base]
            after = dict(before)
            files: list[dict[str, Any]] = []
            for old, new in (renames or {}).items():
                after[new] = after.pop(old)
            for path, text in changes.items():
                if text is None:
                    after.pop(path, None)
                else:
                    after[path] = text
            for path in sorted(set(before) | set(after)):
                prev = next((o for o, n in (renames or {}).items() if n == path), None)
                if prev is not None:
                    status = "renamed"
                    changed = before[prev] != after[path]
                elif path not in before:
                    status = "added"
                    changed = True
                elif path not in after:
                    if path in (renames or {}):
                        continue
                    status = "removed"
                    changed = True
                elif before[path] != after[path]:
                    status, changed = "modified", True
                else:
                    continue
                entry = {
                    "filename": path,
                    "status": status,
                    "changes": 2 if changed else 0,
                    "sha": blob_sha(after[path]) if path in after else "0" * 40,
                }
                if prev is not None:
                    entry["previous_filename"] = prev
                files.append(entry)
            head = tree_sha(after) + ""
            if head in repo.commits:  # keep shas distinct
                after["_nonce"] = secrets.token_hex(4)
                head = tree_sha(after)
            repo.commits[head] = after
            self.clock += 3600
            pr = Pull(
                number=len(repo.pulls) + 1,
                title=title,
                user=user,
                base_sha=base,
                head_sha=head,
                files=files,
                created_at=_stamp(self.clock - 1800),
                merged_at=_stamp(self.clock) if merged else None,
                updated_at=_stamp(self.clock),
            )
            repo.pulls.append(pr)
            if merged:
                repo.head = head  # type: ignore[attr-defined]
            return pr

    def rename(self, repo: FakeRepo, new_name: str) -> None:
        with self.lock:
            self.renamed[repo.full_name] = repo.id
            repo.full_name = new_name

    def revoke_all(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.refresh_tokens.clear()

    def fail(self, pattern: str, action: dict[str, Any], times: int | None = None) -> None:
        with self.lock:
            self.faults.append({"pattern": re.compile(pattern), "action": action, "times": times})

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def api_requests(self, pattern: str = "") -> list[Recorded]:
        return [
            r for r in self.requests if r.path.startswith("/api/v3") and re.search(pattern, r.path)
        ]

    # --- tokens ------------------------------------------------------------------------------

    def _issue(self, user: str) -> dict[str, Any]:
        access = "gho_" + secrets.token_hex(18)
        refresh = "ghr_" + secrets.token_hex(30)
        expires = time.time() + self.expires_in if self.expires_in else None
        self.tokens[access] = {"user": user, "expires_at": expires}
        self.refresh_tokens[refresh] = user
        self.issued += [access, refresh]
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "bearer",
            "scope": self.scopes.replace(" ", ""),
            "refresh_token": refresh,
            "refresh_token_expires_in": 15897600,
        }
        if self.expires_in:
            answer["expires_in"] = self.expires_in
        return answer

    # --- HTTP --------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

        return Handler

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        rec: Recorded,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        rec.status = status
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _rate_headers(self, count: bool) -> dict[str, str]:
        now = time.time()
        if self._rate_reset_at is not None and now >= self._rate_reset_at:
            self._rate_reset_at = None
            self.rate_remaining = 5000
        if count and self.rate_remaining > 0:
            self.rate_remaining -= 1
            if self.rate_remaining == 0:
                self._rate_reset_at = now + self.rate_reset_in
        reset = self._rate_reset_at or now + 3600
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(self.rate_remaining),
            "X-RateLimit-Reset": str(int(reset + 0.999)),
        }

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        auth = h.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").removeprefix("token ").strip()
        rec = Recorded(method, parts.path, query, h.headers.get("If-None-Match"), bool(token))
        length = int(h.headers.get("Content-Length") or 0)
        form = (
            {k: v[0] for k, v in parse_qs(h.rfile.read(length).decode()).items()} if length else {}
        )
        with self.lock:
            self.requests.append(rec)
            for fault in self.faults:
                if fault["pattern"].search(parts.path) and fault["times"] != 0:
                    if fault["times"] is not None:
                        fault["times"] -= 1
                    self._fault(h, rec, fault["action"])
                    return
            if parts.path.startswith("/login/"):
                self._login(h, rec, parts.path, form)
                return
            if not parts.path.startswith("/api/v3/"):
                self._send(h, rec, 404, {"message": "Not Found"})
                return
            user = (self.tokens.get(token) or {}).get("user")
            expires = (self.tokens.get(token) or {}).get("expires_at")
            if user is None or (expires is not None and expires < time.time()):
                self._send(h, rec, 401, {"message": "Bad credentials"})
                return
            if (
                self.rate_remaining == 0
                and self._rate_reset_at
                and time.time() < self._rate_reset_at
            ):
                self._send(
                    h, rec, 403, {"message": "API rate limit exceeded"}, self._rate_headers(False)
                )
                return
            self._api(h, rec, parts.path.removeprefix("/api/v3"), query, user)

    def _fault(self, h: BaseHTTPRequestHandler, rec: Recorded, action: dict[str, Any]) -> None:
        kind = action.get("kind", "status")
        if kind == "drop":
            rec.status = -1
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if kind == "truncate":
            rec.status = 200
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "5000")
            h.end_headers()
            h.wfile.write(b'[{"filename": "app/rep')
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if kind == "text":
            self._send(h, rec, 200, raw=b"<html>upstream error</html>")
            return
        self._send(
            h,
            rec,
            int(action.get("status", 500)),
            action.get("body", {"message": "fault"}),
            {**self._rate_headers(False), **(action.get("headers") or {})},
        )

    def _login(self, h: BaseHTTPRequestHandler, rec: Recorded, path: str, form: dict) -> None:
        if path == "/login/device/code":
            if form.get("client_id") != CLIENT_ID:
                self._send(h, rec, 401, {"error": "incorrect_client_credentials",
                                         "error_description": "The client_id is not valid."})  # fmt: skip
                return
            code = secrets.token_hex(20)
            self.device_codes[code] = {"script": list(self.poll_script), "scope": form.get("scope")}
            self._send(
                h,
                rec,
                200,
                {
                    "device_code": code,
                    "user_code": "WDJB-MJHT",
                    "verification_uri": f"{self.base}/login/device",
                    "expires_in": 900,
                    "interval": self.interval,
                },
            )
            return
        if path != "/login/oauth/access_token":
            self._send(h, rec, 404, {"message": "Not Found"})
            return
        if form.get("grant_type") == "refresh_token":
            user = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if user is None or form.get("client_id") != CLIENT_ID:
                self._send(h, rec, 200, {"error": "bad_refresh_token"})
                return
            self.refreshes += 1
            self._send(h, rec, 200, self._issue(user))
            return
        self.poll_times.append(time.monotonic())
        state = self.device_codes.get(form.get("device_code", ""))
        if state is None:
            self._send(h, rec, 200, {"error": "incorrect_device_code"})
            return
        step = state["script"].pop(0) if len(state["script"]) > 1 else state["script"][0]
        if step == "ok":
            self.device_codes.pop(form["device_code"], None)
            self._send(h, rec, 200, self._issue("octo"))
        elif step == "slow_down":
            self._send(h, rec, 200, {"error": "slow_down", "interval": self.interval + 1})
        elif step == "denied":
            self._send(h, rec, 200, {"error": "access_denied"})
        elif step == "expired":
            self._send(h, rec, 200, {"error": "expired_token"})
        else:
            self._send(h, rec, 200, {"error": "authorization_pending"})

    def _page(
        self, h: BaseHTTPRequestHandler, rec: Recorded, path: str, query: dict, items: list,
        etag: bool = False,
    ) -> None:  # fmt: skip
        size = min(int(query.get("per_page") or 30), self.page_size)
        page = int(query.get("page") or 1)
        chunk = items[(page - 1) * size : page * size]
        headers = self._rate_headers(False)
        if page * size < len(items):
            rest = "&".join(f"{k}={v}" for k, v in query.items() if k != "page")
            headers["Link"] = f'<{self.api}{path}?{rest}&page={page + 1}>; rel="next"'
        self._etagged(h, rec, chunk, headers, etag)

    def _etagged(
        self, h: BaseHTTPRequestHandler, rec: Recorded, body: Any, headers: dict, etag: bool
    ) -> None:
        if etag:
            tag = 'W/"' + hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest() + '"'
            headers["ETag"] = tag
            if rec.if_none_match == tag:
                self._send(h, rec, 304, None, headers)
                return
        headers.update(self._rate_headers(True))
        self._send(h, rec, 200, body, headers)

    def _api(
        self, h: BaseHTTPRequestHandler, rec: Recorded, path: str, query: dict, user: str
    ) -> None:
        if path == "/user":
            headers = {**self._rate_headers(True), "X-OAuth-Scopes": self.scopes}
            self._send(h, rec, 200, self.users[user], headers)
            return
        if path == "/user/repos":
            items = [r.json(self.base) for r in sorted(self.repos.values(), key=lambda r: r.full_name)
                     if r.id not in self.deleted]  # fmt: skip
            self._page(h, rec, path, query, items, etag=True)
            return
        m = re.match(r"^/repos/([^/]+/[^/]+)(/.*)?$", path) or re.match(
            r"^/repositories/(\d+)(/.*)?$", path
        )
        if not m:
            self._send(h, rec, 404, {"message": "Not Found"})
            return
        key, rest = m.group(1), m.group(2) or ""
        if key.isdigit():
            repo = self.repos.get(int(key))
        else:
            repo = next((r for r in self.repos.values() if r.full_name == key), None)
            if repo is None and key in self.renamed:
                target = f"{self.api}/repositories/{self.renamed[key]}{rest}"
                if urlsplit(h.path).query:
                    target += "?" + urlsplit(h.path).query
                self._send(h, rec, 301, {"message": "Moved Permanently", "url": target},
                           {"Location": target})  # fmt: skip
                return
        if repo is None or repo.id in self.deleted:
            self._send(h, rec, 404, {"message": "Not Found"})
            return
        self._repo(h, rec, repo, rest, query)

    def _repo(
        self, h: BaseHTTPRequestHandler, rec: Recorded, repo: FakeRepo, rest: str, query: dict
    ) -> None:
        if rest == "":
            self._etagged(h, rec, repo.json(self.base), {}, etag=True)
            return
        if rest == "/pulls":
            pulls = [p for p in repo.pulls if query.get("state") in ("closed", "all")]
            pulls.sort(key=lambda p: p.updated_at, reverse=query.get("direction") != "asc")
            items = [
                {
                    "number": p.number,
                    "title": p.title,
                    "state": "closed",
                    "user": {"login": p.user},
                    "created_at": p.created_at,
                    "updated_at": p.updated_at,
                    "merged_at": p.merged_at,
                    "base": {"ref": repo.default_branch, "sha": p.base_sha},
                    "head": {"ref": f"pr-{p.number}", "sha": p.head_sha},
                }
                for p in pulls
            ]
            self._page(h, rec, f"/repos/{repo.full_name}/pulls", query, items, etag=True)
            return
        m = re.match(r"^/pulls/(\d+)/files$", rest)
        if m:
            pr = next((p for p in repo.pulls if p.number == int(m.group(1))), None)
            if pr is None:
                self._send(h, rec, 404, {"message": "Not Found"})
                return
            self._page(h, rec, f"/repos/{repo.full_name}{rest}", query, pr.files)
            return
        m = re.match(r"^/compare/([0-9a-f]+)\.\.\.([0-9a-f]+)$", rest)
        if m:
            if m.group(1) not in repo.commits or m.group(2) not in repo.commits:
                self._send(h, rec, 404, {"message": "Not Found"})
                return
            body = {"merge_base_commit": {"sha": m.group(1)}, "status": "ahead"}
            self._send(h, rec, 200, body, self._rate_headers(True))
            return
        m = re.match(r"^/git/trees/([0-9a-f]+)$", rest)
        if m:
            files = repo.commits.get(m.group(1))
            if files is None:
                self._send(h, rec, 404, {"message": "Not Found"})
                return
            tree = [{"path": p, "type": "blob", "mode": "100644", "sha": blob_sha(t)}
                    for p, t in sorted(files.items())]  # fmt: skip
            body = {"sha": m.group(1), "tree": tree, "truncated": False}
            self._send(h, rec, 200, body, self._rate_headers(True))
            return
        m = re.match(r"^/contents/(.+)$", rest)
        if m:
            files = repo.commits.get(query.get("ref") or repo.head)  # type: ignore[attr-defined]
            path = m.group(1)
            if files is None or path not in files:
                self._send(h, rec, 404, {"message": "Not Found"})
                return
            text = files[path]
            body = {
                "type": "file",
                "path": path,
                "sha": blob_sha(text),
                "size": len(text.encode()),
                "encoding": "base64",
                "content": base64.encodebytes(text.encode()).decode(),
            }
            self._send(h, rec, 200, body, self._rate_headers(True))
            return
        self._send(h, rec, 404, {"message": "Not Found"})
