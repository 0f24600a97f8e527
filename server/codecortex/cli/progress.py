"""One progress display for long CLI commands (`analyze`, `learn-history`): a rich progress bar
with the time remaining on a terminal, nothing at all when stderr is a pipe or a file (or with
`--quiet`)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressBar:
    """Called as a job's on_progress(job, fraction, message); `close()` when done."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        stream = stream or sys.stderr
        self.progress: Progress | None = None
        if enabled and stream.isatty():
            self.progress = Progress(
                TextColumn(f"[bold]{label}[/bold]"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[message]}"),
                console=Console(file=stream),
                auto_refresh=False,
                transient=False,
            )
            self.task = self.progress.add_task(label, total=100, message="")
            self.progress.start()

    def __call__(self, job: Any, fraction: float, message: str | None) -> None:
        if self.progress is None:
            return
        pct = max(0.0, min(1.0, fraction)) * 100
        self.progress.update(self.task, completed=pct, message=(message or "")[:60])
        self.progress.refresh()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
