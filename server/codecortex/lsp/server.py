"""The pygls language server: a `LanguageServer` subclass holding the engine (`Service`) and the
editor-facing helpers the engine calls back (log, show once, status, views changed).

Handlers live in `lsp/features.py`; this module only wires and runs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from codecortex import __version__
from codecortex.config import Settings, load_settings
from codecortex.service import Service

log = logging.getLogger(__name__)

_LEVELS = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
    "debug": types.MessageType.Log,
}


class CodeCortexServer(LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__("codecortex", __version__)
        self.settings = settings
        self.service = Service(settings, self)
        self._shown: set[str] = set()
        self._publish_handles: dict[str, asyncio.TimerHandle] = {}
        self.document_changes = False
        self.started = asyncio.Event()

    # --- the engine's Client protocol -------------------------------------------------------

    def log(self, message: str, level: str = "info") -> None:
        getattr(log, "warning" if level == "warning" else level, log.info)(message)
        try:
            self.window_log_message(
                types.LogMessageParams(
                    type=_LEVELS.get(level, types.MessageType.Info), message=message
                )
            )
        except Exception:  # not connected yet / already gone
            pass

    def show_once(self, key: str, message: str, level: str = "warning") -> None:
        """window/showMessage, at most once per key per session (no nagging)."""
        if key in self._shown:
            return
        self._shown.add(key)
        try:
            self.window_show_message(
                types.ShowMessageParams(
                    type=_LEVELS.get(level, types.MessageType.Warning), message=message
                )
            )
        except Exception:
            pass

    def status(self, payload: dict[str, Any]) -> None:
        try:
            self.protocol.notify("codecortex/status", payload)
        except Exception:
            pass

    def views_changed(self, uri: str) -> None:
        """Re-publish our hint diagnostics for a document (coalesced)."""
        from codecortex.lsp.features import publish_hints

        handle = self._publish_handles.pop(uri, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_event_loop()
        self._publish_handles[uri] = loop.call_later(0.02, publish_hints, self, uri)

    # --- settings -----------------------------------------------------------------------------

    def apply_settings(self, options: Any) -> None:
        settings = load_settings(options)
        for error in settings.errors:
            self.log(f"invalid setting: {error}", "warning")
        if settings.errors:
            self.show_once(
                "settings:" + ";".join(settings.errors),
                "CodeCortex: invalid settings, using defaults for: " + "; ".join(settings.errors),
            )
        self.settings = settings
        self.service.update_settings(settings)


def run_server(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    from codecortex.lsp.features import register

    logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.INFO))
    server = CodeCortexServer(settings)
    register(server)
    if host is not None and port is not None:
        server.start_tcp(host, port)
    else:
        server.start_io()
