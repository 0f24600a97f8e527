"""Learning paths: from the problem types a developer keeps hitting, a path of weekly modules
whose lessons point at their own code and past fixes (`codecortex_learning_paths`).

The model (template `learning_path`) writes the modules; this module grounds them: a lesson may
only reference files and past-solution ids that were in its input, everything else is dropped.
Progress is a set of completed lesson ids plus the current week.
"""

from __future__ import annotations

from typing import Any

import psycopg

from codecortex.llm import LLMBadResponse
from codecortex.store import solutions as solution_store
from codecortex.store import synthesis as synth_store
from codecortex.synthesis.runner import Synthesizer

TEMPLATE = "learning_path"
DEFAULT_WEEKS = 4
MAX_WEEKS = 12
MIN_OCCURRENCES = 2


class NotEnoughHistory(LookupError):
    """No recurring problems to learn from yet."""


def _seconds(value: Any) -> str:
    if value is None:
        return "not fixed yet"
    seconds = int(value)
    return f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"


def _inputs(
    recurring: list[dict[str, Any]], solutions: dict[str, list[dict[str, Any]]], user: str
) -> tuple[dict[str, str], set[str], set[str]]:
    """Prompt values and the files / solution ids a lesson may reference."""
    files: set[str] = set()
    ids: set[str] = set()
    problem_lines = []
    for r in recurring:
        shown = [f for f in (r.get("files") or []) if f][:3]
        files.update(shown)
        problem_lines.append(
            f"- {r['signature']} ({r.get('problem_type')}, {r.get('tool') or 'tool'}, "
            f"{r.get('language') or 'any language'}): {int(r['occurrences'])} problems, "
            f"seen {int(r['seen'] or 0)}x, fixed {int(r['fixed'] or 0)}x, median time to fix "
            f"{_seconds(r.get('median_fix_seconds'))}; files: {', '.join(shown) or '-'}; "
            f"example: {(r.get('example_message') or '')[:160]}"
        )
    solution_lines = []
    for rows in solutions.values():
        for s in rows:
            ids.add(str(s["id"]))
            if s.get("file_path"):
                files.add(str(s["file_path"]))
            diff = "\n".join((s.get("diff") or "").splitlines()[:8])
            solution_lines.append(
                f"- id {s['id']}: {s.get('error_pattern') or ''} in {s.get('file_path') or '-'}"
                f"\n{diff}"
            )
    languages = sorted({str(r["language"]) for r in recurring if r.get("language")})
    tools = sorted({str(r["tool"]) for r in recurring if r.get("tool")})
    profile = (
        f"Developer: {user}\nLanguages: {', '.join(languages) or 'unknown'}\n"
        f"Tools reporting problems: {', '.join(tools) or 'unknown'}\n"
        f"Recurring problem kinds: {len(recurring)}"
    )
    values = {
        "profile": profile,
        "problems": "\n".join(problem_lines),
        "solutions": "\n".join(solution_lines) or "(none recorded yet)",
    }
    return values, files, ids


