"""A temporary Python project with real ruff and the real memory (observe, recall, teach)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codecortex.detectors import run_detectors
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.memory.views import ProblemView

PYPROJECT = """\
[tool.ruff.lint]
select = ["F", "E7", "B", "RET", "SIM"]
"""


NOQA = "# noqa" + ": B018"  # (split so that ruff does not read it in this file)


class Project:
    def __init__(self, root: Path, conn: Any, memory: Memory, ident: Identity) -> None:
        self.root, self.conn, self.memory, self.ident = root, conn, memory, ident

    async def check(self, name: str, text: str, tools: tuple[str, ...] = ("ruff",)) -> Any:
        """Write `name`, run the real detectors on it and let the memory observe the result."""
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        run = await run_detectors([path], root=self.root, tools=list(tools))
        assert not run.errors, run.errors
        diags = run.diagnostics.get(path.resolve(), [])
        obs = await self.memory.observe(
            self.conn, self.ident, str(path), text, "python", diags, tools=set(tools)
        )
        return obs

    async def offered(
        self, name: str, text: str, tools: tuple[str, ...] = ("ruff",)
    ) -> list[ProblemView]:
        obs = await self.check(name, text, tools)
        await self.memory.recall(
            self.conn, self.ident, text, "python", obs.views, related=False,
            path=self.root / name, root=self.root,
        )  # fmt: skip
        return list(obs.views)

    async def teach(
        self, name: str, before: str, after: str, tools: tuple[str, ...] = ("ruff",)
    ) -> Any:
        await self.check(name, before, tools)
        return await self.check(name, after, tools)


def view_for(views: list[ProblemView], code: str) -> ProblemView:
    (view,) = [v for v in views if v.diagnostic.code == code]
    return view
