"""Settings: one set of names for initializationOptions, didChangeConfiguration and CODECORTEX_*."""

from __future__ import annotations

from codecortex.config import SPECS, load_settings


def test_environment_then_client_precedence_and_names() -> None:
    env = {"CODECORTEX_MAX_FILE_SIZE": "1000", "CODECORTEX_LLM_BASE_URL": "http://env/v1",
           "CODECORTEX_HINTS": "false"}  # fmt: skip
    s = load_settings({"codecortex": {"llm": {"baseUrl": "http://client/v1"}}}, env=env)
    assert s.max_file_size == 1000 and s.hints is False  # from the environment
    assert s.llm_base_url == "http://client/v1"  # the client wins
    assert {spec.env for spec in SPECS} >= {
        "CODECORTEX_DATABASE_URL", "CODECORTEX_LLM_PROVIDER", "CODECORTEX_LLM_MODEL",
        "CODECORTEX_LLM_BASE_URL", "CODECORTEX_LLM_API_VERSION", "CODECORTEX_LLM_TIMEOUT",
        "CODECORTEX_LLM_MAX_TOKENS", "CODECORTEX_LLM_RPM",
    }  # fmt: skip


def test_invalid_values_fall_back_with_a_reason() -> None:
    s = load_settings(
        {"maxFileSize": -5, "embedder": "magic", "hints": "maybe", "bogus": 1},
        env={"CODECORTEX_LLM_TIMEOUT": "soon"},
    )
    assert (s.max_file_size, s.embedder, s.hints, s.llm_timeout) == (2_000_000, "hash", True, 30.0)
    text = "\n".join(s.errors)
    for name in ("maxFileSize", "embedder", "hints", "bogus", "CODECORTEX_LLM_TIMEOUT"):
        assert name in text


def test_client_api_key_is_used_but_never_shown() -> None:
    s = load_settings({"llm": {"provider": "openai", "apiKey": "sk-client-secret-123"}}, env={})
    assert "sk-client-secret-123" not in repr(s) and "sk-client-secret-123" not in str(s.public())
    llm = s.llm_settings(env={"OPENAI_API_KEY": "sk-env"})
    assert llm.api_key == "sk-client-secret-123"
    assert "sk-client-secret-123" not in repr(llm)
    assert load_settings({}, env={}).llm_settings(env={"OPENAI_API_KEY": "sk-env"}).api_key == (
        "sk-env"
    )