def ground_modules(
    data: dict[str, Any], weeks: int, files: set[str], ids: set[str]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Keep the model's modules within `weeks`, with lesson ids, and only references that were in
    the input. Returns (modules, counts of dropped references)."""
    dropped = {"files": 0, "solution_ids": 0, "modules": 0}
    modules: list[dict[str, Any]] = []
    for module in sorted(data.get("modules") or [], key=lambda m: int(m.get("week") or 0)):
        week = int(module.get("week") or 0)
        if not 1 <= week <= weeks or not module.get("lessons"):
            dropped["modules"] += 1
            continue
        lessons = []
        for n, lesson in enumerate(module["lessons"], 1):
            good_files = [f for f in lesson.get("files") or [] if f in files]
            good_ids = [i for i in lesson.get("solution_ids") or [] if str(i) in ids]
            dropped["files"] += len(lesson.get("files") or []) - len(good_files)
            dropped["solution_ids"] += len(lesson.get("solution_ids") or []) - len(good_ids)
            lessons.append(
                {
                    "id": f"w{week}-l{n}",
                    "title": str(lesson.get("title") or f"Lesson {n}"),
                    "description": str(lesson.get("description") or ""),
                    "files": good_files,
                    "solution_ids": [str(i) for i in good_ids],
                    "exercise": str(lesson.get("exercise") or ""),
                }
            )
        modules.append(
            {
                "week": week,
                "title": str(module.get("title") or f"Week {week}"),
                "goal": str(module.get("goal") or ""),
                "lessons": lessons,
            }
        )
    return modules, dropped


async def generate(
    conn: psycopg.AsyncConnection[Any],
    synth: Synthesizer,
    ident: Any,
    *,
    weeks: int = DEFAULT_WEEKS,
    min_occurrences: int = MIN_OCCURRENCES,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Build and store a new learning path for `ident` (raises NotEnoughHistory, LLMError).
    `use_cache=False` asks the model again even when the same history was asked before."""
    weeks = max(1, min(MAX_WEEKS, int(weeks)))
    recurring = await synth_store.recurring_problems(conn, ident.user_id, 8, min_occurrences)
    if not recurring:
        raise NotEnoughHistory(
            "no recurring problems yet: a learning path needs problems seen at least "
            f"{min_occurrences} times"
        )
    solutions = await solution_store.solutions_for_signatures(
        conn, ident.user_id, [r["signature"] for r in recurring], per_signature=2
    )
    values, files, ids = _inputs(recurring, solutions, getattr(ident, "user_name", "") or "")
    values["weeks"] = str(weeks)
    run = await synth.run_template(
        conn,
        TEMPLATE,
        values,
        user_id=ident.user_id,
        repo_id=getattr(ident, "repo_id", None),
        use_cache=use_cache,
    )
    modules, dropped = ground_modules(run.data, weeks, files, ids)
    if not modules:
        reason = "the model's learning path had no usable weekly modules"
        await synth.reject(conn, run, reason)
        raise LLMBadResponse(reason)
    await synth.remember(conn, run)
    references = {
        "files": sorted({f for m in modules for lesson in m["lessons"] for f in lesson["files"]}),
        "solutions": sorted(
            {i for m in modules for lesson in m["lessons"] for i in lesson["solution_ids"]}
        ),
        "signatures": [r["signature"] for r in recurring],
        "dropped": dropped,
    }
    path_id = await synth_store.insert_learning_path(
        conn,
        user_id=ident.user_id,
        repo_id=getattr(ident, "repo_id", None),
        execution_id=run.execution_id,
        title=str(run.data.get("title") or "Your learning path"),
        duration_weeks=max(m["week"] for m in modules),
        difficulty_level=str(run.data.get("difficulty_level") or "intermediate"),
        modules=modules,
        references=references,
    )
    row = await synth_store.get_learning_path(conn, path_id, ident.user_id)
    assert row is not None
    return row


async def latest(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, Any] | None:
    return await synth_store.latest_learning_path(conn, user_id)


async def get(conn: psycopg.AsyncConnection[Any], user_id: Any, path_id: Any) -> dict[str, Any]:
    try:
        row = await synth_store.get_learning_path(conn, path_id, user_id)
    except psycopg.errors.InvalidTextRepresentation:
        row = None
    if row is None:
        raise LookupError(f"no learning path {path_id}")
    return row


def lesson_ids(row: dict[str, Any]) -> list[str]:
    return [lesson["id"] for m in row["modules"] for lesson in m["lessons"]]


async def mark_lesson(
    conn: psycopg.AsyncConnection[Any], user_id: Any, path_id: Any, lesson_id: str, done: bool
) -> dict[str, Any]:
    """Mark a lesson done (or not done); the current week is the first with open lessons."""
    row = await get(conn, user_id, path_id)
    all_ids = lesson_ids(row)
    if lesson_id not in all_ids:
        raise ValueError(f"no lesson {lesson_id!r} in this path (lessons: {', '.join(all_ids)})")
    completed = set((row.get("progress") or {}).get("completed_lessons") or [])
    if done:
        completed.add(lesson_id)
    else:
        completed.discard(lesson_id)
    current = next(
        (
            m["week"]
            for m in row["modules"]
            if any(lesson["id"] not in completed for lesson in m["lessons"])
        ),
        row["modules"][-1]["week"],
    )
    progress = {
        "completed_lessons": [i for i in all_ids if i in completed],
        "current_week": current,
    }
    await synth_store.set_learning_progress(
        conn, row["id"], progress, completed=len(completed) == len(all_ids)
    )
    return await get(conn, user_id, row["id"])


def path_json(row: dict[str, Any]) -> dict[str, Any]:
    """A learning path for clients (server command, `codecortex learn-path --json`)."""
    progress = row.get("progress") or {}
    completed = set(progress.get("completed_lessons") or [])
    total = len(lesson_ids(row))
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "difficulty": row.get("difficulty_level"),
        "durationWeeks": row["duration_weeks"],
        "modules": [
            {
                **m,
                "lessons": [
                    {**lesson, "done": lesson["id"] in completed} for lesson in m["lessons"]
                ],
            }
            for m in row["modules"]
        ],
        "progress": {
            "completedLessons": sorted(completed),
            "currentWeek": progress.get("current_week", 1),
            "percent": round(100 * len(completed) / total) if total else 0,
        },
        "references": row.get("user_code_references") or {},
        "createdAt": row["created_at"].isoformat() if row.get("created_at") else None,
        "completedAt": row["completed_at"].isoformat() if row.get("completed_at") else None,
    }


__all__ = [
    "DEFAULT_WEEKS",
    "NotEnoughHistory",
    "generate",
    "get",
    "ground_modules",
    "latest",
    "mark_lesson",
    "path_json",
]
