"""Retry policy shared by the chat client and the OpenAI embedder.

The ``openai`` SDK's own retries are switched off (``max_retries=0``) so that we decide what is
retried, honour ``Retry-After`` with a cap, and map every failure to a typed :mod:`errors` class.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from codecortex.llm.errors import (
    LLMAuthError,
    LLMError,
    LLMRateLimited,
    LLMRequestError,
    LLMTimeout,
    LLMUnavailable,
)

if TYPE_CHECKING:
    import openai

T = TypeVar("T")


def parse_retry_after(headers: Mapping[str, str] | Any | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP date)."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


@dataclass(slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` wins when the server sends it."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 30.0

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))


def _status_message(status: int, what: str) -> str:
    return f"{what} answered HTTP {status}"


def classify(exc: BaseException, *, what: str, timeout: float) -> LLMError:
    """Map an ``openai`` SDK / asyncio exception to a typed :class:`LLMError`."""
    if isinstance(exc, LLMError):
        return exc
    import openai  # imported lazily: it costs ~0.4 s and most processes never call a model

    if isinstance(exc, (openai.APITimeoutError, TimeoutError, asyncio.TimeoutError)):
        return LLMTimeout(f"{what} did not answer within {timeout:g} s (setting llm.timeout)")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailable(
            f"cannot reach {what}: {exc.__cause__ or exc}. Is the endpoint running and the "
            "base URL (setting llm.baseUrl) right?"
        )
    if isinstance(exc, openai.RateLimitError):
        return LLMRateLimited(
            f"{what} is rate limiting requests (HTTP 429); try again later or lower llm.rpm",
            retry_after=parse_retry_after(exc.response.headers),
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _error_text(exc)
        if status in (401, 403):
            return LLMAuthError(
                f"{what} rejected the API key (HTTP {status}); check CODECORTEX_OPENAI_API_KEY",
                status=status,
                detail=detail,
            )
        if status >= 500:
            return LLMUnavailable(
                _status_message(status, what) + " (server error)", status=status, detail=detail
            )
        return LLMRequestError(
            f"{what} rejected the request (HTTP {status}): {detail[:200]}",
            status=status,
            detail=detail,
        )
    return LLMError(f"{what} failed: {type(exc).__name__}: {exc}")


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return str(exc.message or "")


def is_retryable(err: LLMError) -> bool:
    if isinstance(err, LLMRateLimited):
        return True
    if isinstance(err, LLMUnavailable):
        return True
    return False


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    what: str,
    attempt_timeout: float,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """Run ``fn`` with an overall per-attempt timeout, retrying 429/5xx/connection errors.

    Timeouts are not retried (an editor should not wait ``max_retries`` x ``timeout``).
    """
    attempt = 0
    while True:
        try:
            async with asyncio.timeout(attempt_timeout):
                return await fn()
        except Exception as exc:
            err = classify(exc, what=what, timeout=attempt_timeout)
            if not is_retryable(err) or attempt >= policy.max_retries:
                if isinstance(err, LLMUnavailable) and attempt > 0:
                    err.message += f" (gave up after {attempt + 1} attempts)"
                elif isinstance(err, LLMRateLimited) and attempt > 0:
                    err.message += f" (gave up after {attempt + 1} attempts)"
                raise err from exc
            delay = policy.backoff(attempt)
            if isinstance(err, LLMRateLimited) and err.retry_after is not None:
                if err.retry_after > policy.max_retry_after:
                    err.message += f" (server asked to wait {err.retry_after:g} s)"
                    raise err from exc
                delay = max(err.retry_after, 0.0)
            attempt += 1
            await sleep(delay)


__all__ = ["RetryPolicy", "call_with_retries", "classify", "parse_retry_after"]
