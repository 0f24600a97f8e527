"""Model access for synthesis and analysis: settings, a typed-error chat client with structured
output, versioned prompt templates and token budgeting. Nothing here talks to the database."""

from codecortex.config.llm import LLMSettings
from codecortex.llm.budget import estimate_tokens, fit_to_budget
from codecortex.llm.client import AsyncTokenBucket, LLMClient, LLMResult
from codecortex.llm.errors import (
    LLMAuthError,
    LLMBadResponse,
    LLMError,
    LLMNotConfigured,
    LLMRateLimited,
    LLMRefused,
    LLMRequestError,
    LLMTimeout,
    LLMUnavailable,
)
from codecortex.llm.prompts import PromptTemplate, load_templates

__all__ = [
    "AsyncTokenBucket",
    "LLMAuthError",
    "LLMBadResponse",
    "LLMClient",
    "LLMError",
    "LLMNotConfigured",
    "LLMRateLimited",
    "LLMRefused",
    "LLMRequestError",
    "LLMResult",
    "LLMSettings",
    "LLMTimeout",
    "LLMUnavailable",
    "PromptTemplate",
    "estimate_tokens",
    "fit_to_budget",
    "load_templates",
]
