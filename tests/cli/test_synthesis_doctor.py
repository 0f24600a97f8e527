"""`codecortex doctor` checks the configured model endpoint for real (fake server over HTTP)."""

from __future__ import annotations

import asyncio
import socket
import subprocess

from conftest import codecortex_exe

try:
    from fakeopenai import FakeOpenAI, fake_openai_fixture
except ImportError:  # pragma: no cover
    from tests.fakeopenai import FakeOpenAI, fake_openai_fixture

assert fake_openai_fixture


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [codecortex_exe(), "doctor"], env=env, capture_output=True, text=True, timeout=60
    )


def model_line(out: str) -> str:
    (line,) = [x for x in out.splitlines() if "model endpoint:" in x]
    return line


async def test_doctor_pings_the_model_endpoint(
    fresh_db: str, cli_env: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    key = "sk-doctor-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9"
    fake_openai.configure(api_key=key)
    env = {
        **cli_env,
        "CODECORTEX_DATABASE_URL": fresh_db,
        "CODECORTEX_LLM_PROVIDER": "openai",
        "CODECORTEX_LLM_MODEL": "fake-chat",
        "CODECORTEX_LLM_BASE_URL": fake_openai.base_url,
        "CODECORTEX_OPENAI_API_KEY": key,
    }
    ok = await asyncio.to_thread(doctor, env)
    line = model_line(ok.stdout)
    assert line.startswith("ok") and "including 'fake-chat'" in line, ok.stdout
    assert key not in ok.stdout + ok.stderr
    assert fake_openai.requests_to("models")

    wrong_key = await asyncio.to_thread(doctor, {**env, "CODECORTEX_OPENAI_API_KEY": "sk-wrong"})
    assert model_line(wrong_key.stdout).startswith("FAIL") and "401" in wrong_key.stdout
    assert wrong_key.returncode == 1

    unknown = await asyncio.to_thread(doctor, {**env, "CODECORTEX_LLM_MODEL": "gpt-none"})
    assert model_line(unknown.stdout).startswith("warn")
    assert "does not list model 'gpt-none'" in unknown.stdout

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = await asyncio.to_thread(
        doctor, {**env, "CODECORTEX_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1"}
    )
    assert model_line(down.stdout).startswith("FAIL") and "cannot reach" in down.stdout
