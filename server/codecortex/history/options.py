"""What a history run is asked to do (`HistoryOptions`, also a job's payload) and what it
reports (`HistoryReport`), with the detectors history runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from codecortex.config import Settings

# Detectors that give a meaningful answer on single files in a scratch directory.
HISTORY_TOOLS = ("ruff", "mypy", "pyflakes")
# Run unless the tools are named (`--tools`, [tool.codecortex] detectors): mypy checks each
# commit's files for seconds where ruff takes milliseconds, so it is opt-in for history.
DEFAULT_HISTORY_TOOLS = ("ruff", "pyflakes")
# Detectors whose report on a file depends only on the file and the configuration above it: the
# versions of many commits are checked by one process of them.
PER_FILE_TOOLS = ("ruff", "pyflakes")


@dataclass
class HistoryOptions:
    branch: str | None = None  # default: HEAD
    since: str | None = None  # anything `git log --since` accepts
    max_commits: int | None = None  # at most this many commits in this run (oldest first)
    tools: list[str] | None = None  # default: DEFAULT_HISTORY_TOOLS that are installed
    max_file_size: int = 2_000_000
    max_diff_lines: int = 60
    batch_commits: int = 64  # commits read, checked (one detector process) and learned together
    workers: int = 0  # 0: one per CPU core
    detector_timeout: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> HistoryOptions:
        return cls(
            max_file_size=settings.max_file_size, max_diff_lines=settings.max_diff_lines, **kw
        )

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> HistoryOptions:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class HistoryReport:
    head: str | None = None
    last_synced_sha: str | None = None
    commits_pending: int = 0  # commits not mined yet when the run started
    commits_total: int = 0  # commits this run was to mine
    commits_done: int = 0
    commits_skipped: dict[str, int] = field(default_factory=dict)
    files_changed: int = 0  # changed files in a detector's language
    files_skipped: dict[str, int] = field(default_factory=dict)
    versions_checked: int = 0  # file versions the detectors ran on
    versions_cached: int = 0  # file versions answered from the cache
    problems_gone: int = 0
    not_learned: dict[str, int] = field(default_factory=dict)
    solutions_learned: int = 0
    solutions_known: int = 0  # learned, but already stored (an earlier run or a live fix)
    tools: list[str] = field(default_factory=list)
    tool_errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    up_to_date: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data
