"""Synthesized fixes (engine) against the fake OpenAI-compatible server over real HTTP with the
real `openai` client and the real database: grounding, validation, cache, failure modes,
redaction and acceptance statistics per template version."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from codecortex.config import load_settings
from codecortex.diagnostics import Diagnostic, Range, apply_edits
from codecortex.llm import LLMClient, LLMSettings
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.reports.stats import collect_stats
from codecortex.store import identity as identity_store
from codecortex.store import prompts as prompt_store
from codecortex.store import synthesis as synth_store
from codecortex.store.pool import connect
from codecortex.synthesis.fixes import InvalidEdits, record_action, synthesize_fix, validate_edits
from codecortex.synthesis.grounding import FixRequest, build_grounding, gather_sources
from codecortex.synthesis.runner import Synthesizer

try:
    from fakeopenai import FakeOpenAI, fake_openai_fixture
except ImportError:  # pragma: no cover
    from tests.fakeopenai import FakeOpenAI, fake_openai_fixture

assert fake_openai_fixture

SECRET = "sk-proj-Zq8RkT1vW3xY5aB7cD9eF0gH2iJ4kL6m"
TEXT = "import sys\n\n\ndef main():\n    print(os.getcwd(), sys.argv)\n"
DIAG = Diagnostic("Ruff", "F821", "Undefined name `os`", Range.of(4, 10, 4, 12))
GOOD_FIX = {
    "explanation": "Import os, which main() uses.",
    "confidence": 0.85,
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


def synthesizer(fake: FakeOpenAI, **kw: Any) -> Synthesizer:
    settings = LLMSettings(
        provider="openai", model="fake-chat", base_url=fake.base_url, timeout=kw.pop("timeout", 5)
    )
    client = LLMClient(settings, backoff_base=0.02, backoff_cap=0.1, **kw)
    return Synthesizer(settings, client=client)


async def setup(conn: Any, text: str = TEXT, diag: Diagnostic = DIAG) -> tuple[Identity, dict]:
    settings = load_settings({}, env={})
    user_id = await identity_store.ensure_user(conn, "dev@example.com")
    ident = Identity(user_id, "dev@example.com")
    memory = Memory(settings)
    obs = await memory.observe(conn, ident, "/ws/app.py", text, "python", [diag])
    problem = await synth_store.get_problem(conn, obs.views[0].problem_id)
    assert problem is not None
    return ident, problem


def request_for(problem: dict, text: str = TEXT, diag: Diagnostic = DIAG) -> FixRequest:
    return FixRequest(problem, diag, "app.py", "python", text, version=3)


async def test_fix_is_validated_stored_and_cached(db_settings, fake_openai: FakeOpenAI) -> None:
    synth = synthesizer(fake_openai)
    async with connect(db_settings) as conn:
        ident, problem = await setup(conn)
        fake_openai.reply_json(GOOD_FIX)
        first = await synthesize_fix(conn, synth, request_for(problem), user_id=ident.user_id)
        assert first.ok, first.message
        assert not first.cached
        assert apply_edits(TEXT, first.edits) == "import os\n" + TEXT
        assert first.new_text == "import os\n" + TEXT

        # the prompt: the diagnostic, numbered code of the enclosing function and the imports
        (chat,) = fake_openai.requests_to("chat")
        user = chat.body["messages"][-1]["content"]
        assert "F821: Undefined name `os`" in user
        assert "   3|def main():" in user and "   0|import sys" in user
        assert "Enclosing definition: main" in user
        assert chat.body["response_format"]["type"] == "json_schema"

        row = await synth_store.get_synthesis(conn, first.synth_id)
        assert row["primary_agent"] == "fake-chat"
        assert row["template_name"] == "synthesize_fix" and row["template_version"] == 1
        assert row["explanation"] == GOOD_FIX["explanation"]
        assert row["confidence_score"] == pytest.approx(0.85)
        assert "+import os" in row["diff"]

        # the same request again: answered from codecortex_ai_cache, no second model call
        second = await synthesize_fix(conn, synth, request_for(problem), user_id=ident.user_id)
        assert second.ok and second.cached
        assert second.new_text == first.new_text
        assert len(fake_openai.requests_to("chat")) == 1
        outcomes = sorted(e["outcome"] for e in await prompt_store.executions(conn, problem["id"]))
        assert outcomes == ["cached", "success"]

        # different code: a new key, the model is asked again
        changed = TEXT.replace("sys.argv", "sys.path")
        fake_openai.reply_json(GOOD_FIX)
        third = await synthesize_fix(
            conn, synth, request_for(problem, changed), user_id=ident.user_id
        )
        assert third.ok and not third.cached
        assert len(fake_openai.requests_to("chat")) == 2
    await synth.aclose()


async def test_grounding_uses_past_solutions_and_knowledge(
    db_settings, fake_openai: FakeOpenAI
) -> None:
    synth = synthesizer(fake_openai)
    async with connect(db_settings) as conn:
        ident, problem = await setup(conn)
        past = {
            "id": "11111111-1111-1111-1111-111111111111",
            "error_pattern": "Undefined name `re`",
            "language": "python",
            "diff": "+import re\n",
            "reuse_count": 4,
        }
        note = {
            "id": "22222222-2222-2222-2222-222222222222",
            "kind": "knowledge",
            "title": "Imports",
            "content": "Sort imports.",
        }
        solutions, knowledge = await gather_sources(
            conn, ident.user_id, problem["problem_signature"], [past], [note]
        )
        assert [s["id"] for s in solutions] == [past["id"]]
        fake_openai.reply_json(GOOD_FIX)
        result = await synthesize_fix(
            conn,
            synth,
            request_for(problem),
            user_id=ident.user_id,
            solutions=solutions,
            knowledge=knowledge,
        )
        assert result.ok
        user = fake_openai.requests_to("chat")[0].body["messages"][-1]["content"]
        assert "+import re" in user and "reused 4x" in user and "Sort imports." in user
        row = await synth_store.get_synthesis(conn, result.synth_id)
        assert [s["kind"] for s in row["contributing_sources"]] == ["solution", "knowledge"]
        assert str(row["primary_source_id"]) == past["id"]
    await synth.aclose()


def test_grounding_respects_the_budget() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(120))
    text = "def big():\n" + body + "    return y\n"
    diag = Diagnostic("Ruff", "F821", "Undefined name `y`", Range.of(121, 11, 121, 12))
    problem = {"id": None, "problem_signature": "s"}
    long_solution = {"id": "a", "error_pattern": "p", "diff": "+x\n" * 5000}
    g = build_grounding(
        FixRequest(problem, diag, "big.py", "python", text), [long_solution], [], 1000
    )
    assert len(g.values["code"]) <= 550 * 4
    assert len(g.values["past_solutions"]) <= 300 * 4
    assert "truncated" in g.values["past_solutions"]


def test_validate_edits_refuses_bad_edits() -> None:
    def edit(sl: int, sc: int, el: int, ec: int, new: str) -> dict[str, Any]:
        return {
            "start_line": sl,
            "start_character": sc,
            "end_line": el,
            "end_character": ec,
            "new_text": new,
        }

    cases = [
        ([], "no change"),
        ([edit(9, 0, 9, 0, "x")], "document has 5 lines"),
        ([edit(0, 40, 0, 41, "x")], "past the end of line 0"),
        ([edit(1, 0, 0, 0, "x")], "before it starts"),
        ([edit(0, 0, 0, 6, "import"), edit(0, 3, 0, 8, "x")], "overlap"),
        ([edit(0, 0, 0, 10, "import sys")], "change nothing"),
        ([edit(3, 0, 3, 11, "def main(:")], "does not parse"),
        ([edit(0, 0, 0, 0, "KEY = '[REDACTED:openai_key]'\n")], "redaction placeholder"),
    ]
    for edits, reason in cases:
        with pytest.raises(InvalidEdits, match=reason):
            validate_edits(TEXT, "python", edits, set())
    with pytest.raises(InvalidEdits, match="redacted"):
        validate_edits(TEXT, "python", [edit(4, 0, 4, 4, "  ")], {4})
    edits, new = validate_edits(TEXT, "python", [edit(0, 0, 0, 0, "import os\n")], set())
    assert new.startswith("import os\nimport sys\n") and len(edits) == 1


async def test_invalid_model_edits_are_discarded_with_a_reason(
    db_settings, fake_openai: FakeOpenAI
) -> None:
    synth = synthesizer(fake_openai)
    async with connect(db_settings) as conn:
        ident, problem = await setup(conn)
        broken = dict(GOOD_FIX, edits=[dict(GOOD_FIX["edits"][0], new_text="import (\n")])
        fake_openai.reply_json(broken)
        result = await synthesize_fix(conn, synth, request_for(problem), user_id=ident.user_id)
        assert not result.ok and result.outcome == "invalid_output"
        assert "does not parse" in result.message
        assert await synth_store.syntheses_for_problem(conn, problem["id"]) == []
        (execution,) = await prompt_store.executions(conn, problem["id"])
        assert execution["outcome"] == "invalid_output" and "parse" in execution["error"]
        # not cached: the next request asks the model again
        fake_openai.reply_json(GOOD_FIX)
        again = await synthesize_fix(conn, synth, request_for(problem), user_id=ident.user_id)
        assert again.ok and not again.cached
        # the document changed while waiting for the model: discarded
        fake_openai.reply_json(GOOD_FIX)
        stale = await synthesize_fix(
            conn,
            synth,
            request_for(problem, TEXT + "\n"),
            user_id=ident.user_id,
            still_current=lambda: False,
        )
        assert not stale.ok and "changed while" in stale.message
    await synth.aclose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAILURES = {
    "timeout": (
        lambda f: f.reply_sleep(3.0, {"kind": "json", "data": GOOD_FIX}),
        "did not answer within 1 s",
        "timeout",
    ),
    "rate_limited_long_retry_after": (
        lambda f: f.reply_status(429, retry_after=120),
        "rate limiting",
        "rate_limited",
    ),
    "server_errors": (lambda f: f.reply_status(503, times=3), "HTTP 503", "unavailable"),
    "malformed_json": (lambda f: f.reply_text("{'edits': oops"), "valid JSON", "bad_response"),
    "wrong_shape": (
        lambda f: f.reply_json({"explanation": "x", "edits": "none"}),
        "expected shape",
        "bad_response",
    ),
    "refusal": (lambda f: f.reply_refusal("I can't help with that."), "declined", "refused"),
    "content_filter": (lambda f: f.reply_finish("content_filter"), "content filter", "refused"),
}


@pytest.mark.parametrize("mode", sorted(FAILURES))
async def test_failure_modes_give_a_clear_message(
    mode: str, db_settings, fake_openai: FakeOpenAI
) -> None:
    script, message, outcome = FAILURES[mode]
    synth = synthesizer(fake_openai, timeout=1, max_retries=2)
    async with connect(db_settings) as conn:
        ident, problem = await setup(conn)
        script(fake_openai)
        result = await synthesize_fix(conn, synth, request_for(problem), user_id=ident.user_id)
        assert not result.ok
        assert result.outcome == outcome
        assert message in result.message
        assert await synth_store.syntheses_for_problem(conn, problem["id"]) == []
        (execution,) = await prompt_store.executions(conn, problem["id"])
        assert execution["outcome"] == outcome
        # nothing was cached: once the endpoint behaves, the model is asked and the fix works
        fake_openai.reset()
        fake_openai.reply_json(GOOD_FIX)
        ok = await synthesize_fix(conn, synth, request_for(problem), user_id=ident.user_id)
        assert ok.ok and not ok.cached, ok.message
    await synth.aclose()


async def test_rate_limit_with_short_retry_after_is_retried(
    db_settings, fake_openai: FakeOpenAI
) -> None:
    synth = synthesizer(fake_openai)
    async with connect(db_settings) as conn:
        ident, problem = await setup(conn)
        fake_openai.reply_status(429, retry_after=0.3)
        fake_openai.reply_status(502)
        fake_openai.reply_json(GOOD_FIX)
        result = await synthesize_fix(conn, synth, request_for(problem), user_id=ident.user_id)
        assert result.ok, result.message
        assert len(fake_openai.requests_to("chat")) == 3
    await synth.aclose()


async def test_endpoint_down_and_not_configured(db_settings) -> None:
    settings = LLMSettings(
        provider="openai", model="m", base_url=f"http://127.0.0.1:{_closed_port()}/v1", timeout=2
    )
    down = Synthesizer(settings, client=LLMClient(settings, max_retries=1, backoff_base=0.01))
    off = Synthesizer(LLMSettings())
    async with connect(db_settings) as conn:
        ident, problem = await setup(conn)
        result = await synthesize_fix(conn, down, request_for(problem), user_id=ident.user_id)
        assert not result.ok and result.outcome == "unavailable"
        assert "cannot reach" in result.message and "llm.baseUrl" in result.message
        result = await synthesize_fix(conn, off, request_for(problem), user_id=ident.user_id)
        assert not result.ok and result.outcome == "not_configured"
    await down.aclose()


async def test_secrets_are_redacted_before_sending_and_storing(
    db_settings, fake_openai: FakeOpenAI
) -> None:
    text = (
        "import sys\n"
        "\n"
        f'API_KEY = "{SECRET}"\n'
        "DSN = 'postgresql://app:hunter2hunter2@db.internal:5432/prod'\n"
        "\n"
        "def main():\n"
        "    token = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'\n"
        "    print(os.getcwd(), sys.argv, API_KEY, token)\n"
    )
    diag = Diagnostic("Ruff", "F821", "Undefined name `os`", Range.of(7, 10, 7, 12))
    secrets = [SECRET, "hunter2hunter2", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"]
    synth = synthesizer(fake_openai)
    async with connect(db_settings) as conn:
        ident, problem = await setup(conn, text, diag)
        past = {
            "id": "p1",
            "error_pattern": "Undefined name `os`",
            "diff": f"-KEY = None\n+KEY = '{SECRET}'\n",
        }
        fake_openai.reply_json(GOOD_FIX)
        result = await synthesize_fix(
            conn,
            synth,
            FixRequest(problem, diag, "app.py", "python", text),
            user_id=ident.user_id,
            solutions=[past],
        )
        assert result.ok, result.message
        received = fake_openai.received_text()
        assert "[REDACTED:" in received
        for secret in secrets:
            assert secret not in received
        # nothing stored carries a secret either
        for table in ("synthesized_solutions", "prompt_executions", "codecortex_ai_cache"):
            cur = await conn.execute(f"SELECT t::text AS row FROM {table} t")
            rows = " ".join(r["row"] for r in await cur.fetchall())
            assert rows, table
            for secret in secrets:
                assert secret not in rows, table

        # an edit on a line whose secret was redacted would be computed on text the model never
        # saw: refused
        bad = dict(
            GOOD_FIX,
            edits=[
                {
                    "start_line": 6,
                    "start_character": 4,
                    "end_line": 6,
                    "end_character": 9,
                    "new_text": "tok",
                }
            ],
        )
        fake_openai.reply_json(bad)
        refused = await synthesize_fix(
            conn,
            synth,
            FixRequest(problem, diag, "app.py", "python", text + "\n"),
            user_id=ident.user_id,
        )
        assert not refused.ok and "redacted" in refused.message
    await synth.aclose()


async def test_acceptance_per_template_version(db_settings, fake_openai: FakeOpenAI) -> None:
    synth = synthesizer(fake_openai)
    settings = load_settings({}, env={})
    async with connect(db_settings) as conn:
        ident, problem = await setup(conn)
        memory = Memory(settings)
        ids = []
        for n in range(3):
            fake_openai.reply_json(GOOD_FIX)
            variant = TEXT + "\n" * n  # a different document each time: no cache hit
            result = await synthesize_fix(
                conn, synth, request_for(problem, variant), user_id=ident.user_id
            )
            assert result.ok
            ids.append(result.synth_id)
        applied = await record_action(conn, memory, ident, ids[0], "applied")
        assert applied["recorded"] and applied["solutionId"]
        assert applied["template"] == "synthesize_fix@v1"
        rejected = await record_action(conn, memory, ident, ids[1], "rejected", note="wrong")
        assert rejected["recorded"] and rejected["solutionId"] is None
        with pytest.raises(ValueError):
            await record_action(conn, memory, ident, ids[2], "loved")

        # the applied fix is a past solution that replays next time
        cur = await conn.execute(
            "SELECT source, diff, problem_signature FROM past_solutions WHERE id = %s",
            (applied["solutionId"],),
        )
        sol = await cur.fetchone()
        assert sol["source"] == "synthesized" and "+import os" in sol["diff"]
        assert sol["problem_signature"] == problem["problem_signature"]

        stats = await collect_stats(conn, ident.user_id)
        (row,) = [t for t in stats["promptTemplates"] if t["template"] == "synthesize_fix"]
        assert row["version"] == 1
        assert (row["presented"], row["applied"], row["rejected"]) == (3, 1, 1)
        assert row["acceptanceRate"] == pytest.approx(1 / 3, abs=1e-3)
        assert row["executions"] == 3 and row["failures"] == 0
    await synth.aclose()


def test_llm_settings_come_from_settings_and_the_key_from_the_environment() -> None:
    settings = load_settings(
        {"llm": {"provider": "openai", "model": "m", "baseUrl": "http://127.0.0.1:1/v1"}},
        env={"CODECORTEX_LLM_TIMEOUT": "7"},
    )
    env = {"OPENAI_API_KEY": "sk-other", "CODECORTEX_LLM_MODEL": "ignored"}
    s = settings.llm_settings(env)
    assert (s.provider, s.model, s.base_url, s.timeout) == (
        "openai",
        "m",
        "http://127.0.0.1:1/v1",
        7,
    )
    assert s.api_key == "sk-other"
    s = settings.llm_settings({**env, "CODECORTEX_OPENAI_API_KEY": "sk-first"})
    assert s.api_key == "sk-first"
    assert "sk-first" not in repr(s) and "sk-first" not in str(s.to_dict())
    assert load_settings({}, env={}).llm_settings(env).provider == "none"
