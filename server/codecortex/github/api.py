"""The GitHub REST client: authentication, conditional requests, pagination, rate limits.

- Every request carries the account's token (from a provider, so an expiring token is refreshed
  first); a 401 asks the provider for a fresh token once, then raises `AuthError`.
- Conditional requests: pass the stored ETag; a 304 is returned as is (it costs no rate limit).
- Rate limits: when `X-RateLimit-Remaining` reaches 0 the client waits until
  `X-RateLimit-Reset`; a 403/429 with `Retry-After`, or a secondary rate limit without it, waits
  and retries. Every wait is announced through `on_wait` (progress in the CLI and the editor).
  A wait longer than `max_wait` raises instead (the next sync continues).
- Redirects (a renamed repository answers 301) are followed; the token goes along only to the
  API's own host.
- Errors are one line naming what was asked for; a token never appears in them.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from codecortex.github import http
from codecortex.github.http import HttpError, Response

API_VERSION = "2022-11-28"
TokenProvider = Callable[[bool], Awaitable[str]]  # force_refresh -> token
WaitFn = Callable[[str], Awaitable[None]]
REJECTED = "GitHub rejected the token (revoked or expired): run `codecortex github login`"
_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(GitHubError):
    """The token was rejected (revoked, expired, or the app's authorization withdrawn)."""


def api_message(resp: Response) -> str:
    try:
        data = resp.json()
    except HttpError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return str(message)[:200] if message else ""


def raise_for(resp: Response, what: str) -> None:
    """A one-line error for an unsuccessful answer about `what` (e.g. "owner/repo")."""
    if resp.status < 300 or resp.status == 304:
        return
    message = api_message(resp)
    detail = f": {message}" if message else ""
    if resp.status == 401:
        raise AuthError(REJECTED, 401)
    if resp.status == 403:
        raise GitHubError(f"{what}: access forbidden (HTTP 403{detail})", 403)
    if resp.status == 404:
        raise GitHubError(f"{what}: not found (deleted, renamed away, or no access)", 404)
    if resp.status == 410:
        raise GitHubError(f"{what}: gone (HTTP 410{detail})", 410)
    raise GitHubError(f"{what}: HTTP {resp.status}{detail}", resp.status)


def json_of(resp: Response, what: str, kind: type = object) -> Any:
    try:
        data = resp.json()
    except HttpError as exc:
        raise GitHubError(f"{what}: {exc}") from None
    if kind is not object and not isinstance(data, kind):
        raise GitHubError(f"{what}: unexpected answer from GitHub ({type(data).__name__})")
    return data


class GitHubClient:
    def __init__(
        self,
        api_url: str,
        token: TokenProvider,
        *,
        on_wait: WaitFn | None = None,
        max_wait: float = 3600.0,
        secondary_wait: float = 60.0,
        timeout: float = 30.0,
        max_retries: int = 5,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.on_wait = on_wait
        self.max_wait = max_wait
        self.secondary_wait = secondary_wait
        self.timeout = timeout
        self.max_retries = max_retries
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.requests = 0
        self.not_modified = 0
        self._host = urlsplit(self.api_url).netloc

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        if path.startswith(("http://", "https://")):
            return path
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.api_url}/{path.lstrip('/')}{query}"

    async def _wait(self, seconds: float, why: str) -> None:
        if seconds > self.max_wait:
            until = datetime.fromtimestamp(time.time() + seconds, UTC).strftime("%H:%M UTC")
            raise GitHubError(f"{why} until {until}: the next sync continues from here")
        if self.on_wait is not None:
            shown = (
                f"{seconds:.0f}" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}"
            )
            await self.on_wait(f"{why}: waiting {shown} s")
        await asyncio.sleep(max(seconds, 0))

    def _note_limits(self, resp: Response) -> None:
        remaining, reset = resp.header("x-ratelimit-remaining"), resp.header("x-ratelimit-reset")
        if remaining is not None and remaining.strip().isdigit():
            self.remaining = int(remaining)
        if reset is not None and reset.strip().isdigit():
            self.reset_at = float(reset)

    def _retry_after(self, resp: Response) -> float | None:
        value = resp.header("retry-after")
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())

    async def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        etag: str | None = None,
        accept: str = "application/vnd.github+json",
    ) -> Response:
        url = self.url(path, params)
        force = False
        secondary = 0
        for _attempt in range(self.max_retries + 1):
            if self.remaining == 0 and self.reset_at is not None:
                left = self.reset_at - time.time() + 1
                self.remaining = None
                if left > 0:
                    await self._wait(left, "GitHub rate limit reached")
            try:
                token = await self.token(force)
            except AuthError:
                if not force:
                    raise
                raise AuthError(REJECTED, 401) from None  # rejected, and no refresh helps
            resp = await self._follow(method, url, token, etag, accept)
            self.requests += 1
            self._note_limits(resp)
            if resp.status == 304:
                self.not_modified += 1
            if resp.status == 401 and not force:
                force = True  # the token may have expired just now: refresh once
                continue
            if resp.status in (403, 429):
                after = self._retry_after(resp)
                if after is not None:
                    await self._wait(after, "GitHub asked to retry later")
                    continue
                if resp.header("x-ratelimit-remaining") == "0" and self.reset_at is not None:
                    await self._wait(self.reset_at - time.time() + 1, "GitHub rate limit reached")
                    continue
                if re.search(r"secondary rate limit|abuse", api_message(resp), re.IGNORECASE):
                    await self._wait(
                        self.secondary_wait * (2**secondary), "GitHub secondary rate limit"
                    )
                    secondary += 1
                    continue
            if resp.status in (502, 503, 504) and _attempt < 2:
                await asyncio.sleep(1.0 * (_attempt + 1))
                continue
            return resp
        return resp

    async def _follow(
        self, method: str, url: str, token: str, etag: str | None, accept: str
    ) -> Response:
        for _ in range(5):
            headers = {"Accept": accept, "X-GitHub-Api-Version": API_VERSION}
            if urlsplit(url).netloc == self._host:
                headers["Authorization"] = f"Bearer {token}"
            if etag:
                headers["If-None-Match"] = etag
            resp = await http.request(method, url, headers, timeout=self.timeout)
            location = resp.header("location")
            if resp.status in (301, 302, 307, 308) and location:
                url = urljoin(url, location)
                continue
            return resp
        return resp

    async def get(
        self, path: str, what: str, params: dict[str, Any] | None = None, *, etag: str | None = None
    ) -> Response:
        """A GET that succeeded (2xx) or was not modified (304); anything else raises."""
        try:
            resp = await self.request("GET", path, params, etag=etag)
        except HttpError as exc:
            raise GitHubError(f"{what}: {exc}") from None
        raise_for(resp, what)
        return resp

    async def get_json(self, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
        return json_of(await self.get(path, what, params), what)

    async def pages(
        self, path: str, what: str, params: dict[str, Any] | None = None, *, etag: str | None = None
    ) -> AsyncIterator[Response]:
        """Each page of a list (following `Link: rel="next"`); the first page conditional on
        `etag` (a 304 is yielded and ends the listing)."""
        url: str | None = self.url(path, {**(params or {}), "per_page": 100})
        first = True
        while url is not None:
            resp = await self.get(url, what, etag=etag if first else None)
            yield resp
            if resp.status == 304:
                return
            first = False
            match = _LINK_NEXT.search(resp.header("link") or "")
            url = urljoin(url, match.group(1)) if match else None
