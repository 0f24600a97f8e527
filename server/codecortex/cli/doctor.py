"""`codecortex doctor`: is everything CodeCortex needs here? One line per check, ok or FAIL."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from codecortex.cli.history import history_detail
from codecortex.config import Settings
from codecortex.store.embedded import StoreError, resolve_target
from codecortex.store.migrations import migration_status
from codecortex.store.pool import connect
from codecortex.store.server_info import server_info
from codecortex.syntax.grammars import SUPPORTED, get_language

EXTERNAL_TOOLS = ("git", "ruff", "mypy", "pyflakes", "tsc", "eslint", "cargo", "rustc", "gcc")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True

    def line(self) -> str:
        mark = "ok  " if self.ok else ("FAIL" if self.required else "warn")
        return f"{mark}  {self.name}: {self.detail}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="the checks as JSON")


def find_tool(name: str) -> str | None:
    """A tool on PATH, or installed next to this interpreter (a virtual environment's bin/)."""
    found = shutil.which(name)
    if found:
        return found
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else None


async def database_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    try:
        target = resolve_target(settings)
        async with connect(settings, run_migrations=False) as conn:
            checks.append(Check("database", True, f"reachable ({target.describe()})"))
            info = await server_info(conn)
            major = info.major
            checks.append(
                Check("postgresql", major >= 14, info.version + ("" if major >= 14 else " (< 14)"))
            )
            if info.vector_installed:
                checks.append(Check("pgvector", True, f"{info.vector_installed} (installed)"))
            elif info.vector_available:
                checks.append(Check("pgvector", True, f"{info.vector_available} (available)"))
            else:
                checks.append(Check("pgvector", False, "the vector extension is not available"))
            states = await migration_status(conn)
            pending = [s for s in states if s.status == "pending"]
            modified = [s.migration.name for s in states if s.status == "modified"]
            if modified:
                checks.append(Check("migrations", False, f"changed after apply: {modified}"))
            elif pending:
                checks.append(
                    Check(
                        "migrations",
                        True,
                        f"{len(states) - len(pending)} applied, {len(pending)} pending "
                        "(applied automatically at start, or run `codecortex db migrate`)",
                    )
                )
            else:
                checks.append(Check("migrations", True, f"all {len(states)} applied"))
            if pending:  # a new database: its tables are created at the first real use
                detail = "nothing learned yet (new database; `codecortex learn-history`)"
            else:
                detail = await history_detail(conn)
            checks.append(Check("git history", True, detail, required=False))
    except StoreError as exc:
        checks.append(Check("database", False, str(exc)))
    return checks


def grammar_checks() -> list[Check]:
    loaded, failed = [], []
    for name in SUPPORTED:
        try:
            get_language(name)
            loaded.append(name)
        except Exception as exc:  # a broken wheel: report, don't crash
            failed.append(f"{name} ({exc})")
    detail = ", ".join(loaded) + (f"; failed: {', '.join(failed)}" if failed else "")
    return [Check("tree-sitter grammars", not failed, detail)]


def tool_checks() -> list[Check]:
    from codecortex.detectors.tools import cargo_toolchain

    found = {name: find_tool(name) for name in EXTERNAL_TOOLS}
    broken = []
    if found["cargo"]:
        working, reason = cargo_toolchain(found["cargo"])
        if working is None:
            found["cargo"] = None
            broken.append(f"cargo: {reason}")
    have = [n for n, p in found.items() if p]
    missing = [n for n, p in found.items() if not p and not any(b.startswith(n) for b in broken)]
    detail = f"found {', '.join(have) or 'none'}"
    if missing:
        detail += f"; not found: {', '.join(missing)} (their detectors are skipped)"
    if broken:
        detail += f"; not working: {'; '.join(broken)}"
    return [Check("external tools", True, detail, required=False)]


async def model_checks(settings: Settings) -> list[Check]:
    """The model endpoint, when one is configured: settings valid, then actually reachable
    (models list or a 1-token chat through the same client synthesis uses)."""
    if settings.llm_provider == "none":
        return [
            Check("model endpoint", True, "none configured (synthesis disabled)", required=False)
        ]
    from codecortex.llm import LLMClient, LLMError

    llm = settings.llm_settings()
    where = f"{llm.provider} {llm.model or '(no model set)'} {llm.base_url}".strip()
    problems = llm.validate()
    if problems:
        return [Check("model endpoint", False, f"{where}: " + "; ".join(problems))]
    client = LLMClient(llm, max_retries=1, backoff_base=0.2)
    try:
        answer = await client.ping()
    except LLMError as exc:
        return [Check("model endpoint", False, f"{where}: {exc.message}")]
    finally:
        await client.aclose()
    if answer.startswith("warning"):
        return [Check("model endpoint", False, f"{where}: {answer}", required=False)]
    return [Check("model endpoint", True, f"{where}: {answer}")]


async def run(args: argparse.Namespace, settings: Settings) -> int:
    checks = [
        Check("settings", not settings.errors, "; ".join(settings.errors) or "valid"),
        *(await database_checks(settings)),
        *grammar_checks(),
        *tool_checks(),
        *(await model_checks(settings)),
    ]
    if resolve_target(settings).embedded:
        checks.insert(1, Check("data directory", True, str(settings.data_path())))
    failed = [c for c in checks if c.required and not c.ok]
    if args.json:
        print(
            json.dumps(
                {
                    "ok": not failed,
                    "passed": len(checks) - len(failed),
                    "total": len(checks),
                    "checks": [dataclasses.asdict(c) for c in checks],
                },
                indent=2,
            )
        )
        return 1 if failed else 0
    for check in checks:
        print(check.line())
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
    return 1 if failed else 0
