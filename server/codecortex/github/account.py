"""The signed-in GitHub account: login (device flow), tokens through the vault, refresh before
expiry, logout, status. Nothing here returns or logs a token except `TokenSource.__call__`,
which hands it to the REST client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from codecortex.config import Settings
from codecortex.github import device
from codecortex.github.api import AuthError, GitHubClient, GitHubError, WaitFn, json_of, raise_for
from codecortex.github.device import DeviceCode, DeviceFlowError, TokenSet
from codecortex.github.http import HttpError
from codecortex.github.vault import TokenVault, VaultError
from codecortex.store import github as store

log = logging.getLogger(__name__)

ConnectionFactory = Callable[[], AbstractAsyncContextManager[Any]]
REFRESH_MARGIN = timedelta(minutes=5)


class AccountError(Exception):
    """One line for the user: not signed in, sign-in failed, token unusable."""


@dataclass(frozen=True)
class Endpoints:
    web_url: str
    api_url: str
    client_id: str
    scopes: str


def endpoints(settings: Settings) -> Endpoints:
    web = (settings.github_url or "https://github.com").rstrip("/")
    api = settings.github_api_url.rstrip("/")
    if not api:
        host = urlsplit(web).netloc.lower()
        # github.com has api.github.com; GitHub Enterprise Server serves the API under /api/v3
        api = (
            "https://api.github.com"
            if host in ("github.com", "www.github.com")
            else f"{web}/api/v3"
        )
    return Endpoints(web, api, settings.github_client_id.strip(), settings.github_scopes)


def web_url_for(api_url: str) -> str:
    """The sign-in host of a stored account's API URL (refresh tokens go there and nowhere
    else, whatever the settings say now)."""
    api = api_url.rstrip("/")
    if urlsplit(api).netloc.lower() == "api.github.com":
        return "https://github.com"
    return api.removesuffix("/api/v3")


def vault_for(settings: Settings) -> TokenVault:
    return TokenVault(settings.data_path())


def _purpose(kind: str, api_url: str) -> str:
    return f"codecortex github {kind} token for {api_url}"


def _when(seconds: int | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(seconds=seconds) if seconds else None


async def _identify(api_url: str, token: str) -> tuple[dict[str, Any], list[str]]:
    """The user the token belongs to and the scopes GitHub reports for it."""

    async def fixed(_force: bool) -> str:
        return token

    client = GitHubClient(api_url, fixed, max_retries=1)
    try:
        resp = await client.request("GET", "/user")
    except HttpError as exc:
        raise AccountError(f"GitHub: {exc}") from None
    try:
        raise_for(resp, "GitHub user")
        user = json_of(resp, "GitHub user", dict)
    except GitHubError as exc:
        raise AccountError(str(exc)) from None
    header = resp.header("x-oauth-scopes")
    scopes = [s.strip() for s in header.split(",") if s.strip()] if header else []
    return user, scopes


async def login(
    settings: Settings,
    conn: Any,
    user_id: Any,
    show_code: Callable[[DeviceCode], None],
    *,
    on_wait: Callable[[str], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[str, Any]:
    ends = endpoints(settings)
    if not ends.client_id:
        raise AccountError(
            "no GitHub OAuth client id: set CODECORTEX_GITHUB_CLIENT_ID (or the `github.clientId`"
            " setting) to an OAuth or GitHub App with the device flow enabled"
        )
    try:
        code = await device.request_code(ends.web_url, ends.client_id, ends.scopes)
        show_code(code)
        tokens = await device.poll_token(
            ends.web_url, ends.client_id, code, sleep=sleep, on_wait=on_wait
        )
    except DeviceFlowError as exc:
        raise AccountError(str(exc)) from None
    user, header_scopes = await _identify(ends.api_url, tokens.access_token)
    vault = vault_for(settings)
    try:
        access = vault.encrypt(tokens.access_token, _purpose("access", ends.api_url))
        refresh = (
            vault.encrypt(tokens.refresh_token, _purpose("refresh", ends.api_url))
            if tokens.refresh_token
            else None
        )
        key_id = vault.key_id()
    except VaultError as exc:
        raise AccountError(str(exc)) from None
    async with conn.transaction():
        await store.save_account(
            conn,
            user_id,
            api_url=ends.api_url,
            web_url=ends.web_url,
            username=str(user.get("login") or ""),
            github_user_id=int(user["id"]) if isinstance(user.get("id"), int) else None,
            scopes=header_scopes or tokens.scopes,
            access_enc=access,
            refresh_enc=refresh,
            expires_at=_when(tokens.expires_in),
            refresh_expires_at=_when(tokens.refresh_token_expires_in),
            key_id=key_id,
        )
    return await status(settings, conn, user_id) or {}


async def logout(conn: Any, user_id: Any) -> bool:
    return await store.delete_account(conn, user_id)


async def status(settings: Settings, conn: Any, user_id: Any) -> dict[str, Any] | None:
    """What `github status` shows (never a token)."""
    account = await store.get_account(conn, user_id)
    if account is None:
        return None
    repos = await store.list_repos(conn, account["id"])
    vault = vault_for(settings)
    try:
        key_ok = vault.key_id() == account["key_id"]
        where = vault.where
    except VaultError as exc:
        key_ok, where = False, str(exc)
    return {
        "account": account["github_username"],
        "api_url": account["api_url"],
        "scopes": list(account["scopes"] or []),
        "token_expires_at": account["token_expires_at"],
        "refresh_expires_at": account["refresh_expires_at"],
        "refreshable": account["refresh_token_enc"] is not None,
        "key": where,
        "key_matches": key_ok,
        "repositories": len(repos),
        "selected": sum(1 for r in repos if r["selected"]),
    }


class TokenSource:
    """Hands the current access token to the REST client, refreshing it when it expires within
    five minutes (or when GitHub rejected it), and saving the new tokens encrypted."""

    def __init__(self, settings: Settings, connection: ConnectionFactory, account: dict[str, Any]):
        self.settings = settings
        self.connection = connection
        self.account = account
        self.vault = vault_for(settings)
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refreshed = False  # short-lived tokens are refreshed once per run, not per request

    async def __call__(self, force: bool = False) -> str:
        async with self._lock:
            acc = self.account
            expires = acc.get("token_expires_at")
            due = expires is not None and expires - REFRESH_MARGIN <= datetime.now(UTC)
            if self._refreshed and not force:
                due = expires is not None and expires <= datetime.now(UTC)
            if (due or force) and acc.get("refresh_token_enc") is not None:
                await self._refresh()
                self._refreshed = True
            elif due:
                raise AuthError(
                    "the GitHub token expired and cannot be refreshed: run `codecortex github login`"
                )
            if self._token is None:
                try:
                    self._token = self.vault.decrypt(
                        acc["access_token_enc"], _purpose("access", acc["api_url"])
                    )
                except VaultError as exc:
                    raise AuthError(str(exc)) from None
            return self._token

    async def _refresh(self) -> None:
        acc = self.account
        client_id = endpoints(self.settings).client_id
        try:
            old = self.vault.decrypt(acc["refresh_token_enc"], _purpose("refresh", acc["api_url"]))
            tokens: TokenSet = await device.refresh(
                acc.get("web_url") or web_url_for(acc["api_url"]), client_id, old
            )
            access = self.vault.encrypt(tokens.access_token, _purpose("access", acc["api_url"]))
            refresh = (
                self.vault.encrypt(tokens.refresh_token, _purpose("refresh", acc["api_url"]))
                if tokens.refresh_token
                else acc["refresh_token_enc"]
            )
        except (VaultError, DeviceFlowError) as exc:
            raise AuthError(str(exc)) from None
        expires = _when(tokens.expires_in)
        refresh_expires = _when(tokens.refresh_token_expires_in) or acc.get("refresh_expires_at")
        async with self.connection() as conn:
            async with conn.transaction():
                await store.update_tokens(
                    conn, acc["id"], access_enc=access, refresh_enc=refresh, expires_at=expires,
                    refresh_expires_at=refresh_expires, key_id=self.vault.key_id(),
                )  # fmt: skip
        acc.update(
            access_token_enc=access, refresh_token_enc=refresh, token_expires_at=expires,
            refresh_expires_at=refresh_expires,
        )  # fmt: skip
        self._token = tokens.access_token
        log.info("GitHub token refreshed for %s", acc.get("github_username"))


async def require_account(conn: Any, user_id: Any) -> dict[str, Any]:
    account = await store.get_account(conn, user_id)
    if account is None:
        raise AccountError("not signed in to GitHub: run `codecortex github login`")
    return account


def make_client(
    settings: Settings,
    connection: ConnectionFactory,
    account: dict[str, Any],
    on_wait: WaitFn | None = None,
    **kw: Any,
) -> GitHubClient:
    return GitHubClient(
        account["api_url"], TokenSource(settings, connection, account), on_wait=on_wait, **kw
    )
