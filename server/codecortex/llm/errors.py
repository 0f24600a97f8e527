"""Typed errors raised by the model clients (chat and embeddings).

Every error carries a short, user-facing ``message`` (safe to show in an editor notification:
it never contains prompt text or credentials) and, when known, the HTTP ``status``.
"""

from __future__ import annotations


class LLMError(Exception):
    """Base class of every model-endpoint error."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class LLMNotConfigured(LLMError):
    """No model is configured (provider "none" or missing model/endpoint/key)."""


class LLMTimeout(LLMError):
    """The endpoint did not answer within the configured timeout."""


class LLMRateLimited(LLMError):
    """The endpoint kept answering 429 (or asked us to wait longer than we are willing to)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        detail: str = "",
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.retry_after = retry_after


class LLMUnavailable(LLMError):
    """Connection refused / DNS failure / 5xx after all retries."""


class LLMAuthError(LLMError):
    """The endpoint rejected the credentials (401/403)."""


class LLMRequestError(LLMError):
    """The endpoint rejected the request itself (400/404/422: unknown model, bad parameter)."""


class LLMBadResponse(LLMError):
    """The answer was not valid JSON, did not match the schema, or was truncated."""


class LLMRefused(LLMError):
    """The model refused (``refusal`` field) or the output was blocked by a content filter."""


__all__ = [
    "LLMAuthError",
    "LLMBadResponse",
    "LLMError",
    "LLMNotConfigured",
    "LLMRateLimited",
    "LLMRefused",
    "LLMRequestError",
    "LLMTimeout",
    "LLMUnavailable",
]
