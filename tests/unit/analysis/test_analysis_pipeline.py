"""Analysis sessions on the job queue, against the real database: what is stored, fingerprints
across runs, incremental re-analysis, resumption after a dead worker, cancellation."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from codecortex.analysis import incremental
from codecortex.analysis import pipeline as ap
from codecortex.config import load_settings
from codecortex.jobs import JobRunner
from codecortex.store import analysis as store
from codecortex.store import identity as identity_store
from codecortex.store import jobs as jobs_store
from codecortex.store.pool import open_pool, prepare

YAML_FILE = textwrap.dedent(
    '''\
    """Configuration loading."""

    import yaml


    def read_config(path):
        """Read the YAML configuration file."""
        with open(path) as fh:
            return yaml.load(fh)
    '''
)
CLEAN_FILE = textwrap.dedent(
    '''\
    """Small helpers."""


    def add(a, b):
        """Sum of two numbers."""
        return a + b
    '''
)


def write_workspace(root: Path) -> None:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    # a.py and b.py import each other: an import cycle across real files
    (root / "pkg" / "a.py").write_text(
        '"""A."""\n\nfrom pkg import b\n\n\ndef fa():\n    """A."""\n    return b.fb()\n'
    )
    (root / "pkg" / "b.py").write_text(
        '"""B."""\n\nfrom pkg import a\n\n\ndef fb():\n    """B."""\n    return a\n'
    )
    (root / "pkg" / "config.py").write_text(YAML_FILE)
    (root / "pkg" / "clean.py").write_text(CLEAN_FILE)
    (root / "README.md").write_text(
        "# Demo\n\nA demo project.\n\n## Install\n\npip install demo\n\n"
        "## Usage\n\nRun `demo`.\n\n## License\n\nMIT\n"
    )


class Env:
    def __init__(self, pool: Any, settings: Any, repo_id: Any, user_id: Any, root: Path):
        self.pool = pool
        self.settings = settings
        self.repo_id = repo_id
        self.user_id = user_id
        self.root = root
        self.state = ap.AnalysisState()

    def connection(self) -> Any:
        return self.pool.connection()

    def runner(self, lease: float = 30, on_progress: Any = None) -> JobRunner:
        return JobRunner(
            self.connection,
            {ap.JOB_TYPE: lambda ctx: ap.run_job(ctx, self.settings, self.state)},
            lease_seconds=lease,
            on_progress=on_progress,
        )

    async def enqueue(self, phase: str = "deep") -> str:
        async with self.connection() as conn:
            return await ap.enqueue(conn, self.root, self.repo_id, self.user_id, phase)

    async def analyze(self, phase: str = "deep") -> Any:
        job_id = await self.enqueue(phase)
        job = await self.runner().run_one([ap.JOB_TYPE])
        assert job is not None and job.job_id == job_id, job
        assert job.status == "completed", job.last_error
        return job

    async def insights(self, statuses: tuple[str, ...] = ("open",)) -> list[dict[str, Any]]:
        async with self.connection() as conn:
            return await store.list_insights(conn, self.repo_id, statuses=statuses)

    async def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        async with self.connection() as conn:
            cur = await conn.execute(sql, params)
            return [dict(r) for r in await cur.fetchall()]


@pytest.fixture
async def env(fresh_db: str, tmp_path: Path):
    settings = load_settings({"databaseUrl": fresh_db}, env={})
    pool = await open_pool(await prepare(settings))
    root = tmp_path / "ws"
    write_workspace(root)
    async with pool.connection() as conn:
        user_id = await identity_store.ensure_user(conn, "dev")
        repo_id = await identity_store.ensure_repo(conn, str(root.resolve()), name="ws")
    try:
        yield Env(pool, settings, repo_id, user_id, root)
    finally:
        await pool.close()


def by_rule(insights: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [i for i in insights if i["rule"] == rule]


async def test_analysis_is_stored_items_relationships_insights_session(env: Env) -> None:
    job = await env.analyze()
    items = await env.query(
        "SELECT file_path, code_type, name, qualified_name, complexity_score,"
        " documentation_score, imports, content_hash, line_start, line_end, analysis"
        " FROM codecortex_items WHERE repo_id = %s ORDER BY file_path, line_start",
        env.repo_id,
    )
    files = {i["file_path"]: i for i in items if i["code_type"] == "module"}
    assert set(files) == {
        "pkg/__init__.py",
        "pkg/a.py",
        "pkg/b.py",
        "pkg/config.py",
        "pkg/clean.py",
    }
    config = files["pkg/config.py"]
    assert config["imports"] == ["yaml"]
    assert len(config["content_hash"]) == 64
    assert config["analysis"]["path"] == "pkg/config.py"
    read_config = next(i for i in items if i["name"] == "read_config")
    assert read_config["code_type"] == "function"
    assert (read_config["line_start"], read_config["line_end"]) == (5, 8)
    assert read_config["documentation_score"] == 1.0

    rels = await env.query(
        "SELECT source_file, target_file, relationship_type FROM code_relationships"
        " WHERE repo_id = %s AND relationship_type = 'imports' ORDER BY 1, 2",
        env.repo_id,
    )
    pairs = {(r["source_file"], r["target_file"]) for r in rels}
    assert {("pkg/a.py", "pkg/b.py"), ("pkg/b.py", "pkg/a.py")} <= pairs

    insights = await env.insights()
    (yaml_insight,) = by_rule(insights, "security.yaml_load")
    assert yaml_insight["file_path"] == "pkg/config.py"
    assert yaml_insight["line_start"] == 8
    assert yaml_insight["severity"] == "critical" and yaml_insight["type"] == "security_issue"
    assert yaml_insight["priority_category"] == "immediate"
    assert 0 <= yaml_insight["priority_score"] <= 100
    assert yaml_insight["detail"]["fix"], "yaml.load has a mechanical fix"
    assert yaml_insight["detail"]["how_to_fix"]
    (cycle,) = by_rule(insights, ap.CYCLE_RULE)
    assert cycle["scope"] == "project"
    assert not [i for i in insights if i["file_path"] == "pkg/clean.py"]

    async with env.connection() as conn:
        session = await store.session_for_job(conn, job.job_id)
    assert session is not None and session["status"] == "completed"
    phases = session["phases"]
    assert phases["quick"]["status"] == "completed" and phases["quick"]["analysed"] == 5
    assert phases["medium"]["status"] == "completed"
    assert phases["deep"] == {**phases["deep"], "status": "skipped", "reason": ap.NO_MODEL}
    summary = session["insights_summary"]
    assert summary["total"] == len(insights)
    assert summary["critical"] == sum(1 for i in insights if i["severity"] == "critical")
    assert job.result["insights"] == len(insights)


async def test_fingerprints_survive_unrelated_edits_and_unchanged_files_are_skipped(
    env: Env,
) -> None:
    await env.analyze()
    (before,) = by_rule(await env.insights(), "security.yaml_load")
    path = env.root / "pkg" / "config.py"
    path.write_text("# a comment\n# another\n\nCONSTANT = 1\n" + YAML_FILE)
    job = await env.analyze()
    assert job.result["changed"] == 1 and job.result["unchanged"] == 4
    (after,) = by_rule(await env.insights(), "security.yaml_load")
    assert after["id"] == before["id"]
    assert after["line_start"] == before["line_start"] + 4
    rows = await env.query(
        "SELECT COUNT(*) AS n FROM code_insights WHERE repo_id = %s AND rule = %s",
        env.repo_id,
        "security.yaml_load",
    )
    assert rows[0]["n"] == 1

    # Fixed: the insight expires (kept as history), and comes back open with the same id.
    path.write_text(YAML_FILE.replace("yaml.load(fh)", "yaml.safe_load(fh)"))
    await env.analyze("quick")
    assert not by_rule(await env.insights(), "security.yaml_load")
    (expired,) = by_rule(await env.insights(("expired",)), "security.yaml_load")
    assert expired["id"] == before["id"]
    path.write_text(YAML_FILE)
    await env.analyze("quick")
    (reopened,) = by_rule(await env.insights(), "security.yaml_load")
    assert reopened["id"] == before["id"]


async def test_ignored_insight_stays_ignored(env: Env) -> None:
    await env.analyze()
    (yaml_insight,) = by_rule(await env.insights(), "security.yaml_load")
    async with env.connection() as conn:
        assert await store.set_insight_status(conn, yaml_insight["id"], "ignored")
    (env.root / "pkg" / "config.py").write_text("X = 1\n" + YAML_FILE)
    await env.analyze()
    assert not by_rule(await env.insights(), "security.yaml_load")
    (ignored,) = by_rule(await env.insights(("ignored",)), "security.yaml_load")
    assert ignored["id"] == yaml_insight["id"]


async def test_a_save_reanalyses_only_the_file_and_its_importers(env: Env) -> None:
    (env.root / "pkg" / "user.py").write_text(
        '"""Uses clean."""\n\nfrom pkg.clean import add\n\nTOTAL = add(1, 2)\n'
    )
    await env.analyze("medium")
    async with env.connection() as conn:
        before = await store.item_updates(conn, env.repo_id)
    env.state.workspaces.clear()  # a fresh server process: the model is rebuilt from the db
    new_text = (
        CLEAN_FILE + "\n\ndef load(path):\n    import yaml\n    return yaml.load(open(path))\n"
    )
    (env.root / "pkg" / "clean.py").write_text(new_text)
    notified: list[Any] = []
    env.state.listeners.append(lambda root, files: notified.append(files))
    result = await incremental.reanalyze(
        env.connection,
        env.settings,
        env.state,
        repo_id=env.repo_id,
        root=env.root,
        path="pkg/clean.py",
        text=new_text,
    )
    assert result is not None
    assert result.affected == {"pkg/clean.py", "pkg/user.py"}
    async with env.connection() as conn:
        after = await store.item_updates(conn, env.repo_id)
    touched = {p for p in after if after[p] != before.get(p)}
    assert touched == {"pkg/clean.py"}
    assert by_rule(await env.insights(), "security.yaml_load")[-1]["file_path"] in {
        "pkg/clean.py",
        "pkg/config.py",
    }
    assert {i["file_path"] for i in by_rule(await env.insights(), "security.yaml_load")} == {
        "pkg/clean.py",
        "pkg/config.py",
    }
    assert notified and "pkg/clean.py" in notified[-1]
    # The same content again: nothing to do.
    again = await incremental.reanalyze(
        env.connection,
        env.settings,
        env.state,
        repo_id=env.repo_id,
        root=env.root,
        path="pkg/clean.py",
        text=new_text,
    )
    assert again is None

    # Breaking the cycle on save expires the cycle insight.
    b_text = '"""B."""\n\n\ndef fb():\n    """B."""\n    return 1\n'
    (env.root / "pkg" / "b.py").write_text(b_text)
    result = await incremental.reanalyze(
        env.connection,
        env.settings,
        env.state,
        repo_id=env.repo_id,
        root=env.root,
        path="pkg/b.py",
        text=b_text,
    )
    assert result is not None and {"pkg/a.py", "pkg/b.py"} <= result.affected
    assert not by_rule(await env.insights(), ap.CYCLE_RULE)
    assert by_rule(await env.insights(("expired",)), ap.CYCLE_RULE)


async def test_a_session_whose_worker_died_resumes_without_duplicates(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(60):
        (env.root / "pkg" / f"mod{n:02d}.py").write_text(
            f'"""M{n}."""\n\nimport yaml\n\n\ndef f{n}(s):\n    """F."""\n    return yaml.load(s)\n'
        )
    monkeypatch.setattr(ap, "BATCH_FILES", 8)
    # The first worker stalls once 16 files are stored (so that, however fast the machine, it
    # is still working when it is killed); the worker that resumes runs normally.
    store_batch = ap.SessionRun._store_batch
    stalling = {"on": True, "files": 0}

    async def stall_then_store(self: Any, phase: Any, batch: list[Any], *rest: Any) -> None:
        if stalling["on"] and stalling["files"] >= 16:
            await asyncio.Event().wait()
        await store_batch(self, phase, batch, *rest)
        stalling["files"] += len(batch)

    monkeypatch.setattr(ap.SessionRun, "_store_batch", stall_then_store)
    job_id = await env.enqueue("medium")
    # A worker with a 1 s lease dies (its task is killed) after the first batches are stored.
    task = asyncio.ensure_future(env.runner(lease=1).run_one([ap.JOB_TYPE]))

    async def stored() -> int:
        rows = await env.query(
            "SELECT COUNT(*) AS n FROM codecortex_items WHERE repo_id = %s"
            " AND code_type = 'module'",
            env.repo_id,
        )
        return int(rows[0]["n"])

    deadline = asyncio.get_running_loop().time() + 20
    while await stored() < 16:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stalling["on"] = False
    partial = await stored()
    assert partial < 65
    async with env.connection() as conn:
        job = await jobs_store.get_job(conn, job_id)
        session = await store.session_for_job(conn, job_id)
    assert job is not None and job.status == "running"
    assert session is not None and session["status"] == "running"

    await asyncio.sleep(1.2)  # the lease expires
    resumed = await env.runner().run_one([ap.JOB_TYPE])
    assert resumed is not None and resumed.job_id == job_id
    assert resumed.status == "completed", resumed.last_error
    assert resumed.result["session"] == str(session["id"])
    assert resumed.result["unchanged"] >= partial  # stored files were not analysed again
    assert await stored() == 65
    rows = await env.query(
        "SELECT fingerprint_sha, COUNT(*) AS n FROM code_insights WHERE repo_id = %s"
        " GROUP BY 1 HAVING COUNT(*) > 1",
        env.repo_id,
    )
    assert rows == []
    yaml_insights = by_rule(await env.insights(), "security.yaml_load")
    assert len(yaml_insights) == 61
    sessions = await env.query(
        "SELECT status, phases FROM codecortex_analysis_sessions WHERE repo_id = %s", env.repo_id
    )
    assert [s["status"] for s in sessions] == ["completed"]
    assert sessions[0]["phases"]["quick"]["analysed"] == 65


async def test_cancel_stops_the_session_and_keeps_what_was_stored(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(30):
        (env.root / "pkg" / f"mod{n:02d}.py").write_text(f"X{n} = {n}\n")
    monkeypatch.setattr(ap, "BATCH_FILES", 4)
    job_id = await env.enqueue()
    reports: list[float] = []

    async def on_progress(job: Any, fraction: float, message: str | None) -> None:
        reports.append(fraction)
        if len(reports) == 2:
            async with env.connection() as conn:
                await jobs_store.request_cancel(conn, job_id)

    job = await env.runner(on_progress=on_progress).run_one([ap.JOB_TYPE])
    assert job is not None and job.status == "cancelled"
    async with env.connection() as conn:
        session = await store.session_for_job(conn, job_id)
        assert (await jobs_store.get_job(conn, job_id)).status == "cancelled"  # type: ignore[union-attr]
    assert session is not None and session["status"] == "cancelled"
    assert session["phases"]["medium"]["status"] == "pending"
    # A new analysis completes and skips what the cancelled one stored.
    again = await env.analyze()
    assert again.result["unchanged"] > 0
    assert again.result["changed"] + again.result["unchanged"] == 35


async def test_changed_thresholds_analyse_unchanged_files_again(env: Env) -> None:
    await env.analyze("quick")
    assert not by_rule(await env.insights(), "refactor.long_function")
    # the `analysis.maxFunctionLines` setting (Settings.analysis_max_function_lines)
    env.settings.analysis_max_function_lines = 2
    assert ap.thresholds_from(env.settings).max_function_lines == 2
    job = await env.analyze("quick")
    assert job.result["changed"] == 5 and job.result["unchanged"] == 0
    long_fns = {
        i["title"].split()[0] for i in by_rule(await env.insights(), "refactor.long_function")
    }
    assert {"read_config", "fa", "fb", "add"} <= long_fns


async def test_deep_phase_with_a_model_adds_its_insights(
    env: Env, fake_openai: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    env.settings.llm_provider = "openai"
    env.settings.llm_model = "fake-chat"
    env.settings.llm_base_url = fake_openai.base_url
    model_insight = {
        "type": "architecture",
        "title": "pkg.a and pkg.b are one module",
        "summary": "They import each other.",
        "severity": "warning",
        "confidence": 0.8,
        "file": "pkg/a.py",
        "start_line": 0,
        "end_line": 3,
        "suggestion": "Merge them.",
        "priority_category": "this_sprint",
        "effort_estimate": "hours",
        "business_impact": "medium",
    }
    fake_openai.reply_json({"insights": [model_insight]})
    job = await env.analyze("deep")
    async with env.connection() as conn:
        session = await store.session_for_job(conn, job.job_id)
    assert session is not None
    deep = session["phases"]["deep"]
    assert deep["status"] == "completed" and deep["insights_found"] == 1
    assert deep["model"] == "fake-chat"
    rows = [i for i in await env.insights() if i["scope"] == "deep"]
    assert [(r["title"], r["ai_agent"], r["file_path"]) for r in rows] == [
        ("pkg.a and pkg.b are one module", "fake-chat", "pkg/a.py")
    ]
    # Later static runs leave the model's insights alone.
    (env.root / "pkg" / "a.py").write_text((env.root / "pkg" / "a.py").read_text() + "\nZ = 1\n")
    await env.analyze("medium")
    assert [i["id"] for i in await env.insights() if i["scope"] == "deep"] == [rows[0]["id"]]
