"""Chat client for structured (JSON) answers from OpenAI, Azure OpenAI or any OpenAI-compatible
endpoint (Ollama, vLLM, llama.cpp server).

* Every message is redacted (:func:`codecortex.llm.redaction.redact`) inside the client, so no caller
  can forget it.
* Structured output: ``response_format={"type": "json_schema", ...}``; when the endpoint rejects
  that, the client falls back (once, and remembers) to ``{"type": "json_object"}`` with the schema
  in the system message. Answers are parsed and validated against the schema.
* Client-side rate limit (``rpm``, async token bucket), retries of 429 (``Retry-After``
  honoured) / 5xx / connection errors with exponential backoff, a per-attempt timeout.
* Failures are typed (:mod:`codecortex.llm.errors`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from codecortex.config.llm import LLMSettings
from codecortex.llm.errors import (
    LLMBadResponse,
    LLMError,
    LLMNotConfigured,
    LLMRefused,
    LLMRequestError,
)
from codecortex.llm.redaction import redact_messages
from codecortex.llm.retry import RetryPolicy, call_with_retries
from codecortex.llm.schema import validate

_WIRE_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "description",
    "anyOf",
}
_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)


@dataclass
class LLMResult:
    data: dict[str, Any]
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    raw: str  # the model's raw answer text (the JSON before parsing)
    redactions: int = 0  # secrets removed from the prompt before sending
    structured: str = "json_schema"  # "json_schema" or "json_object" (fallback used)


class AsyncTokenBucket:
    """``rate_per_minute`` requests per minute with bursts of up to ``burst``."""

    def __init__(self, rate_per_minute: float, burst: int | None = None) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be > 0")
        self.rate = rate_per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, min(10, int(rate_per_minute))))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


def wire_schema(schema: Any) -> Any:
    """The schema as sent to the endpoint: only keywords every structured-output implementation
    accepts (bounds such as minimum/maxItems are checked locally instead)."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key not in _WIRE_KEYWORDS:
                continue
            if key == "properties":
                out[key] = {k: wire_schema(v) for k, v in value.items()}
            elif key in ("items",):
                out[key] = wire_schema(value)
            elif key == "anyOf":
                out[key] = [wire_schema(v) for v in value]
            else:
                out[key] = value
        return out
    return schema


def _schema_rejected(err: LLMRequestError) -> bool:
    text = (err.detail or err.message).lower()
    return any(w in text for w in ("response_format", "json_schema", "schema", "structured"))


def _max_tokens_rejected(err: LLMRequestError) -> bool:
    text = (err.detail or err.message).lower()
    return "max_tokens" in text and "max_completion_tokens" in text


@dataclass
class _State:
    json_schema_ok: bool = True
    max_tokens_param: str = "max_tokens"
    extra: dict[str, Any] = field(default_factory=dict)


