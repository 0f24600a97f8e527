"""Server settings: one set of names for LSP `initializationOptions`, `workspace/didChangeConfiguration`
(section `codecortex`) and `CODECORTEX_*` environment variables.

The LSP name `maxFileSize` is the environment variable `CODECORTEX_MAX_FILE_SIZE`; nested LLM settings
(`llm.baseUrl`) are `CODECORTEX_LLM_BASE_URL`. Precedence: defaults < environment < client settings.
Invalid values are reported (the caller tells the user once) and fall back to the default.
"""

from __future__ import annotations

import builtins
import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from codecortex.config.llm import DEFAULT_AZURE_API_VERSION, LLMSettings, read_api_key


@dataclass(frozen=True)
class SettingSpec:
    """One client-visible setting: its name (camelCase, dotted for nested: llm.baseUrl), help
    and limits; its type and default are those of its `Settings` field (`attr`)."""

    name: str
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def type(self) -> builtins.type:
        return _TYPES[str(_FIELDS[self.attr].type)]

    @property
    def default(self) -> Any:
        return _FIELDS[self.attr].default

    @property
    def env(self) -> str:
        return "CODECORTEX_" + re.sub(r"(?<!^)(?=[A-Z])", "_", self.name.replace(".", "_")).upper()

    @property
    def attr(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name.replace(".", "_")).lower()


CLIENT_KEY_SETTING = "llm.apiKey"


@dataclass
class Settings:
    database_url: str = ""
    data_dir: str = ""
    user: str = ""
    embedder: str = "hash"
    embedding_model: str = "text-embedding-3-small"
    embedding_base_url: str = ""
    hints: bool = True
    detect_on_save: bool = False
    notifications: str = "errors"
    max_file_size: int = 2_000_000
    max_diff_lines: int = 60
    replay_min_confidence: float = 0.8
    default_visibility: str = "private"
    share_docs: bool = False
    insights: bool = True
    analysis_max_complexity: int = 10
    analysis_max_function_lines: int = 80
    analysis_max_nesting: int = 4
    analysis_max_params: int = 6
    llm_provider: str = "none"
    llm_model: str = ""
    llm_base_url: str = ""
    llm_api_version: str = ""
    llm_timeout: float = 30.0
    llm_max_tokens: int = 1024
    llm_rpm: int = 60
    github_client_id: str = ""
    github_url: str = "https://github.com"
    github_api_url: str = ""
    github_scopes: str = "repo read:user"
    log_level: str = "info"
    # A model API key handed over by the client (`llm.apiKey`): kept in memory only, never in
    # SPECS (so never read from CODECORTEX_* nor shown); `read_api_key` falls back to the
    # environment.
    llm_api_key: str = field(default="", compare=False, repr=False)
    errors: list[str] = field(default_factory=list, compare=False, repr=False)

    def data_path(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir).expanduser()
        return Path(platformdirs.user_data_dir("codecortex", appauthor=False))

    def public(self) -> dict[str, Any]:
        return {s.name: getattr(self, s.attr) for s in SPECS}

    def llm_settings(self, env: Mapping[str, str] | None = None) -> LLMSettings:
        """The `llm` section with the API key (`read_api_key`); for Azure, an empty endpoint or
        API version comes from `AZURE_OPENAI_ENDPOINT` / `OPENAI_API_VERSION` (else a default)."""
        env = os.environ if env is None else env
        provider = self.llm_provider.strip().lower() or "none"
        base_url, api_version = self.llm_base_url.strip(), self.llm_api_version.strip()
        if provider == "azure":
            base_url = base_url or env.get("AZURE_OPENAI_ENDPOINT", "")
            api_version = (
                api_version or env.get("OPENAI_API_VERSION", "") or DEFAULT_AZURE_API_VERSION
            )
        return LLMSettings(
            provider=provider,
            model=self.llm_model.strip(),
            base_url=base_url,
            api_version=api_version,
            timeout=self.llm_timeout,
            max_tokens=self.llm_max_tokens,
            rpm=self.llm_rpm,
            api_key=read_api_key(provider, self.llm_api_key, env),
        )


# the type and default of each setting are its `Settings` field's
_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_TYPES: dict[str, type] = {"str": str, "bool": bool, "int": int, "float": float}

SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("databaseUrl", "PostgreSQL URL; empty = the embedded database"),
    SettingSpec("dataDir", "Where the embedded database lives (default: user data dir)"),
    SettingSpec("user", "Your identity; default: git user.email, else the OS user"),
    SettingSpec("embedder", "Embedding provider", choices=("hash", "openai")),
    SettingSpec("embeddingModel", "Model for embedder=openai"),
    SettingSpec("embeddingBaseUrl", "OpenAI-compatible base URL for embeddings"),
    SettingSpec("hints", "Show hint diagnostics for problems with known fixes"),
    SettingSpec("detectOnSave", "Run detectors (ruff, mypy, ...) on save"),
    SettingSpec(
        "notifications",
        "What pops up: nothing, errors and warnings (notices such as achievements go to the "
        "log), or everything",
        choices=("off", "errors", "all"),
    ),
    SettingSpec("maxFileSize", "Files larger than this (bytes) are skipped", minimum=1),
    SettingSpec("maxDiffLines", "Larger fixes are not learned", minimum=1),
    SettingSpec("replayMinConfidence", "Minimum confidence for --fix", minimum=0, maximum=1),
    SettingSpec("defaultVisibility", "Visibility of new rows", choices=("private", "team")),
    SettingSpec(
        "shareDocs",
        "Index the workspace's docs team-visible (a team database); default: only you see them",
    ),
    SettingSpec("insights", "Show code insights as diagnostics"),
    SettingSpec(
        "analysis.maxComplexity",
        "Cyclomatic complexity above which a function is reported",
        minimum=1,
    ),
    SettingSpec(
        "analysis.maxFunctionLines",
        "Function length in lines above which it is reported",
        minimum=1,
    ),
    SettingSpec(
        "analysis.maxNesting", "Block nesting depth above which a function is reported", minimum=1
    ),
    SettingSpec(
        "analysis.maxParams", "Parameter count above which a function is reported", minimum=1
    ),
    SettingSpec("llm.provider", "Model provider", choices=("none", "openai", "azure")),
    SettingSpec("llm.model", "Chat model name (Azure: deployment)"),
    SettingSpec("llm.baseUrl", "OpenAI-compatible base URL (Ollama, vLLM, ...)"),
    SettingSpec("llm.apiVersion", "Azure OpenAI API version"),
    SettingSpec("llm.timeout", "Seconds per model request", minimum=1),
    SettingSpec("llm.maxTokens", "Maximum tokens per answer", minimum=16),
    SettingSpec("llm.rpm", "Requests per minute to the model", minimum=1),
    SettingSpec("github.clientId", "OAuth app client id for `codecortex github login`"),
    SettingSpec("github.url", "GitHub (or GitHub Enterprise Server) URL"),
    SettingSpec("github.apiUrl", "REST API URL; default: derived from github.url"),
    SettingSpec("github.scopes", "OAuth scopes asked for at sign-in"),
    SettingSpec("logLevel", "Server log level", choices=("debug", "info", "warning", "error")),
)
SPEC_BY_NAME = {s.name: s for s in SPECS}


def _coerce(spec: SettingSpec, value: Any) -> Any:
    if spec.type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("expected true or false")
    if spec.type in (int, float):
        if isinstance(value, bool):
            raise ValueError("expected a number")
        number = spec.type(value)
        if spec.minimum is not None and number < spec.minimum:
            raise ValueError(f"must be at least {spec.minimum:g}")
        if spec.maximum is not None and number > spec.maximum:
            raise ValueError(f"must be at most {spec.maximum:g}")
        return number
    if not isinstance(value, str):
        raise ValueError("expected a string")
    if spec.choices and value not in spec.choices:
        raise ValueError(f"must be one of {', '.join(spec.choices)}")
    return value


def _flatten(options: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in options.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in SPEC_BY_NAME:
            flat.update(_flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def load_settings(
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults, then `CODECORTEX_*` from `env`, then client `options` (nested or dotted keys).

    Unknown keys and invalid values are collected in `Settings.errors`; the default is kept.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    errors: list[str] = []
    for spec in SPECS:
        raw = env.get(spec.env)
        if raw is None or (raw == "" and spec.type is not str):
            continue
        try:
            values[spec.attr] = _coerce(spec, raw)
        except (TypeError, ValueError) as exc:
            errors.append(f"{spec.env}={raw!r}: {exc}; using {spec.default!r}")
    if options:
        section = options.get("codecortex", options)
        if isinstance(section, Mapping):
            for name, raw in _flatten(section).items():
                if name == CLIENT_KEY_SETTING:
                    if isinstance(raw, str):
                        values["llm_api_key"] = raw.strip()
                    else:
                        errors.append(f"codecortex.{name}: expected a string")
                    continue
                found = SPEC_BY_NAME.get(name)
                if found is None:
                    errors.append(f"unknown setting codecortex.{name}")
                    continue
                if raw is None:
                    continue
                try:
                    values[found.attr] = _coerce(found, raw)
                except (TypeError, ValueError) as exc:
                    errors.append(f"codecortex.{name}={raw!r}: {exc}; using {found.default!r}")
        else:
            errors.append("settings for codecortex must be an object")
    settings = Settings(**values)
    settings.errors = errors
    return settings


def settings_table_markdown() -> str:
    """The README's settings table, generated so that docs cannot drift from the code."""
    rows = ["| Setting | Environment | Default | Description |", "| --- | --- | --- | --- |"]
    for spec in SPECS:
        default = spec.default if spec.default != "" else "(empty)"
        if isinstance(default, bool):
            default = str(default).lower()
        desc = spec.help + (f" ({' / '.join(spec.choices)})" if spec.choices else "")
        rows.append(f"| `{spec.name}` | `{spec.env}` | `{default}` | {desc} |")
    return "\n".join(rows)


assert {s.attr for s in SPECS} == {f.name for f in dataclasses.fields(Settings)} - {
    "errors",
    "llm_api_key",
}
