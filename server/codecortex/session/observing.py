"""What the editor and the detectors report about open documents, and whether it is recorded:
not for documents that are not worth it (`unsuitable`) nor for another version than the
document's (`stale`); with detectOnSave, the detectors' problems are theirs to report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from codecortex.detectors import TOOLS, run_detectors
from codecortex.diagnostics import Diagnostic, Range
from codecortex.files.roots import language_of, uri_to_path
from codecortex.memory.signatures import normalise_tool

if TYPE_CHECKING:
    from codecortex.session.service import Service

log = logging.getLogger(__name__)


def unsuitable_uri(uri: str) -> str | None:
    """Why a document URI cannot be recorded (a NUL byte or a lone surrogate in it), or None."""
    if "\x00" in uri:
        return "its URI contains a NUL byte"
    try:
        uri.encode("utf-8")
    except UnicodeEncodeError:
        return "its URI is not valid Unicode"
    return None


def unsuitable(uri: str, text: str, max_size: int) -> str | None:
    """Why a document is not worth recording (its URI, huge or binary), or None."""
    reason = unsuitable_uri(uri)
    if reason is not None:
        return reason
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_size:
        return f"larger than maxFileSize ({size} > {max_size} bytes)"
    if "\x00" in text[:8192]:
        return "binary content"
    if "\x00" in text:  # PostgreSQL text cannot store it: say so rather than fail later
        return f"contains a NUL byte (at offset {text.index(chr(0))})"
    return None


def stale(version: int | None, document_version: int | None) -> bool:
    """Diagnostics of another version than the document's current one (both known)."""
    return version is not None and document_version is not None and version != document_version


class Observing:
    def __init__(self, service: Service) -> None:
        self.service = service

    def observe_editor(
        self,
        uri: str,
        version: int | None,
        document: tuple[str, int | None, str | None],
        diagnostics: list[Diagnostic],
    ) -> None:
        """The editor's diagnostics of an open document (text, version, languageId): recorded
        unless the document is not worth it or they are of another version. With detectOnSave
        the editor's list says nothing about the detectors' problems (an empty list after
        opening a file must not resolve what the detector just found there)."""
        text, doc_version, language_id = document
        reason = unsuitable(uri, text, self.service.settings.max_file_size)
        if reason is not None:
            self.service.client.log(f"ignored diagnostics for {uri}: {reason}", "warning")
            self.service.client.show_once(
                "skip-file",
                f"CodeCortex: not recording {uri}: {reason} (later files: see the log)",
                "info",
            )
            return
        if stale(version, doc_version):
            log.debug("stale diagnostics for %s (v%s, document v%s)", uri, version, doc_version)
            return
        path = uri_to_path(uri)
        theirs = (
            self.detect_tools(path)
            if self.service.settings.detect_on_save and path
            else frozenset()
        )
        self.service.documents.on_diagnostics(
            uri, doc_version, text, language_of(path, language_id), diagnostics, not_tools=theirs
        )

    def observe_unseen(
        self,
        uri: str,
        version: int | None,
        text: str,
        language_id: str | None,
        diagnostics: list[Diagnostic],
        rng: Range,
    ) -> None:
        """The diagnostics at `rng` a code action request carries: those not seen yet are
        recorded as a partial set (they add, resolve nothing), when the document is worth it."""
        views = self.service.views_at(uri, rng)
        unknown = [d for d in diagnostics if not any(d.range == v.diagnostic.range for v in views)]
        if not unknown or unsuitable(uri, text, self.service.settings.max_file_size):
            return  # not recordable (said when its diagnostics arrived)
        language = language_of(uri_to_path(uri), language_id)
        self.service.documents.on_diagnostics(
            uri, version, text, language, unknown, tools=set(), method="code_action"
        )

    def detect_tools(self, path: Path) -> frozenset[str]:
        """The tools detectOnSave may run on `path` (the project's `detectors`, else any): their
        problems in that file are the detectors' to report and to resolve."""
        project = self.service.project_for(path.resolve())
        names = project.detectors if project.detectors is not None else TOOLS
        return frozenset(normalise_tool(t) for t in names)

    async def detect(
        self,
        uri: str,
        document: tuple[str, int | None, str | None],
        shown: Callable[[list[Diagnostic]], None],
    ) -> None:
        """detectOnSave: run the installed detectors on one open file, `shown` their
        diagnostics at once, then observe them."""
        path = uri_to_path(uri)
        if path is None:
            return
        text, version, language_id = document
        reason = unsuitable(uri, text, self.service.settings.max_file_size)
        if reason is not None:
            self.service.client.log(f"not checking {uri}: {reason}", "warning")
            return
        root = self.service.workspace.folder_of(path)
        project = self.service.project_for(path.resolve())
        if not project.enable or project.ignores(path):
            return
        wanted = list(project.detectors) if project.detectors is not None else None
        run = await run_detectors([path], root=root, tools=wanted)
        for tool, error in run.errors.items():
            self.service.client.log(f"detector {tool} failed: {error}", "warning")
        diagnostics = run.diagnostics.get(path.resolve(), [])
        shown(diagnostics)
        tools = {tool for tool, files in run.checked.items() if path.resolve() in files}
        self.service.documents.on_diagnostics(
            uri,
            version,
            text,
            language_of(path, language_id),
            diagnostics,
            tools={normalise_tool(t) for t in tools},
            method="detector",
        )
