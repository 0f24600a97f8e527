"""The `llm` section of the settings (provider, model, endpoint, limits) and the one reader of
model API keys (`read_api_key`).

`Settings.llm_settings()` builds the section from the parsed `llm.*` settings; the API key comes
from the client (`llm.apiKey`, memory only) or the environment, never from the database or the
repository, is never persisted and is masked in ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROVIDERS = ("none", "openai", "azure")
DEFAULT_AZURE_API_VERSION = "2024-10-21"


def read_api_key(provider: str, client_key: str = "", env: Mapping[str, str] | None = None) -> str:
    """The model API key for `provider` (also the OpenAI embedder's: provider "openai"): the key
    the client handed over (`llm.apiKey`), else the environment: `AZURE_OPENAI_API_KEY` then
    `CODECORTEX_OPENAI_API_KEY` for Azure, `CODECORTEX_OPENAI_API_KEY` then `OPENAI_API_KEY`
    otherwise. "" when there is none."""
    env = os.environ if env is None else env
    if client_key:
        return client_key.strip()
    if provider == "azure":
        names = ("AZURE_OPENAI_API_KEY", "CODECORTEX_OPENAI_API_KEY")
    else:
        names = ("CODECORTEX_OPENAI_API_KEY", "OPENAI_API_KEY")
    for name in names:
        if env.get(name):
            return env[name].strip()
    return ""


@dataclass
class LLMSettings:
    provider: str = "none"  # "none" | "openai" | "azure"
    model: str = ""  # model name; for Azure the deployment name
    base_url: str = ""  # "" = api.openai.com (openai) / AZURE_OPENAI_ENDPOINT (azure)
    api_version: str = ""  # Azure only
    timeout: float = 30
    max_tokens: int = 1024
    rpm: int = 60
    api_key: str = field(default="", repr=False, compare=False)

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else "''"
        return (
            f"LLMSettings(provider={self.provider!r}, model={self.model!r}, "
            f"base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"timeout={self.timeout!r}, max_tokens={self.max_tokens!r}, rpm={self.rpm!r}, "
            f"api_key={key})"
        )

    __str__ = __repr__

    @property
    def enabled(self) -> bool:
        """True when a provider and model are configured (use :meth:`validate` for details)."""
        return self.provider in ("openai", "azure") and bool(self.model)

    def to_dict(self) -> dict[str, Any]:
        """The persistable settings (camelCase like the LSP section); never the API key."""
        return {
            "provider": self.provider,
            "model": self.model,
            "baseUrl": self.base_url,
            "apiVersion": self.api_version,
            "timeout": self.timeout,
            "maxTokens": self.max_tokens,
            "rpm": self.rpm,
        }

    def validate(self) -> list[str]:
        """Human-readable configuration errors; empty when the settings are usable."""
        errors: list[str] = []
        if self.provider not in PROVIDERS:
            errors.append(
                f"llm.provider must be one of {', '.join(PROVIDERS)} (got {self.provider!r})"
            )
            return errors
        if self.timeout <= 0:
            errors.append("llm.timeout must be > 0 seconds")
        if self.max_tokens <= 0:
            errors.append("llm.maxTokens must be > 0")
        if self.rpm <= 0:
            errors.append("llm.rpm must be > 0")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            errors.append(
                f"llm.baseUrl must start with http:// or https:// (got {self.base_url!r})"
            )
        if self.provider == "none":
            return errors
        if not self.model:
            what = "deployment name" if self.provider == "azure" else "model name"
            errors.append(f"llm.model is required for provider {self.provider!r} ({what})")
        if self.provider == "openai" and not self.base_url and not self.api_key:
            errors.append(
                "provider 'openai' without llm.baseUrl needs an API key: set "
                "CODECORTEX_OPENAI_API_KEY or OPENAI_API_KEY"
            )
        if self.provider == "azure":
            if not self.base_url:
                errors.append(
                    "provider 'azure' needs an endpoint: set llm.baseUrl or AZURE_OPENAI_ENDPOINT"
                )
            if not self.api_key:
                errors.append("provider 'azure' needs an API key: set AZURE_OPENAI_API_KEY")
            if not self.api_version:
                errors.append("provider 'azure' needs llm.apiVersion")
        return errors


__all__ = ["DEFAULT_AZURE_API_VERSION", "PROVIDERS", "LLMSettings", "read_api_key"]
