"""Helpers for driving the real `codecortex serve` over stdio with pytest-lsp, as VS Code or as
Neovim (their recorded capabilities: `EDITORS`, the `editor` fixture of tests/lsp)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

from lsprotocol import converters, types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from codecortex.diagnostics import Range, TextEdit, apply_edits
from codecortex.lsp.convert import plain

BIN = Path(sys.executable).parent


def server_env(db_url: str | None = None, **extra: str) -> dict[str, str]:
    """This environment without CodeCortex settings or model keys, pointed at `db_url`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CODECORTEX_") and k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")
    }
    if db_url is not None:
        env["CODECORTEX_DATABASE_URL"] = db_url
    env.update(extra)
    return env


T = TypeVar("T")


@dataclass(frozen=True)
class Editor:
    """An editor as the server sees it: the capabilities it sends in `initialize` (pytest-lsp's
    recording of the real one), and what the server must make of them."""

    id: str  # the test id
    client: str  # pytest-lsp's name for the recorded capabilities
    document_changes: bool  # workspace edits come as versioned documentChanges, else `changes`
    position_encoding: str  # negotiated from the encodings the editor offers

    def capabilities(self) -> types.ClientCapabilities:
        return client_capabilities(self.client)  # a new object each time

    def capabilities_json(self) -> dict[str, Any]:
        """The capabilities as they go over the wire (for raw JSON-RPC clients)."""
        result: dict[str, Any] = converters.get_converter().unstructure(self.capabilities())
        return result

    @property
    def other(self) -> Editor:
        return next(e for e in EDITORS if e is not self)


VSCODE = Editor("vscode", "visual-studio-code", document_changes=True, position_encoding="utf-16")
NEOVIM = Editor("neovim", "neovim", document_changes=False, position_encoding="utf-8")
EDITORS = (VSCODE, NEOVIM)


async def start_client(
    env: dict[str, str],
    root: Path,
    editor: Editor,
    options: dict[str, Any] | None = None,
    general: types.GeneralClientCapabilities | None = None,
) -> LanguageClient:
    """The real server over stdio, initialized as `editor`; `general` replaces the editor's
    general capabilities (position encodings offered)."""
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "codecortex", "serve"], server_env=env
    )
    client = await config.start()
    assert isinstance(client, LanguageClient)
    _fix_code_action_parsing(client)
    client.statuses = []  # type: ignore[attr-defined]
    client.editor = editor  # type: ignore[attr-defined]

    @client.feature("codecortex/status")
    def on_status(params: Any) -> None:
        client.statuses.append(plain(params))  # type: ignore[attr-defined]

    capabilities = editor.capabilities()
    if general is not None:
        capabilities.general = general
    client.initialize_result = await client.initialize_session(  # type: ignore[attr-defined]
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options={"codecortex": options or {}},
        )
    )
    return client


def _fix_code_action_parsing(client: LanguageClient) -> None:
    """lsprotocol's client-side hook parses every code action that carries a `command` as a
    bare Command; tell a CodeAction (command is an object) from a Command (a string)."""
    converter = client.protocol._converter

    def hook(obj: Any, _: Any) -> Any:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Poll `probe` until it returns something truthy (the server works in the background):
    soon after the first try, then every `interval`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    pause = min(0.02, interval)
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(pause)
        pause = min(pause * 2, interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def ruff_diagnostics(path: Path, text: str) -> list[dict[str, Any]]:
    """Real ruff findings for `text` as LSP diagnostics (what an editor's ruff integration shows)."""
    out = subprocess.run(
        [str(BIN / "ruff"), "check", "--output-format=json", "--no-fix", "--exit-zero",
         "--isolated", "--select", "E,F", "--stdin-filename", str(path), "-"],
        input=text, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    diagnostics = []
    for item in json.loads(out):
        loc, end = item["location"], item["end_location"]
        diagnostics.append(
            {
                "range": {
                    "start": {"line": loc["row"] - 1, "character": loc["column"] - 1},
                    "end": {"line": end["row"] - 1, "character": end["column"] - 1},
                },
                "severity": 2,
                "source": "Ruff",
                "code": item["code"],
                "message": item["message"],
            }
        )
    return diagnostics


def open_doc(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=version, text=text
            )
        )
    )
    return uri


