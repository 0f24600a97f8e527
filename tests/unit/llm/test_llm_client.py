"""LLM settings, prompt templates, budgeting and the chat client against the fake server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import TESTS

from codecortex.config import load_settings
from codecortex.llm import (
    AsyncTokenBucket,
    LLMAuthError,
    LLMBadResponse,
    LLMClient,
    LLMError,
    LLMNotConfigured,
    LLMRateLimited,
    LLMRefused,
    LLMSettings,
    LLMTimeout,
    LLMUnavailable,
    PromptTemplate,
    estimate_tokens,
    fit_to_budget,
    load_templates,
)
from codecortex.llm.client import wire_schema
from codecortex.llm.schema import validate

try:
    from fakeopenai import FakeOpenAI, fake_openai_fixture
except ImportError:  # tests/ is a package or on another path
    from tests.fakeopenai import FakeOpenAI, fake_openai_fixture

assert fake_openai_fixture  # the fixture is registered by importing it

FIX_SCHEMA = load_templates()["synthesize_fix"].schema
GOOD_FIX = {
    "explanation": "Import the missing name.",
    "confidence": 0.8,
    "edits": [
        {
            "start_line": 0,
            "start_character": 0,
            "end_line": 0,
            "end_character": 0,
            "new_text": "import os\n",
        }
    ],
}
MESSAGES = [
    {"role": "system", "content": "You fix code."},
    {"role": "user", "content": "F821 undefined name 'os' at line 3"},
]


def make_client(fake: FakeOpenAI, **kw: Any) -> LLMClient:
    settings = LLMSettings(
        provider="openai",
        model="fake-chat",
        base_url=fake.base_url,
        timeout=kw.pop("timeout", 2.0),
        rpm=kw.pop("rpm", 6000),
    )
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_cap", 0.05)
    return LLMClient(settings, **kw)


# ------------------------------------------------------------------------------------ settings


def _llm(env: dict[str, str], llm: dict[str, Any] | None = None) -> LLMSettings:
    """The `llm` section as the server reads it: `CODECORTEX_*` from `env`, then the client's."""
    return load_settings({"llm": llm} if llm else None, env=env).llm_settings(env)


def test_settings_from_env_and_overrides() -> None:
    env = {
        "CODECORTEX_LLM_PROVIDER": "openai",
        "CODECORTEX_LLM_MODEL": "gpt-4o-mini",
        "CODECORTEX_LLM_TIMEOUT": "12.5",
        "CODECORTEX_LLM_MAX_TOKENS": "2048",
        "CODECORTEX_LLM_RPM": "30",
        "OPENAI_API_KEY": "sk-from-openai-env",
        "CODECORTEX_OPENAI_API_KEY": "sk-from-codecortex-env",
    }
    s = _llm(env)
    assert (s.provider, s.model, s.timeout, s.max_tokens, s.rpm) == (
        "openai",
        "gpt-4o-mini",
        12.5,
        2048,
        30,
    )
    assert s.api_key == "sk-from-codecortex-env"  # CODECORTEX_ key wins
    assert s.enabled
    assert s.validate() == []
    o = _llm(env, {"model": "local-model", "baseUrl": "http://127.0.0.1:11434/v1", "rpm": None})
    assert (o.model, o.base_url, o.rpm) == ("local-model", "http://127.0.0.1:11434/v1", 30)
    plain = _llm({"OPENAI_API_KEY": "sk-x"})
    assert plain.provider == "none"
    assert not plain.enabled
    assert plain.api_key == "sk-x"


def test_settings_azure_env() -> None:
    env = {
        "CODECORTEX_LLM_PROVIDER": "azure",
        "CODECORTEX_LLM_MODEL": "my-deployment",
        "AZURE_OPENAI_API_KEY": "azure-key",
        "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
        "OPENAI_API_KEY": "not-this-one",
    }
    s = _llm(env)
    assert s.api_key == "azure-key"
    assert s.base_url == "https://example.openai.azure.com"
    assert s.api_version  # a default API version
    assert s.validate() == []
    missing = _llm({"CODECORTEX_LLM_PROVIDER": "azure"})
    errors = " ".join(missing.validate())
    assert "llm.model" in errors
    assert "AZURE_OPENAI_ENDPOINT" in errors
    assert "AZURE_OPENAI_API_KEY" in errors


