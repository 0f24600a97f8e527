"""The history miner's first stage: a batch of commits read from git (one `diff-tree --stdin`
for their changes, `cat-file --batch` for contents and configuration), each commit's changed
source files in a detector's language with both versions' texts and their line opcodes, and the
child's tool configuration and package markers; noise filtered (merges, root commits, ignored,
vendored, generated, oversized and binary files, mass reformatting)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from codecortex.config import ProjectConfig
from codecortex.files.text import decode_text
from codecortex.history.checks import CONFIG_FILES, FilePair, Prepared, module_dirs
from codecortex.history.filters import (
    generated_header,
    is_reformatting,
    layout_only_hunks,
    vendored_or_generated_path,
)
from codecortex.history.git import Change, Commit, Git
from codecortex.history.options import HistoryOptions, HistoryReport
from codecortex.memory.learning import line_opcodes
from codecortex.syntax.grammars import language_for_path


class CommitReader:
    """Prepares commits for the detector stage, for the chosen `tools` and their `extensions`."""

    def __init__(
        self,
        git: Git,
        root: Path,
        project: ProjectConfig,
        options: HistoryOptions,
        report: HistoryReport,
        tools: list[str],
        extensions: set[str],
    ) -> None:
        self.git = git
        self.root = root
        self.project = project
        self.options = options
        self.report = report
        self.tools = tools
        self.extensions = extensions
        self.attributes: dict[str, set[str]] = {}  # path -> linguist attributes set

    def _skip_file(self, reason: str) -> None:
        self.report.files_skipped[reason] = self.report.files_skipped.get(reason, 0) + 1

    async def prepare_batch(self, batch: list[Commit]) -> list[Prepared]:
        changed: dict[str, list[Change]] = {}
        if self.tools:
            changed = await self.git.changes_many([c for c in batch if len(c.parents) == 1])
            paths = {
                c.new_path
                for cs in changed.values()
                for c in cs
                if os.path.splitext(c.new_path)[1] in self.extensions
            }
            unknown = sorted(p for p in paths if p not in self.attributes)
            found = await self.git.attributes(unknown)
            for p in unknown:
                self.attributes[p] = set(found.get(p, ()))
        return [await self._prepare(c, changed.get(c.sha, [])) for c in batch]

    async def _prepare(self, commit: Commit, all_changes: list[Change]) -> Prepared:
        if len(commit.parents) > 1:
            return Prepared(commit, [], "merge")
        if not commit.parents:
            return Prepared(commit, [], "root commit")
        if not self.tools:
            return Prepared(commit, [], "no detector installed")
        changes = [
            c
            for c in all_changes
            if os.path.splitext(c.new_path)[1] in self.extensions
            and not self.project.ignores(self.root / c.new_path)
        ]
        if not changes:
            return Prepared(commit, [], "no modified source file")
        files: list[FilePair] = []
        counts: list[tuple[int, int]] = []
        for change in changes:
            self.report.files_changed += 1
            reason = vendored_or_generated_path(change.new_path)
            attrs = self.attributes.get(change.new_path)
            if reason is None and attrs:
                reason = "generated" if "linguist-generated" in attrs else "vendored"
            if reason:
                self._skip_file(reason)
                continue
            old_data = await self.git.blob(change.old_blob)
            new_data = await self.git.blob(change.new_blob)
            if max(len(old_data), len(new_data)) > self.options.max_file_size:
                self._skip_file("over the size limit")
                continue
            (old_text, _), (new_text, _) = decode_text(old_data), decode_text(new_data)
            if old_text is None or new_text is None:
                self._skip_file("binary or not UTF-8")
                continue
            if generated_header(new_text) or generated_header(old_text):
                self._skip_file("generated")
                continue
            old_lines = old_text.splitlines(keepends=True)
            new_lines = new_text.splitlines(keepends=True)
            ops = line_opcodes(old_lines, new_lines)
            counts.append(layout_only_hunks(old_lines, new_lines, ops))
            files.append(
                FilePair(change, language_for_path(change.new_path), old_text, new_text, ops)
            )
        if not files:
            return Prepared(commit, [], "only vendored, generated or unreadable files")
        if is_reformatting(counts):
            return Prepared(commit, [], "reformatting")
        # the child's configuration and package markers, for both versions
        wanted: list[str] = []
        for f in files:
            for path in (f.change.old_path, f.change.new_path):
                for d in module_dirs(path):
                    wanted.extend(f"{d}/{name}" for name in CONFIG_FILES)
                    wanted.append(f"{d}/__init__.py")
        wanted.extend(CONFIG_FILES)
        entries = await self.git.blobs_at(commit.sha, sorted(set(wanted)))
        config = {p: data for p, (_sha, data) in sorted(entries.items())}
        config_key = hashlib.sha1(
            "\n".join(
                f"{p}:{sha}"
                for p, (sha, _data) in sorted(entries.items())
                if not p.endswith("__init__.py")
            ).encode()
        ).hexdigest()[:16]
        return Prepared(commit, files, None, config, config_key)
