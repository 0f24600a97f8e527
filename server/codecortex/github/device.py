"""The OAuth 2.0 device authorization grant as GitHub implements it (RFC 8628): ask for a
device and user code, show the user code and the verification URL, poll for the token at the
interval the server asks for (`slow_down` adds to it), stop on `expired_token` or
`access_denied`. The same endpoint refreshes expiring tokens (`grant_type=refresh_token`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from codecortex.github import http
from codecortex.github.http import HttpError, Response

GRANT_DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceFlowError(Exception):
    pass


@dataclass
class DeviceCode:
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int
    device_code: str = field(repr=False)


@dataclass
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: int | None = None
    refresh_token_expires_in: int | None = None
    scopes: list[str] = field(default_factory=list)

    @classmethod
    def from_answer(cls, data: dict[str, Any]) -> TokenSet:
        def number(name: str) -> int | None:
            value = data.get(name)
            return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

        scope = str(data.get("scope") or "")
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]) if data.get("refresh_token") else None,
            expires_in=number("expires_in"),
            refresh_token_expires_in=number("refresh_token_expires_in"),
            scopes=[s for s in scope.replace(",", " ").split() if s],
        )


async def _post(url: str, fields: dict[str, str], timeout: float) -> dict[str, Any]:
    try:
        resp: Response = await http.request(
            "POST",
            url,
            {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
            urlencode(fields).encode(),
            timeout=timeout,
        )
    except HttpError as exc:
        raise DeviceFlowError(f"GitHub sign-in: {exc}") from None
    try:
        data = resp.json()
    except HttpError as exc:
        raise DeviceFlowError(f"GitHub sign-in: {exc}") from None
    if not isinstance(data, dict):
        raise DeviceFlowError(f"GitHub sign-in: unexpected answer (HTTP {resp.status})")
    if resp.status >= 400 and "error" not in data:
        raise DeviceFlowError(f"GitHub sign-in: HTTP {resp.status} from {http.describe(url)}")
    return data


def _error_text(data: dict[str, Any]) -> str:
    text = str(data.get("error_description") or data.get("error") or "unknown error")
    return text[:200]


async def request_code(
    web_url: str, client_id: str, scopes: str, timeout: float = 30.0
) -> DeviceCode:
    data = await _post(
        f"{web_url.rstrip('/')}/login/device/code",
        {"client_id": client_id, "scope": scopes},
        timeout,
    )
    if data.get("error"):
        raise DeviceFlowError(f"GitHub sign-in refused: {_error_text(data)}")
    try:
        return DeviceCode(
            user_code=str(data["user_code"]),
            verification_uri=str(data["verification_uri"]),
            expires_in=int(data.get("expires_in") or 900),
            interval=max(1, int(data.get("interval") or 5)),
            device_code=str(data["device_code"]),
        )
    except (KeyError, TypeError, ValueError):
        raise DeviceFlowError("GitHub sign-in: the device code answer is incomplete") from None


async def poll_token(
    web_url: str,
    client_id: str,
    code: DeviceCode,
    *,
    timeout: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_wait: Callable[[str], None] | None = None,
) -> TokenSet:
    url = f"{web_url.rstrip('/')}/login/oauth/access_token"
    interval = float(code.interval)
    deadline = time.monotonic() + code.expires_in
    while True:
        await sleep(interval)
        data = await _post(
            url,
            {"client_id": client_id, "device_code": code.device_code, "grant_type": GRANT_DEVICE},
            timeout,
        )
        if data.get("access_token"):
            return TokenSet.from_answer(data)
        error = str(data.get("error") or "")
        if error == "authorization_pending":
            pass
        elif error == "slow_down":
            given = data.get("interval")
            interval = float(given) if isinstance(given, int) and given > interval else interval + 5
            if on_wait is not None:
                on_wait(f"GitHub asked to poll more slowly: every {interval:.0f} s")
        elif error == "expired_token":
            raise DeviceFlowError(
                "the code expired before it was entered: run `codecortex github login` again"
            )
        elif error == "access_denied":
            raise DeviceFlowError("sign-in was cancelled on GitHub (access denied)")
        else:
            raise DeviceFlowError(f"GitHub sign-in failed: {_error_text(data)}")
        if time.monotonic() > deadline:
            raise DeviceFlowError(
                "the code expired before it was entered: run `codecortex github login` again"
            )


async def refresh(
    web_url: str, client_id: str, refresh_token: str, timeout: float = 30.0
) -> TokenSet:
    data = await _post(
        f"{web_url.rstrip('/')}/login/oauth/access_token",
        {"client_id": client_id, "grant_type": "refresh_token", "refresh_token": refresh_token},
        timeout,
    )
    if not data.get("access_token"):
        raise DeviceFlowError(
            f"refreshing the GitHub token failed ({_error_text(data)}):"
            " run `codecortex github login`"
        )
    return TokenSet.from_answer(data)
