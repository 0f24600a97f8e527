"""The model runner shared by fix synthesis, learning paths and deep analysis: one `Synthesizer`
per process (the chat client and the shipped prompt templates) whose `run_template` renders a
template (values redacted), answers from the cache or the model, and records the execution;
`remember` caches a validated answer, `reject` marks an unusable one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import psycopg

from codecortex.llm import (
    LLMAuthError,
    LLMBadResponse,
    LLMClient,
    LLMError,
    LLMNotConfigured,
    LLMRateLimited,
    LLMRefused,
    LLMRequestError,
    LLMSettings,
    LLMTimeout,
    LLMUnavailable,
    PromptTemplate,
    load_templates,
)
from codecortex.llm.redaction import redact
from codecortex.store import prompts as prompt_store
from codecortex.store import synthesis as synth_store

CACHE_TTL_SECONDS = 7 * 24 * 3600

_OUTCOMES: tuple[tuple[type[LLMError], str], ...] = (
    (LLMTimeout, "timeout"),
    (LLMRateLimited, "rate_limited"),
    (LLMUnavailable, "unavailable"),
    (LLMAuthError, "auth_error"),
    (LLMRequestError, "request_error"),
    (LLMBadResponse, "bad_response"),
    (LLMRefused, "refused"),
    (LLMNotConfigured, "not_configured"),
)


def outcome_of(err: LLMError) -> str:
    for cls, name in _OUTCOMES:
        if isinstance(err, cls):
            return name
    return "error"


@dataclass
class TemplateRun:
    template: PromptTemplate
    data: dict[str, Any]
    execution_id: Any
    cache_key: str
    input_hash: str
    cached: bool
    model: str
    tokens: int = 0
    latency_ms: int = 0


class Synthesizer:
    """The model client and prompt templates of one process (server or CLI command)."""

    def __init__(
        self,
        settings: LLMSettings,
        templates: dict[str, PromptTemplate] | None = None,
        client: LLMClient | None = None,
    ) -> None:
        self.settings = settings
        self.llm = client or LLMClient(settings)
        self.templates = templates or load_templates()

    @property
    def enabled(self) -> bool:
        return self.llm.enabled

    @property
    def model(self) -> str:
        return self.settings.model

    async def aclose(self) -> None:
        await self.llm.aclose()

    async def run_template(
        self,
        conn: psycopg.AsyncConnection[Any],
        name: str,
        values: dict[str, Any],
        *,
        user_id: Any = None,
        repo_id: Any = None,
        problem_id: Any = None,
        use_cache: bool = True,
    ) -> TemplateRun:
        """Render `name` with `values` (redacted here first), answer from the cache or the model,
        and record a `prompt_executions` row. Model errors are recorded and re-raised.

        The output is *not* cached yet: call `remember` once the caller validated it."""
        template = self.templates[name]
        values = {k: redact(v)[0] if isinstance(v, str) else v for k, v in values.items()}
        key = template.cache_key(self.model, **values)
        input_hash = hashlib.sha256(
            json.dumps(values, sort_keys=True, default=str).encode("utf-8")
        ).hexdigest()
        template_id = await prompt_store.register_template(conn, template)
        execution = prompt_store.NewExecution(
            template_id=template_id,
            provider=self.settings.provider,
            model=self.model,
            outcome="success",
            user_id=user_id,
            repo_id=repo_id,
            problem_id=problem_id,
            cache_key=key,
        )
        if use_cache:
            hit = await synth_store.cache_get(conn, key)
            if hit is not None:
                execution.outcome, execution.cached = "cached", True
                execution_id = await prompt_store.record_execution(conn, execution)
                return TemplateRun(
                    template, hit["output"], execution_id, key, input_hash, True, self.model
                )
        try:
            result = await self.llm.chat_json(template.render(**values), template.schema, name=name)
        except LLMError as err:
            execution.outcome, execution.error = outcome_of(err), err.message
            await prompt_store.record_execution(conn, execution)
            raise
        execution.prompt_tokens = result.prompt_tokens
        execution.completion_tokens = result.completion_tokens
        execution.latency_ms = result.latency_ms
        execution.redactions = result.redactions
        execution_id = await prompt_store.record_execution(conn, execution)
        return TemplateRun(
            template,
            result.data,
            execution_id,
            key,
            input_hash,
            False,
            self.model,
            result.prompt_tokens + result.completion_tokens,
            result.latency_ms,
        )

    async def remember(self, conn: psycopg.AsyncConnection[Any], run: TemplateRun) -> None:
        """Cache a validated model answer (cache hits are already there)."""
        if run.cached:
            return
        await synth_store.cache_put(
            conn,
            cache_key=run.cache_key,
            agent=run.template.name,
            agent_version=str(run.template.version),
            input_hash=run.input_hash,
            output=run.data,
            token_count=run.tokens,
            processing_time_ms=run.latency_ms,
            model=run.model,
            ttl_seconds=CACHE_TTL_SECONDS,
        )

    async def reject(
        self, conn: psycopg.AsyncConnection[Any], run: TemplateRun, reason: str
    ) -> None:
        """The answer was unusable: mark the execution (and never cache it)."""
        if not run.cached:
            await prompt_store.set_outcome(conn, run.execution_id, "invalid_output", reason)


__all__ = ["CACHE_TTL_SECONDS", "Synthesizer", "TemplateRun", "outcome_of"]
