"""What an editor feature can do: the hooks `lsp/setup.py` fans each LSP request out to.

A feature is an object holding its own state; every hook is a no-op by default, so a feature
implements only what it takes part in. Positions and ranges are the engine's (code points).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types

from codecortex.diagnostics import Position, Range
from codecortex.lsp.server import CodeCortexServer
from codecortex.session.service import Service


@dataclass(frozen=True)
class Command:
    """A `workspace/executeCommand` command: `run(*arguments)`, `default` the answer when it
    fails (None: the failure is the answer, an error)."""

    name: str
    run: Callable[..., Awaitable[Any]]
    default: Any = None
    guarded: bool = True


class Feature:
    name = "feature"

    def __init__(self, ls: CodeCortexServer) -> None:
        self.ls = ls

    @property
    def service(self) -> Service:
        return self.ls.service

    def code_actions(
        self, uri: str, rng: Range, text: str, version: int | None
    ) -> list[types.CodeAction]:
        """Actions for `rng` of an open document (its current text and version)."""
        return []

    async def resolve(self, kind: str, action: types.CodeAction) -> types.CodeAction | None:
        """The action resolved, when `kind` (its data's) is this feature's; else None."""
        return None

    def hover(self, uri: str, position: Position) -> str | None:
        """Markdown shown after the problem-memory hover."""
        return None

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        """Diagnostics published with our hints (runs whenever they are published)."""
        return []

    def on_open(self, uri: str) -> None:
        """A document was opened."""

    def on_save(self, uri: str) -> None:
        """A document was saved."""

    def on_close(self, uri: str) -> None:
        """A document was closed."""

    def on_files_changed(self, paths: list[Path]) -> None:
        """Source files changed outside the editor (git checkout, generators)."""

    def commands(self) -> list[Command]:
        return []


def quick_fix(
    title: str,
    run: tuple[str, str, list[Any]],
    diagnostic: types.Diagnostic | None = None,
    **fields: Any,
) -> types.CodeAction:
    """A quick-fix code action that runs the command `run` (its title, name, arguments) for
    `diagnostic`; `fields`: the action's others (an edit, is_preferred)."""
    command_title, command, arguments = run
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic] if diagnostic is not None else None,
        command=types.Command(title=command_title, command=command, arguments=arguments),
        **fields,
    )