def test_settings_validation_and_secret_handling() -> None:
    s = LLMSettings(provider="openai", model="m", api_key="sk-very-secret-value")
    assert "sk-very-secret-value" not in repr(s)
    assert "sk-very-secret-value" not in str(s)
    assert "***" in repr(s)
    assert "sk-very-secret-value" not in json.dumps(s.to_dict())
    assert s.validate() == []
    assert LLMSettings(provider="openai", model="m").validate()  # no key, no base URL
    assert LLMSettings(provider="openai", model="m", base_url="http://localhost:1").validate() == []
    assert any("provider" in e for e in LLMSettings(provider="gemini").validate())
    env = {"CODECORTEX_LLM_TIMEOUT": "soon", "CODECORTEX_LLM_RPM": "0"}
    parsed = load_settings({"llm": {"baseUrl": "ftp://x"}}, env=env)
    errors = " ".join(parsed.errors)
    assert "CODECORTEX_LLM_TIMEOUT='soon'" in errors
    assert "CODECORTEX_LLM_RPM='0'" in errors
    assert "llm.baseUrl" in " ".join(parsed.llm_settings(env).validate())
    assert "llm.rpm" in " ".join(LLMSettings(rpm=0).validate())


# ----------------------------------------------------------------------------------- templates


def test_templates_load_and_render() -> None:
    templates = load_templates()
    assert {"synthesize_fix", "learning_path", "deep_analysis"} <= templates.keys()
    for t in templates.values():
        assert t.version >= 1
        assert len(t.digest) == 64
        assert t.schema["type"] == "object"
    fix = templates["synthesize_fix"]
    values = {name: f"<{name}>" for name in fix.placeholders}
    values["code"] = "0| def f():\n1|     return {'a': 1}  # {not_a_placeholder}"
    messages = fix.render(**values)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "0| def f():\n1|     return {'a': 1}  # {not_a_placeholder}" in messages[1]["content"]
    assert "<diagnostic>" in messages[1]["content"]
    with pytest.raises(ValueError, match="code"):
        fix.render(**{k: v for k, v in values.items() if k != "code"})
    assert set(fix.schema["properties"]) == {"explanation", "confidence", "edits"}
    assert validate(GOOD_FIX, fix.schema) == []
    deep = templates["deep_analysis"]
    assert deep.schema["properties"]["insights"]["type"] == "array"
    path = templates["learning_path"]
    module = path.schema["properties"]["modules"]["items"]
    assert "lessons" in module["properties"]


def test_template_digest_and_cache_key(tmp_path: Path) -> None:
    fix = load_templates()["synthesize_fix"]
    data = fix.to_dict()
    assert PromptTemplate.from_dict(data).digest == fix.digest
    changed = PromptTemplate.from_dict({**data, "user": data["user"] + " "})
    assert changed.digest != fix.digest
    bumped = PromptTemplate.from_dict({**data, "version": 2})
    assert bumped.digest != fix.digest
    key = fix.cache_key("gpt-4o", code="x", diagnostic="y")
    assert key == fix.cache_key("gpt-4o", diagnostic="y", code="x")
    assert key != fix.cache_key("gpt-4o-mini", code="x", diagnostic="y")
    assert key != bumped.cache_key("gpt-4o", code="x", diagnostic="y")
    # a directory of templates: the highest version of a name wins; bad files are reported
    (tmp_path / "a.json").write_text(json.dumps(data))
    (tmp_path / "b.json").write_text(json.dumps({**data, "version": 3}))
    assert load_templates(tmp_path)["synthesize_fix"].version == 3
    (tmp_path / "c.json").write_text('{"name": "broken"}')
    with pytest.raises(ValueError, match=r"c\.json"):
        load_templates(tmp_path)


# -------------------------------------------------------------------------------------- budget


def test_fit_to_budget() -> None:
    sections = [
        ("Diagnostic", "F821 undefined name", 10),
        ("Code", "\n".join(f"line {i}" for i in range(200)), 8),
        ("Knowledge", "k" * 4000, 1),
        ("Past solutions", "p" * 400, 5),
    ]
    everything = fit_to_budget(sections, 100_000)
    assert everything.index("## Diagnostic") < everything.index("## Code")
    assert everything.index("## Knowledge") < everything.index("## Past solutions")
    roomy = fit_to_budget(sections, 600)  # everything but part of the knowledge fits
    assert estimate_tokens(roomy) <= 600
    assert "## Knowledge" in roomy and "k" * 4000 not in roomy
    assert "line 199" in roomy and "p" * 400 in roomy
    small = fit_to_budget(sections, 500)
    assert estimate_tokens(small) <= 500
    assert "## Knowledge" not in small  # lowest priority dropped first
    assert "F821 undefined name" in small and "line 199" in small
    assert "p" * 400 not in small and "truncated" in small  # next one cut, not dropped
    smaller = fit_to_budget(sections, 300)
    assert "## Past solutions" not in smaller
    assert "line 0\n" in smaller and "line 199" not in smaller  # the code was truncated
    tiny = fit_to_budget(sections, 30)
    assert estimate_tokens(tiny) <= 30
    assert "F821" in tiny
    assert fit_to_budget(sections, 0) == ""
    assert estimate_tokens("abcd" * 10) == 10