def change_doc(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def forward(client: LanguageClient, uri: str, version: int | None, diagnostics: list[Any]) -> None:
    client.protocol.notify(
        "codecortex/diagnostics", {"uri": uri, "version": version, "diagnostics": diagnostics}
    )


def workspace_edits(uri: str, edit: types.WorkspaceEdit, editor: Editor) -> list[types.TextEdit]:
    """The text edits of `edit`, which must come in the form `editor` supports: versioned
    documentChanges (VS Code) or plain `changes` (Neovim, which does not offer documentChanges)."""
    edits: list[types.TextEdit] = []
    if editor.document_changes:
        assert edit.changes is None and edit.document_changes, edit
        for change in edit.document_changes:
            assert isinstance(change, types.TextDocumentEdit), change
            assert change.text_document.uri == uri and change.text_document.version is not None
            edits.extend(e for e in change.edits if isinstance(e, types.TextEdit))
    else:
        assert edit.document_changes is None and edit.changes, edit
        assert list(edit.changes) == [uri], edit
        edits.extend(edit.changes[uri])
    return edits


def apply_workspace_edit(text: str, uri: str, edit: types.WorkspaceEdit, editor: Editor) -> str:
    edits = workspace_edits(uri, edit, editor)
    return apply_edits(
        text,
        [
            TextEdit(
                Range.of(e.range.start.line, e.range.start.character, e.range.end.line,
                         e.range.end.character),
                e.new_text,
            )
            for e in edits
        ],
    )  # fmt: skip


async def command(client: LanguageClient, name: str, *args: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(args))
    )


async def code_actions(client: LanguageClient, uri: str, diag: dict[str, Any]) -> list[Any]:
    r = diag["range"]
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(**r["start"]), end=types.Position(**r["end"])),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return list(result or [])


def ruff_server_diagnostics(root: Path, path: Path, text: str) -> list[dict[str, Any]]:
    """What ruff's own language server (`ruff server`) publishes for `text`: its messages carry
    the fix title as a "help: ..." paragraph, unlike `ruff check`'s JSON."""
    proc = subprocess.Popen(
        [str(BIN / "ruff"), "server"], cwd=root,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def send(message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def receive() -> dict[str, Any]:
        length = 0
        while (header := stdout.readline()) not in (b"\r\n", b""):
            if header.lower().startswith(b"content-length:"):
                length = int(header.split(b":")[1])
        result: dict[str, Any] = json.loads(stdout.read(length))
        return result

    try:
        send({"id": 1, "method": "initialize",
              "params": {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}})  # fmt: skip
        while receive().get("id") != 1:
            pass
        send({"method": "initialized", "params": {}})
        send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": path.as_uri(), "languageId": "python", "version": 1, "text": text}}})  # fmt: skip
        while True:
            message = receive()
            if message.get("method") == "textDocument/publishDiagnostics":
                return list(message["params"]["diagnostics"])
    finally:
        proc.kill()
        proc.wait()


async def stats(client) -> dict:
    result = await command(client, "codecortex.stats")
    return result if isinstance(result, dict) and "problems" in result else {}


async def having(coro, key: str, minimum: int):
    result = await coro
    return result if result and result.get(key, 0) >= minimum else None


async def learn_unused_import(client, root: Path) -> str:
    a = root / "first.py"
    before = "import os\nimport sys\n\nprint(sys.argv)\n"
    a_uri = open_doc(client, a, before)
    forward(client, a_uri, 1, ruff_diagnostics(a, before))
    await eventually(lambda: having(stats(client), "problems", 1))
    change_doc(client, a_uri, "import sys\n\nprint(sys.argv)\n", 2)
    forward(client, a_uri, 2, [])
    await eventually(lambda: having(stats(client), "solutions", 1))
    b = root / "second.py"
    text = "import json\nimport re\n\nprint(re.compile('x'))\n"
    b_uri = open_doc(client, b, text)
    forward(client, b_uri, 1, ruff_diagnostics(b, text))
    return b_uri