class LLMClient:
    """See the module docstring. Create one per server; it is safe to share between tasks."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_retry_after: float = 30.0,
        burst: int | None = None,
    ) -> None:
        self.settings = settings
        self.policy = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            max_retry_after=max_retry_after,
        )
        self._bucket = AsyncTokenBucket(max(1, settings.rpm), burst)
        self._state = _State()
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enabled and not self.settings.validate()

    @property
    def what(self) -> str:
        s = self.settings
        where = s.base_url or ("api.openai.com" if s.provider == "openai" else "Azure OpenAI")
        return f"the model endpoint ({where})"

    def _openai(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        errors = self.settings.validate()
        if self.settings.provider == "none":
            raise LLMNotConfigured("no model is configured (setting llm.provider is 'none')")
        if errors:
            raise LLMNotConfigured("the model is not configured correctly: " + "; ".join(errors))
        import openai

        s = self.settings
        client: openai.AsyncOpenAI
        if s.provider == "azure":
            client = openai.AsyncAzureOpenAI(
                azure_endpoint=s.base_url,
                api_version=s.api_version,
                api_key=s.api_key,
                timeout=s.timeout,
                max_retries=0,
            )
        else:
            client = openai.AsyncOpenAI(
                api_key=s.api_key or "not-needed",  # local endpoints accept any key
                base_url=s.base_url or None,
                timeout=s.timeout,
                max_retries=0,
            )
        self._client, self._loop = client, loop
        return client

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.close()

    async def _create(self, **kwargs: Any) -> Any:
        client = self._openai()

        async def call() -> Any:
            await self._bucket.acquire()
            return await client.chat.completions.create(**kwargs)

        return await call_with_retries(
            call, policy=self.policy, what=self.what, attempt_timeout=self.settings.timeout
        )

    async def _complete(
        self, messages: list[dict[str, Any]], schema: dict[str, Any], name: str, strict: bool
    ) -> tuple[Any, str]:
        """One chat completion with structured output, handling the json_schema and
        max_tokens fallbacks. Returns (response, mode)."""
        while True:
            mode = "json_schema" if self._state.json_schema_ok else "json_object"
            if mode == "json_schema":
                response_format: dict[str, Any] = {
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": wire_schema(schema), "strict": strict},
                }
                sent = messages
            else:
                response_format = {"type": "json_object"}
                instruction = (
                    "Respond only with a JSON object that matches this JSON schema:\n"
                    + json.dumps(wire_schema(schema), separators=(",", ":"))
                )
                sent = [{"role": "system", "content": instruction}, *messages]
            kwargs = {
                "model": self.settings.model,
                "messages": sent,
                "response_format": response_format,
                self._state.max_tokens_param: self.settings.max_tokens,
            }
            try:
                return await self._create(**kwargs), mode
            except LLMRequestError as err:
                if _max_tokens_rejected(err) and self._state.max_tokens_param == "max_tokens":
                    self._state.max_tokens_param = "max_completion_tokens"
                    continue
                if mode == "json_schema" and _schema_rejected(err):
                    self._state.json_schema_ok = False
                    continue
                raise

    async def chat_json(
        self,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
        *,
        name: str,
        strict: bool = True,
    ) -> LLMResult:
        """Ask for a JSON object matching ``schema``; return it parsed and validated."""
        safe_name = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "answer"
        redacted, count = redact_messages(messages)
        started = time.monotonic()
        response, mode = await self._complete(redacted, schema, safe_name, strict)
        latency_ms = int((time.monotonic() - started) * 1000)

        if not getattr(response, "choices", None):
            raise LLMBadResponse(f"{self.what} returned no choices")
        choice = response.choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise LLMRefused(f"the model declined to answer: {str(refusal)[:300]}")
        if choice.finish_reason == "content_filter":
            raise LLMRefused("the answer was blocked by the provider's content filter")
        content = message.content or ""
        if choice.finish_reason == "length":
            raise LLMBadResponse(
                f"the answer was cut off at {self.settings.max_tokens} tokens "
                "(raise setting llm.maxTokens)",
                detail=content[:500],
            )
        text = content.strip()
        fenced = _FENCE_RE.match(text)
        if fenced:
            text = fenced.group(1).strip()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LLMBadResponse(
                f"the model did not answer with valid JSON ({exc.msg} at position {exc.pos})",
                detail=content[:500],
            ) from exc
        if not isinstance(data, dict):
            raise LLMBadResponse("the model answered with JSON that is not an object")
        problems = validate(data, schema)
        if problems:
            raise LLMBadResponse(
                "the model's answer does not match the expected shape: " + "; ".join(problems[:5]),
                detail=content[:500],
            )
        usage = getattr(response, "usage", None)
        return LLMResult(
            data=data,
            model=str(getattr(response, "model", None) or self.settings.model),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_ms=latency_ms,
            raw=content,
            redactions=count,
            structured=mode,
        )

    async def ping(self) -> str:
        """Check the endpoint for ``codecortex doctor``: list models (is the configured one
        there?) or, when listing is not supported, do a 1-token chat. Raises LLMError."""
        client = self._openai()
        s = self.settings

        async def list_models() -> Any:
            await self._bucket.acquire()
            return await client.models.list()

        try:
            page = await call_with_retries(
                list_models, policy=self.policy, what=self.what, attempt_timeout=s.timeout
            )
            ids = [m.id for m in getattr(page, "data", [])]
        except LLMRequestError:
            ids = []
        if ids:
            if s.model in ids:
                return f"ok: {self.what} serves {len(ids)} models, including {s.model!r}"
            if s.provider != "azure":  # Azure lists base models, not deployments
                return (
                    f"warning: {self.what} answered but does not list model {s.model!r} "
                    f"(it lists {', '.join(sorted(ids)[:5])}{', ...' if len(ids) > 5 else ''})"
                )
        messages = [{"role": "user", "content": "Reply with the word ok."}]
        try:
            response = await self._create(
                model=s.model, messages=messages, **{self._state.max_tokens_param: 1}
            )
        except LLMRequestError as err:
            if not _max_tokens_rejected(err):
                raise
            self._state.max_tokens_param = "max_completion_tokens"
            response = await self._create(model=s.model, messages=messages, max_completion_tokens=1)
        model = getattr(response, "model", None) or s.model
        return f"ok: {self.what} answered a 1-token chat with model {model!r}"


__all__ = ["AsyncTokenBucket", "LLMClient", "LLMError", "LLMResult", "wire_schema"]
