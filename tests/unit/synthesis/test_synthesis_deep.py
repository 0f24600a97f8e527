"""Deep analysis with a model: token-budgeted sampling, grounded architecture/refactor insights
stored as code_insights with the model as ai_agent, analysis_sampling rows (fake server over
HTTP, real database, real tree-sitter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecortex.analysis.deep import run_deep_phase, sample_files
from codecortex.llm import LLMClient, LLMError, LLMSettings
from codecortex.store import identity as identity_store
from codecortex.store.pool import connect
from codecortex.synthesis.runner import Synthesizer

try:
    from fakeopenai import FakeOpenAI, fake_openai_fixture
except ImportError:  # pragma: no cover
    from tests.fakeopenai import FakeOpenAI, fake_openai_fixture

assert fake_openai_fixture


def workspace(root: Path) -> list[str]:
    (root / "core.py").write_text(
        '"""Core."""\n\n\ndef compute(x):\n'
        + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(12))
        + "    return -1\n"
    )
    (root / "api.py").write_text("import core\n\n\ndef handler(x):\n    return core.compute(x)\n")
    (root / "cli.py").write_text("import core\nimport api\n\n\ndef main():\n    api.handler(1)\n")
    for i in range(6):
        (root / f"util{i}.py").write_text(f"def helper{i}(a, b):\n    return a + b + {i}\n")
    return sorted(p.name for p in root.glob("*.py"))


def insight(kind: str, file: str, title: str, **kw: object) -> dict[str, object]:
    return {
        "type": kind,
        "title": title,
        "summary": f"{title} summary",
        "severity": "warning",
        "confidence": 0.8,
        "file": file,
        "start_line": kw.get("start", 3),
        "end_line": kw.get("end", 40),
        "suggestion": "split it",
        "priority_category": "this_sprint",
        "effort_estimate": "hours",
        "business_impact": "medium",
    }


def test_sampling_ranks_central_files_first_and_respects_the_budget(tmp_path: Path) -> None:
    from codecortex.analysis.symbols import analyze_source

    files = workspace(tmp_path)
    analyses = [analyze_source(f, (tmp_path / f).read_text()) for f in files]
    sample = sample_files(analyses, 120)
    assert sample.sampled[0] == "core.py"  # imported by two files, most complex
    assert sample.skipped and set(sample.sampled) | set(sample.skipped) == set(files)
    assert sample.structure.count("\n- ") + 1 == len(sample.sampled)
    assert len(sample.structure) <= 120 * 4
    everything = sample_files(analyses, 100_000)
    assert not everything.skipped


async def test_deep_phase_adds_grounded_model_insights(
    db_settings, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    files = workspace(tmp_path)
    settings = LLMSettings(provider="openai", model="fake-chat", base_url=fake_openai.base_url)
    synth = Synthesizer(settings, client=LLMClient(settings, backoff_base=0.01, max_retries=1))
    async with connect(db_settings) as conn:
        repo_id = await identity_store.ensure_repo(conn, str(tmp_path), name="ws")
        reply = {
            "insights": [
                insight("architecture", "core.py", "core.compute is a hub", end=999),
                insight("refactor", "", "Merge the util modules"),
                insight("security_issue", "core.py", "not ours to add"),
                insight("architecture", "nowhere.py", "not in the input"),
            ]
        }
        fake_openai.reply_json(reply)
        insights, sampling = await run_deep_phase(conn, synth, repo_id, tmp_path, files, 300)
        assert [i["title"] for i in insights] == ["core.compute is a hub", "Merge the util modules"]
        hub = insights[0]
        lines = (tmp_path / "core.py").read_text().count("\n")
        assert hub["end_line"] == lines - 1  # clipped to the file
        assert sampling["dropped_insights"] == 2
        assert "core.py" in sampling["files_sampled"]
        assert sampling["token_usage"] <= 300

        prompt = fake_openai.requests_to("chat")[0].body["messages"][-1]["content"]
        assert "core.py" in prompt and "imported by 2" in prompt

        cur = await conn.execute(
            "SELECT i.type, i.ai_agent, i.file_path, p.priority_category, p.priority_score"
            " FROM code_insights i JOIN insight_priorities p ON p.insight_id = i.id"
            " WHERE i.repo_id = %s ORDER BY i.type",
            (repo_id,),
        )
        rows = await cur.fetchall()
        assert [(r["type"], r["ai_agent"], r["file_path"]) for r in rows] == [
            ("architecture", "fake-chat", "core.py"),
            ("refactor", "fake-chat", None),
        ]
        assert all(r["priority_category"] == "this_sprint" for r in rows)
        cur = await conn.execute("SELECT * FROM analysis_sampling WHERE repo_id = %s", (repo_id,))
        (row,) = await cur.fetchall()
        assert row["sampling_strategy"] == "smart_sampling" and row["total_files"] == len(files)
        assert sorted(row["files_sampled"] + row["files_skipped"]) == files
        assert row["execution_id"] is not None

        # a second run lists the existing insights in the prompt (a new input: the model is
        # asked); the same findings are refreshed, not duplicated
        fake_openai.reply_json(reply)
        again, _ = await run_deep_phase(conn, synth, repo_id, tmp_path, files, 300)
        assert "core.compute is a hub" in fake_openai.requests_to("chat")[1].raw
        assert {i["fingerprint"] for i in again} == {i["fingerprint"] for i in insights}
        cur = await conn.execute("SELECT COUNT(*) AS n FROM code_insights WHERE repo_id = %s",
                                 (repo_id,))  # fmt: skip
        assert (await cur.fetchone())["n"] == 2
        # the same inputs once more: answered from the cache, no model call
        cached, _ = await run_deep_phase(conn, synth, repo_id, tmp_path, files, 300)
        assert len(fake_openai.requests_to("chat")) == 2
        assert [i["title"] for i in cached] == [i["title"] for i in insights]

        fake_openai.reply_status(503, times=3)
        with pytest.raises(LLMError, match="503"):
            await run_deep_phase(conn, synth, repo_id, tmp_path, files[:2], 300)
        cur = await conn.execute(
            "SELECT COUNT(*) AS n FROM analysis_sampling WHERE repo_id = %s", (repo_id,)
        )
        assert (await cur.fetchone())["n"] == 4  # the failed run's sampling is recorded too
    await synth.aclose()
