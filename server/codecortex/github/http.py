"""One HTTP request with the standard library, on a worker thread (never on the event loop).

Redirects are returned, not followed, so the caller decides whether credentials go along.
A response that ends early (truncated) or a network failure raises `HttpError`; its message
never contains request headers (where a token would be).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "codecortex"


class HttpError(Exception):
    """The request got no complete answer (network down, refused, timeout, truncated)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: Any, fp: Any, code: Any, msg: Any, headers: Any, newurl: Any
    ) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Response:
    status: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise HttpError(
                f"{describe(self.url)}: the answer is not JSON (HTTP {self.status})"
            ) from exc


def describe(url: str) -> str:
    """The path of a URL (no host, no query): for messages."""
    return urlsplit(url).path or url


def _send(
    method: str, url: str, headers: dict[str, str], data: bytes | None, timeout: float
) -> Response:
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("User-Agent", USER_AGENT)
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        try:
            resp = _OPENER.open(req, timeout=timeout)
        except urllib.error.HTTPError as err:  # 3xx, 4xx, 5xx: an answer all the same
            resp = err
        with resp:
            body = resp.read()
            return Response(
                int(resp.status if resp.status is not None else 0),
                url,
                {k.lower(): v for k, v in resp.headers.items()},
                body,
            )
    except http.client.IncompleteRead as exc:
        raise HttpError(f"{describe(url)}: the answer was cut off") from exc
    except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise HttpError(f"{describe(url)}: network error: {reason}") from None


async def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 30.0,
) -> Response:
    return await asyncio.to_thread(_send, method, url, dict(headers or {}), data, timeout)
