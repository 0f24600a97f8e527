"""Learning paths: built by the model (fake OpenAI-compatible server over HTTP) from recurring
problems in the real database, grounded in the developer's files and past fixes; progress; the
`codecortex learn-path` command."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest
from conftest import codecortex_exe

from codecortex.config import load_settings
from codecortex.diagnostics import Diagnostic, Range
from codecortex.llm import LLMBadResponse, LLMClient, LLMSettings
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.store import identity as identity_store
from codecortex.store.pool import connect
from codecortex.synthesis.learning_paths import NotEnoughHistory, generate, mark_lesson, path_json
from codecortex.synthesis.runner import Synthesizer

try:
    from fakeopenai import FakeOpenAI, fake_openai_fixture
except ImportError:  # pragma: no cover
    from tests.fakeopenai import FakeOpenAI, fake_openai_fixture

assert fake_openai_fixture

USER = "learner@example.com"
BEFORE = "import os\nimport sys\n\nprint(sys.argv)\n"
AFTER = "import sys\n\nprint(sys.argv)\n"


def unused(name: str) -> Diagnostic:
    return Diagnostic(
        "Ruff", "F401", f"`{name}` imported but unused", Range.of(0, 7, 0, 7 + len(name))
    )


async def history(conn: Any) -> tuple[Identity, str]:
    """F401 fixed once in a.py (learned), then seen twice in b.py: a recurring problem."""
    user_id = await identity_store.ensure_user(conn, USER)
    ident = Identity(user_id, USER)
    memory = Memory(load_settings({}, env={}))
    await memory.observe(conn, ident, "/ws/a.py", BEFORE, "python", [unused("os")])
    done = await memory.observe(conn, ident, "/ws/a.py", AFTER, "python", [])
    (resolved,) = done.resolved
    assert resolved.solution_id is not None
    b = "import json\nimport re\n\nprint(re.compile('x'))\n"
    await memory.observe(conn, ident, "/ws/b.py", b, "python", [unused("json")])
    await memory.observe(conn, ident, "/ws/b.py", b, "python", [unused("json")])
    return ident, str(resolved.solution_id)


def path_reply(solution_id: str) -> dict[str, Any]:
    def lesson(title: str, files: list[str], ids: list[str]) -> dict[str, Any]:
        return {
            "title": title,
            "description": f"about {title}",
            "files": files,
            "solution_ids": ids,
            "exercise": "clean up the imports of b.py",
        }

    return {
        "title": "Tidy imports",
        "difficulty_level": "beginner",
        "duration_weeks": 2,
        "modules": [
            {
                "week": 2,
                "title": "Tooling",
                "goal": "let ruff fix it",
                "lessons": [lesson("ruff --fix", ["/ws/b.py"], [])],
            },
            {
                "week": 1,
                "title": "Unused imports",
                "goal": "spot them",
                "lessons": [
                    lesson("Why F401", ["/ws/a.py", "/etc/passwd"], [solution_id, "nope"]),
                    lesson("Your fix", [], [solution_id]),
                ],
            },
            {"week": 9, "title": "Out of range", "goal": "", "lessons": [lesson("x", [], [])]},
        ],
    }


def synthesizer(fake: FakeOpenAI) -> Synthesizer:
    settings = LLMSettings(provider="openai", model="fake-chat", base_url=fake.base_url)
    return Synthesizer(settings, client=LLMClient(settings, backoff_base=0.01))


async def test_learning_path_is_grounded_and_tracks_progress(
    db_settings, fake_openai: FakeOpenAI
) -> None:
    synth = synthesizer(fake_openai)
    async with connect(db_settings) as conn:
        ident, solution_id = await history(conn)
        fake_openai.reply_json(path_reply(solution_id))
        row = await generate(conn, synth, ident, weeks=2)

        prompt = fake_openai.requests_to("chat")[0].body["messages"][-1]["content"]
        assert "F401" in prompt and "/ws/b.py" in prompt and solution_id in prompt
        assert "Number of weeks: 2" in prompt

        path = path_json(row)
        assert path["title"] == "Tidy imports" and path["durationWeeks"] == 2
        assert [m["week"] for m in path["modules"]] == [1, 2]  # week 9 dropped, sorted
        first = path["modules"][0]["lessons"][0]
        assert first["id"] == "w1-l1"
        assert first["files"] == ["/ws/a.py"]  # /etc/passwd was not in the input
        assert first["solution_ids"] == [solution_id]  # "nope" was not either
        assert path["references"]["dropped"] == {"files": 1, "solution_ids": 1, "modules": 1}
        assert path["progress"] == {"completedLessons": [], "currentWeek": 1, "percent": 0}

        row = await mark_lesson(conn, ident.user_id, path["id"], "w1-l1", True)
        row = await mark_lesson(conn, ident.user_id, path["id"], "w1-l2", True)
        progress = path_json(row)["progress"]
        assert progress["currentWeek"] == 2 and progress["percent"] == 67
        row = await mark_lesson(conn, ident.user_id, path["id"], "w2-l1", True)
        assert path_json(row)["completedAt"] is not None
        row = await mark_lesson(conn, ident.user_id, path["id"], "w2-l1", False)
        assert path_json(row)["completedAt"] is None
        with pytest.raises(ValueError, match="no lesson"):
            await mark_lesson(conn, ident.user_id, path["id"], "w5-l1", True)

        # a path with no usable module is refused, not stored
        fake_openai.reply_json({**path_reply(solution_id), "modules": []})
        with pytest.raises(LLMBadResponse):
            await generate(conn, synth, ident, weeks=3)

        newcomer = Identity(await identity_store.ensure_user(conn, "new@example.com"), "new")
        with pytest.raises(NotEnoughHistory):
            await generate(conn, synth, newcomer)
    await synth.aclose()


async def test_learn_path_command(
    fresh_db: str, db_settings, cli_env: dict[str, str], fake_openai: FakeOpenAI, tmp_path
) -> None:
    async with connect(db_settings) as conn:
        _ident, solution_id = await history(conn)
    env = {
        **cli_env,
        "CODECORTEX_DATABASE_URL": fresh_db,
        "CODECORTEX_USER": USER,
        "CODECORTEX_LLM_PROVIDER": "openai",
        "CODECORTEX_LLM_MODEL": "fake-chat",
        "CODECORTEX_LLM_BASE_URL": fake_openai.base_url,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [codecortex_exe(), "learn-path", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    fake_openai.reply_json(path_reply(solution_id))
    made = await asyncio.to_thread(run, "--json")
    assert made.returncode == 0, made.stderr
    path = json.loads(made.stdout)
    assert path["modules"][0]["lessons"][0]["files"] == ["/ws/a.py"]

    done = await asyncio.to_thread(run, "--done", "w1-l1")
    assert done.returncode == 0, done.stderr
    assert "[x] w1-l1" in done.stdout and "[ ] w1-l2" in done.stdout
    assert "file: /ws/a.py" in done.stdout and f"past fix: {solution_id}" in done.stdout

    shown = await asyncio.to_thread(run, "--json")  # the latest path, no new model call
    assert json.loads(shown.stdout)["progress"]["completedLessons"] == ["w1-l1"]
    assert len(fake_openai.requests_to("chat")) == 1

    bad = await asyncio.to_thread(run, "--done", "w9-l9")
    assert bad.returncode == 1 and "no lesson" in bad.stderr

    fake_openai.reply_status(500, times=4)  # --new asks the model again (no cache)
    failed = await asyncio.to_thread(run, "--new")
    assert failed.returncode == 1 and "HTTP 500" in failed.stderr
