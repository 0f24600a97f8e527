"""LLM settings: provider, model, endpoint, limits. The API key is read from the environment,
never persisted and masked in ``repr``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROVIDERS = ("none", "openai", "azure")
DEFAULT_AZURE_API_VERSION = "2024-10-21"

# setting name -> (environment variable, accepted override keys)
_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "provider": ("CODECORTEX_LLM_PROVIDER", ("provider",)),
    "model": ("CODECORTEX_LLM_MODEL", ("model",)),
    "base_url": ("CODECORTEX_LLM_BASE_URL", ("baseUrl", "base_url")),
    "api_version": ("CODECORTEX_LLM_API_VERSION", ("apiVersion", "api_version")),
    "timeout": ("CODECORTEX_LLM_TIMEOUT", ("timeout",)),
    "max_tokens": ("CODECORTEX_LLM_MAX_TOKENS", ("maxTokens", "max_tokens")),
    "rpm": ("CODECORTEX_LLM_RPM", ("rpm",)),
}


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
    problems: list[str] = field(default_factory=list, repr=False, compare=False)

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
        errors = list(self.problems)
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

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> LLMSettings:
        """Settings from ``CODECORTEX_LLM_*`` variables, then ``overrides`` (the LSP ``llm``
        section: camelCase or snake_case keys; ``None`` and ``""`` mean "not set")."""
        env = os.environ if env is None else env
        overrides = dict(overrides or {})
        raw: dict[str, Any] = {}
        for name, (var, keys) in _FIELDS.items():
            value: Any = env.get(var)
            for key in keys:
                if overrides.get(key) not in (None, ""):
                    value = overrides[key]
            if value not in (None, ""):
                raw[name] = value

        settings = cls()
        for name in ("provider", "model", "base_url", "api_version"):
            if name in raw:
                setattr(settings, name, str(raw[name]).strip())
        settings.provider = settings.provider.lower() or "none"
        for name, conv in (("timeout", float), ("max_tokens", int), ("rpm", int)):
            if name in raw:
                try:
                    setattr(settings, name, conv(raw[name]))
                except (TypeError, ValueError):
                    settings.problems.append(
                        f"{_FIELDS[name][0]}/{_FIELDS[name][1][0]}: {raw[name]!r} is not a number"
                    )

        key = ""
        for k in ("apiKey", "api_key"):
            if overrides.get(k):
                key = str(overrides[k])
        if settings.provider == "azure":
            key = (
                key
                or env.get("AZURE_OPENAI_API_KEY", "")
                or env.get("CODECORTEX_OPENAI_API_KEY", "")
            )
            settings.base_url = settings.base_url or env.get("AZURE_OPENAI_ENDPOINT", "")
            settings.api_version = (
                settings.api_version
                or env.get("OPENAI_API_VERSION", "")
                or DEFAULT_AZURE_API_VERSION
            )
        else:
            key = key or env.get("CODECORTEX_OPENAI_API_KEY", "") or env.get("OPENAI_API_KEY", "")
        settings.api_key = key.strip()
        return settings


__all__ = ["DEFAULT_AZURE_API_VERSION", "PROVIDERS", "LLMSettings"]
