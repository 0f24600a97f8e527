"""Configuration, read in one place: the server settings tree (`settings`: LSP options and
`CODECORTEX_*` variables, with its `llm` section and the one model API key reader in `llm`) and
the per-project `[tool.codecortex]` table (`project`)."""

from __future__ import annotations

from codecortex.config.llm import DEFAULT_AZURE_API_VERSION, PROVIDERS, LLMSettings, read_api_key
from codecortex.config.project import ProjectConfig, load_project_config
from codecortex.config.settings import (
    CLIENT_KEY_SETTING,
    SPEC_BY_NAME,
    SPECS,
    Settings,
    SettingSpec,
    load_settings,
    settings_table_markdown,
)

__all__ = [
    "CLIENT_KEY_SETTING",
    "DEFAULT_AZURE_API_VERSION",
    "PROVIDERS",
    "SPECS",
    "SPEC_BY_NAME",
    "LLMSettings",
    "ProjectConfig",
    "SettingSpec",
    "Settings",
    "load_project_config",
    "load_settings",
    "read_api_key",
    "settings_table_markdown",
]