def test_schema_validator_and_wire_schema() -> None:
    bad = {**GOOD_FIX, "confidence": 1.5, "edits": [{"start_line": "0"}]}
    errors = validate(bad, FIX_SCHEMA)
    assert any("confidence" in e and "maximum" in e for e in errors)
    assert any("start_line" in e and "integer" in e for e in errors)
    assert any("new_text" in e for e in errors)
    assert validate({**GOOD_FIX, "extra": 1}, FIX_SCHEMA)  # additionalProperties: false
    assert validate(True, {"type": "integer"})  # bool is not an integer
    wire = wire_schema(FIX_SCHEMA)
    assert "maximum" not in json.dumps(wire)
    assert wire["properties"]["edits"]["items"]["required"] == [
        "start_line",
        "start_character",
        "end_line",
        "end_character",
        "new_text",
    ]


async def test_token_bucket_limits_rate() -> None:
    bucket = AsyncTokenBucket(600, burst=1)  # 10 per second
    start = time.monotonic()
    for _ in range(4):
        await bucket.acquire()
    assert time.monotonic() - start >= 0.28


# -------------------------------------------------------------------------------------- client


async def test_chat_json_success(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_json(GOOD_FIX)
    client = make_client(fake_openai)
    result = await client.chat_json(MESSAGES, FIX_SCHEMA, name="synthesize_fix")
    await client.aclose()
    assert result.data == GOOD_FIX
    assert result.model == "fake-chat"
    assert result.prompt_tokens > 0
    assert result.completion_tokens > 0
    assert result.latency_ms >= 0
    assert json.loads(result.raw) == GOOD_FIX
    assert result.structured == "json_schema"
    (request,) = fake_openai.requests_to("chat")
    fmt = request.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "synthesize_fix"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == wire_schema(FIX_SCHEMA)
    assert request.body["max_tokens"] == 1024
    assert request.body["messages"] == MESSAGES


async def test_falls_back_to_json_object_and_remembers(fake_openai: FakeOpenAI) -> None:
    fake_openai.configure(supports_json_schema=False)
    fake_openai.reply_json(GOOD_FIX)
    fake_openai.reply_json(GOOD_FIX)
    client = make_client(fake_openai)
    first = await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    second = await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()
    assert first.data == second.data == GOOD_FIX
    assert first.structured == second.structured == "json_object"
    formats = [r.body["response_format"]["type"] for r in fake_openai.requests_to("chat")]
    assert formats == ["json_schema", "json_object", "json_object"]
    sent = fake_openai.requests_to("chat")[1].body["messages"]
    assert "JSON schema" in sent[0]["content"]
    assert '"explanation"' in sent[0]["content"]


async def test_fenced_json_is_accepted(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_text("```json\n" + json.dumps(GOOD_FIX) + "\n```")
    client = make_client(fake_openai)
    result = await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()
    assert result.data == GOOD_FIX


async def test_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_sleep(3.0)
    client = make_client(fake_openai, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(LLMTimeout, match=r"within 0\.5 s") as info:
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()
    assert time.monotonic() - start < 2.0
    assert isinstance(info.value, LLMError)
    assert len(fake_openai.requests_to("chat")) == 1  # timeouts are not retried


async def test_429_with_retry_after_then_success(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_status(429, retry_after=0.5)
    fake_openai.reply_json(GOOD_FIX)
    client = make_client(fake_openai)
    start = time.monotonic()
    result = await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    elapsed = time.monotonic() - start
    await client.aclose()
    assert result.data == GOOD_FIX
    assert elapsed >= 0.5  # waited as the server asked
    assert len(fake_openai.requests_to("chat")) == 2


async def test_429_until_rate_limited(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_status(429, retry_after=0.05, times=3)
    client = make_client(fake_openai, max_retries=2)
    with pytest.raises(LLMRateLimited, match="429") as info:
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    assert info.value.retry_after == pytest.approx(0.05)
    assert len(fake_openai.requests_to("chat")) == 3
    # a Retry-After longer than we accept fails at once instead of blocking the editor
    fake_openai.reply_status(429, retry_after=3600)
    start = time.monotonic()
    with pytest.raises(LLMRateLimited, match="3600"):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    assert time.monotonic() - start < 1.0
    await client.aclose()


async def test_5xx_until_unavailable(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_status(500, times=3)
    fake_openai.reply_status(503, times=1)
    client = make_client(fake_openai, max_retries=3)
    with pytest.raises(LLMUnavailable, match=r"HTTP 503.*4 attempts"):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    assert len(fake_openai.requests_to("chat")) == 4
    fake_openai.reply_status(502)
    fake_openai.reply_json(GOOD_FIX)
    result = await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()
    assert result.data == GOOD_FIX


async def test_malformed_json_is_bad_response(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_text('{"explanation": "missing the end"')
    client = make_client(fake_openai)
    with pytest.raises(LLMBadResponse, match="valid JSON"):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    fake_openai.reply_json({"explanation": "x", "confidence": "high", "edits": []})
    with pytest.raises(LLMBadResponse, match="confidence"):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    fake_openai.reply_json([1, 2, 3])
    with pytest.raises(LLMBadResponse, match="not an object"):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    fake_openai.reply_finish("length", '{"explanation": "cut')
    with pytest.raises(LLMBadResponse, match="maxTokens"):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()


async def test_refusal_and_content_filter(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_refusal("I can't help with that request.")
    client = make_client(fake_openai)
    with pytest.raises(LLMRefused, match="can't help"):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    fake_openai.reply_finish("content_filter")
    with pytest.raises(LLMRefused, match="content filter"):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()


async def test_endpoint_down_is_unavailable() -> None:
    settings = LLMSettings(
        provider="openai", model="m", base_url="http://127.0.0.1:9/v1", timeout=2
    )
    client = LLMClient(settings, max_retries=2, backoff_base=0.01)
    with pytest.raises(LLMUnavailable, match="cannot reach") as info:
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    assert "3 attempts" in info.value.message
    with pytest.raises(LLMUnavailable):
        await client.ping()
    await client.aclose()


async def test_dropped_connection_is_unavailable(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_drop()
    fake_openai.reply_drop()
    client = make_client(fake_openai, max_retries=1)
    with pytest.raises(LLMUnavailable):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()


async def test_auth_error_and_not_configured(fake_openai: FakeOpenAI) -> None:
    fake_openai.configure(api_key="the-right-key")
    settings = LLMSettings(
        provider="openai", model="m", base_url=fake_openai.base_url, api_key="wrong"
    )
    client = LLMClient(settings)
    with pytest.raises(LLMAuthError, match="401"):
        await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()
    assert "wrong" not in fake_openai.received_text()
    ok = LLMClient(
        LLMSettings(
            provider="openai", model="m", base_url=fake_openai.base_url, api_key="the-right-key"
        )
    )
    fake_openai.reply_json(GOOD_FIX)
    assert (await ok.chat_json(MESSAGES, FIX_SCHEMA, name="fix")).data == GOOD_FIX
    await ok.aclose()
    with pytest.raises(LLMNotConfigured, match="none"):
        await LLMClient(LLMSettings()).chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    with pytest.raises(LLMNotConfigured, match=r"llm\.model"):
        await LLMClient(LLMSettings(provider="openai", base_url="http://x")).ping()


async def test_max_completion_tokens_fallback(fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_status(
        400,
        body={
            "error": {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this "
                "model. Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error",
            }
        },
    )
    fake_openai.reply_json(GOOD_FIX)
    client = make_client(fake_openai)
    result = await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()
    assert result.data == GOOD_FIX
    first, second = (r.body for r in fake_openai.requests_to("chat"))
    assert "max_tokens" in first
    assert "max_tokens" not in second
    assert second["max_completion_tokens"] == 1024
    assert second["response_format"]["type"] == "json_schema"  # not mistaken for a schema error


async def test_secrets_never_reach_the_endpoint(fake_openai: FakeOpenAI) -> None:
    secrets = {
        "openai": "sk-proj-" + "Qw3rTy" * 7,
        "github": "ghp_" + "Zz9Yy8Xx7W" * 4,
        "aws": "AKIAIOSFODNN7EXAMPLE",
        "password": "correct-horse-battery-staple",
        "pg": "pgPassw0rd",
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU",
    }
    template = load_templates()["synthesize_fix"]
    code = (
        f'0| OPENAI_KEY = "{secrets["openai"]}"\n'
        f'1| gh = Github("{secrets["github"]}")\n'
        f"2| boto3.client('s3', aws_access_key_id='{secrets['aws']}')\n"
        f'3| password = "{secrets["password"]}"\n'
        f'4| DSN = "postgres://app:{secrets["pg"]}@db:5432/app"\n'
        f'5| headers = {{"Authorization": "Bearer {secrets["jwt"]}"}}\n'
    )
    messages = template.render(
        language="python",
        path="app/settings.py",
        diagnostic="F821 undefined name 'Github'",
        code=code,
        past_solutions=f"- added `from github import Github` (token {secrets['github']})",
        knowledge="",
    )
    fake_openai.reply_json(GOOD_FIX)
    client = make_client(fake_openai)
    result = await client.chat_json(messages, template.schema, name=template.name)
    await client.aclose()
    assert result.redactions >= 6
    received = fake_openai.received_text()
    assert "undefined name 'Github'" in received  # the prompt itself did arrive
    for name, secret in secrets.items():
        assert secret not in received, f"{name} secret reached the endpoint"
    assert messages[1]["content"].count(secrets["github"]) == 2  # caller's copy untouched


async def test_rate_limit_is_applied_client_side(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai, rpm=600, burst=1)
    start = time.monotonic()
    await asyncio.gather(*(client.chat_json(MESSAGES, FIX_SCHEMA, name="fix") for _ in range(4)))
    await client.aclose()
    assert time.monotonic() - start >= 0.28
    assert len(fake_openai.requests_to("chat")) == 4


async def test_ping(fake_openai: FakeOpenAI) -> None:
    client = make_client(fake_openai)
    assert (await client.ping()).startswith("ok:")
    fake_openai.configure(models=["other-model"])
    assert "does not list model 'fake-chat'" in await client.ping()
    fake_openai.reply_status(404, endpoint="models")
    message = await client.ping()  # no model listing: falls back to a 1-token chat
    assert message.startswith("ok:") and "1-token chat" in message
    chat = fake_openai.requests_to("chat")[-1].body
    assert chat["max_tokens"] == 1
    await client.aclose()


async def test_azure_provider(fake_openai: FakeOpenAI) -> None:
    settings = _llm(
        {
            "CODECORTEX_LLM_PROVIDER": "azure",
            "CODECORTEX_LLM_MODEL": "fix-deployment",
            "AZURE_OPENAI_ENDPOINT": fake_openai.url,
            "AZURE_OPENAI_API_KEY": "azure-test-key",
        }
    )
    fake_openai.reply_json(GOOD_FIX)
    client = LLMClient(settings)
    result = await client.chat_json(MESSAGES, FIX_SCHEMA, name="fix")
    await client.aclose()
    assert result.data == GOOD_FIX
    assert result.model == "fix-deployment"
    (request,) = fake_openai.requests_to("chat")
    assert "/openai/deployments/fix-deployment/chat/completions" in request.path
    assert "api-version=" in request.path
    assert request.headers.get("api-key") == "azure-test-key"


def test_fake_server_runs_as_a_subprocess() -> None:
    script = TESTS / "helpers" / "fakeopenai.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        root = base_url[: -len("/v1")]

        def post(path: str, payload: Any) -> Any:
            req = urllib.request.Request(
                root + path,
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())

        post("/_fake/push", {"endpoint": "chat", "actions": [{"kind": "json", "data": GOOD_FIX}]})
        settings = LLMSettings(provider="openai", model="m", base_url=base_url, timeout=5)

        async def run() -> Any:
            client = LLMClient(settings)
            try:
                return await client.chat_json(
                    [{"role": "user", "content": 'password = "swordfish1"'}], FIX_SCHEMA, name="f"
                )
            finally:
                await client.aclose()

        assert asyncio.run(run()).data == GOOD_FIX
        with urllib.request.urlopen(root + "/_fake/requests", timeout=5) as resp:
            recorded = json.loads(resp.read())["requests"]
        assert [r["endpoint"] for r in recorded] == ["chat"]
        assert "swordfish1" not in recorded[0]["raw"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
