"""Parsers from each tool's machine-readable output to Diagnostic objects (pure functions).

Each parser gets the tool's stdout/stderr, its exit code and the directory it ran in, and returns
diagnostics keyed by absolute path. Output that cannot be understood raises DetectorOutputError
with a short description, so that the runner can report the tool as failed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from codecortex.diagnostics import Diagnostic, Range

Found = dict[Path, list[Diagnostic]]


class DetectorOutputError(Exception):
    """The tool ran but its output was not what we expected."""


def _snippet(text: str, limit: int = 300) -> str:
    """`text` on one line (its lines joined by " | ": errors are shown as one line, and a tool's
    reason often comes after its first, as ruff's "ruff failed" / "Cause: ..."), clipped."""
    text = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit] + "…"


def _path(cwd: Path, name: str) -> Path:
    p = Path(name)
    return (p if p.is_absolute() else cwd / p).resolve()


def _add(found: Found, path: Path, diag: Diagnostic) -> None:
    found.setdefault(path, []).append(diag)


def _rng(sl: int, sc: int, el: int, ec: int) -> Range:
    sl, sc = max(sl, 0), max(sc, 0)
    el, ec = max(el, sl), max(ec, 0)
    if el == sl and ec < sc:
        ec = sc
    return Range.of(sl, sc, el, ec)


def _json(stdout: str, tool: str) -> Any:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise DetectorOutputError(f"{tool} printed invalid JSON: {_snippet(stdout)!r}") from exc


# --------------------------------------------------------------------------- ruff


def parse_ruff(stdout: str, stderr: str, returncode: int, cwd: Path) -> Found:
    if returncode not in (0, 1):
        raise DetectorOutputError(f"ruff exited with {returncode}: {_snippet(stderr or stdout)}")
    data = _json(stdout or "[]", "ruff")
    if not isinstance(data, list):
        raise DetectorOutputError("ruff JSON output is not a list")
    found: Found = {}
    paths: dict[str, Path] = {}  # many reports per file: resolve each name once
    for item in data:
        try:
            loc, end = item["location"], item.get("end_location") or item["location"]
            code = item.get("code") or ""
            diag = Diagnostic(
                source="ruff",
                code=str(code),
                message=str(item["message"]),
                range=_rng(loc["row"] - 1, loc["column"] - 1, end["row"] - 1, end["column"] - 1),
                # Like ruff's language server: lint violations are warnings, syntax errors errors.
                severity=2 if code else 1,
                data={k: item[k] for k in ("url", "fix", "name") if item.get(k) is not None},
            )
            name = item["filename"]
            if name not in paths:
                paths[name] = _path(cwd, name)
            _add(found, paths[name], diag)
        except (KeyError, TypeError) as exc:
            raise DetectorOutputError(f"unexpected ruff item: {_snippet(str(item))}") from exc
    return found


# --------------------------------------------------------------------------- mypy

_MYPY_TEXT = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?:(?P<col>\d+):)?(?:(?P<eline>\d+):(?P<ecol>\d+):)?\s*"
    r"(?P<sev>error|warning|note): (?P<msg>.*?)(?:\s+\[(?P<code>[\w-]+)\])?$"
)
_MYPY_SEVERITY = {"error": 1, "warning": 2}


# Notes about the configuration, not about code: "setup.cfg: note: unused section(s): [...]".
_MYPY_CONFIG_NOTE = re.compile(r"^[^{\s][^:]*: (?:note|warning): ")


def parse_mypy_json(stdout: str, stderr: str, returncode: int, cwd: Path) -> Found:
    found: Found = {}
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if returncode not in (0, 1) and not lines:
        raise DetectorOutputError(f"mypy exited with {returncode}: {_snippet(stderr or stdout)}")
    for line in lines:
        if _MYPY_CONFIG_NOTE.match(line):
            continue
        try:
            item = json.loads(line)
            sev = item["severity"]
            if sev == "note":  # context for the error before it, not a problem of its own
                continue
            if int(item["line"]) < 0 and sev == "error":
                raise MypyStopped(str(item["message"]))
            sl = int(item["line"]) - 1
            sc = max(int(item.get("column", 0)), 0)
            el = int(item.get("end_line") or item["line"]) - 1
            ec = int(item.get("end_column") or sc)
            diag = Diagnostic(
                source="mypy",
                code=str(item.get("code") or ""),
                message=str(item["message"]),
                range=_rng(sl, sc, el, ec),
                severity=_MYPY_SEVERITY.get(sev, 1),
                data={"hint": item["hint"]} if item.get("hint") else {},
            )
            _add(found, _path(cwd, item["file"]), diag)
        except MypyStopped as exc:
            raise DetectorOutputError(_stopped(exc.args[0])) from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DetectorOutputError(f"unexpected mypy output line: {_snippet(line)!r}") from exc
    return found


class MypyStopped(Exception):
    """mypy reported an error about its invocation (no line): it checked nothing."""


def _stopped(message: str) -> str:
    return (
        f"mypy stopped before checking anything: {_snippet(message, 200)} (tell it which files "
        "to check: `files` or `exclude` in its configuration)"
    )


_MYPY_BLOCKING = re.compile(r"^(?P<file>[^:\n]+): error: (?P<msg>.+)$")


def parse_mypy_text(stdout: str, stderr: str, returncode: int, cwd: Path) -> Found:
    """Output of `--show-column-numbers --show-error-end --show-error-codes --no-pretty`."""
    found: Found = {}
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if returncode not in (0, 1) and not lines:
        raise DetectorOutputError(f"mypy exited with {returncode}: {_snippet(stderr or stdout)}")
    for line in lines:
        m = _MYPY_TEXT.match(line)
        if m is None:
            if line.startswith(("Success:", "Found ")) or _MYPY_CONFIG_NOTE.match(line):
                continue
            blocking = _MYPY_BLOCKING.match(line)
            if blocking is not None:
                raise DetectorOutputError(_stopped(blocking["msg"]))
            raise DetectorOutputError(f"unexpected mypy output line: {_snippet(line)!r}")
        if m["sev"] == "note":
            continue
        sl = int(m["line"]) - 1
        sc = int(m["col"]) - 1 if m["col"] else 0
        el = int(m["eline"]) - 1 if m["eline"] else sl
        ec = int(m["ecol"]) if m["ecol"] else sc  # end column is inclusive 1-based
        diag = Diagnostic(
            source="mypy",
            code=m["code"] or "",
            message=m["msg"],
            range=_rng(sl, sc, el, ec),
            severity=_MYPY_SEVERITY[m["sev"]],
        )
        _add(found, _path(cwd, m["file"]), diag)
    return found


# --------------------------------------------------------------------------- pyflakes

_PYFLAKES = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?:(?P<col>\d+):?)? (?P<msg>.+)$")


def parse_pyflakes(stdout: str, stderr: str, returncode: int, cwd: Path) -> Found:
    """pyflakes prints warnings on stdout and syntax errors (followed by the source line and a
    caret) on stderr."""
    if returncode not in (0, 1):
        raise DetectorOutputError(f"pyflakes exited with {returncode}: {_snippet(stderr)}")
    found: Found = {}
    for stream, severity in ((stdout, 2), (stderr, 1)):
        lines = stream.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.strip():
                continue
            m = _PYFLAKES.match(line)
            if m is None or not m["file"].endswith((".py", ".pyi")):
                if stream is stderr:
                    continue  # source line / caret under a syntax error
                raise DetectorOutputError(f"unexpected pyflakes output: {_snippet(line)!r}")
            sl = int(m["line"]) - 1
            sc = int(m["col"]) - 1 if m["col"] else 0
            diag = Diagnostic(
                source="pyflakes",
                code="",
                message=m["msg"],
                range=_rng(sl, sc, sl, sc),  # widened to the token by the runner
                severity=severity,
            )
            _add(found, _path(cwd, m["file"]), diag)
    return found


# --------------------------------------------------------------------------- tsc

_TSC = re.compile(
    r"^(?P<file>.+?)\((?P<line>\d+),(?P<col>\d+)\): (?P<sev>error|warning|message) "
    r"TS(?P<code>\d+): (?P<msg>.*)$"
)
_TSC_GLOBAL = re.compile(r"^(?:error|warning) TS(?P<code>\d+): (?P<msg>.*)$")


def parse_tsc(stdout: str, stderr: str, returncode: int, cwd: Path) -> Found:
    """`tsc --noEmit --pretty false`: one line per diagnostic, indented continuation lines."""
    found: Found = {}
    last: Diagnostic | None = None
    recognised = False
    problems: list[str] = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        m = _TSC.match(line)
        if m:
            recognised = True
            sl, sc = int(m["line"]) - 1, int(m["col"]) - 1
            last = Diagnostic(
                source="tsc",
                code=m["code"],
                message=m["msg"],
                range=_rng(sl, sc, sl, sc),
                severity=1 if m["sev"] == "error" else 2,
            )
            _add(found, _path(cwd, m["file"]), last)
        elif line.startswith(" ") and last is not None:
            last.message += "\n" + line.strip()
        elif g := _TSC_GLOBAL.match(line):
            problems.append(f"TS{g['code']}: {g['msg']}")
        else:
            problems.append(line)
    if problems and not recognised:
        raise DetectorOutputError(f"tsc: {_snippet(' | '.join(problems))}")
    if returncode not in (0, 1, 2) and not recognised:
        raise DetectorOutputError(f"tsc exited with {returncode}: {_snippet(stderr)}")
    return found


# --------------------------------------------------------------------------- eslint


def parse_eslint(stdout: str, stderr: str, returncode: int, cwd: Path) -> Found:
    if returncode not in (0, 1):
        raise DetectorOutputError(f"eslint exited with {returncode}: {_snippet(stderr or stdout)}")
    data = _json(stdout or "[]", "eslint")
    if not isinstance(data, list):
        raise DetectorOutputError("eslint JSON output is not a list")
    found: Found = {}
    for result in data:
        try:
            path = _path(cwd, result["filePath"])
            found.setdefault(path, [])
            for m in result["messages"]:
                if m.get("ruleId") is None and not m.get("fatal"):
                    continue  # "File ignored because of a matching ignore pattern" and the like
                sl, sc = int(m.get("line", 1)) - 1, int(m.get("column", 1)) - 1
                el = int(m.get("endLine") or m.get("line", 1)) - 1
                ec = int(m.get("endColumn") or m.get("column", 1)) - 1
                diag = Diagnostic(
                    source="eslint",
                    code=str(m.get("ruleId") or ""),
                    message=str(m["message"]),
                    range=_rng(sl, sc, el, ec),
                    severity=1 if m.get("severity") == 2 else 2,
                    data={"messageId": m["messageId"]} if m.get("messageId") else {},
                )
                found[path].append(diag)
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorOutputError(f"unexpected eslint result: {_snippet(str(result))}") from exc
    return found


# --------------------------------------------------------------------------- cargo / rustc

_RUST_SEVERITY = {"error": 1, "warning": 2}


def _rust_path(cwd: Path, manifest: str | None, name: str) -> Path:
    """Span file names are relative to the workspace root, which may be above the crate."""
    if Path(name).is_absolute():
        return Path(name).resolve()
    bases = [cwd, *([Path(manifest).parent] if manifest else []), *cwd.parents]
    for base in bases:
        if (base / name).exists():
            return (base / name).resolve()
    return (cwd / name).resolve()


def parse_cargo(stdout: str, stderr: str, returncode: int, cwd: Path) -> Found:
    """`cargo check --message-format=json`: JSON lines; compiler messages carry rustc's JSON
    diagnostic with spans (1-based lines and columns, end column exclusive) relative to the
    workspace root (cwd)."""
    found: Found = {}
    recognised = False
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DetectorOutputError(f"cargo printed invalid JSON: {_snippet(line)!r}") from exc
        if not isinstance(item, dict) or "reason" not in item:
            raise DetectorOutputError(f"unexpected cargo output: {_snippet(line)!r}")
        recognised = True
        if item["reason"] != "compiler-message":
            continue
        msg = item.get("message") or {}
        severity = _RUST_SEVERITY.get(msg.get("level", ""))
        spans = [s for s in msg.get("spans", []) if s.get("is_primary")]
        if severity is None or not spans:
            continue  # notes, "aborting due to ..." summaries
        code = (msg.get("code") or {}).get("code") or ""
        span = spans[0]
        diag = Diagnostic(
            source="clippy" if code.startswith("clippy::") else "rustc",
            code=code,
            message=str(msg.get("message", "")),
            range=_rng(
                span["line_start"] - 1,
                span["column_start"] - 1,
                span["line_end"] - 1,
                span["column_end"] - 1,
            ),
            severity=severity,
            data={"rendered": msg["rendered"]} if msg.get("rendered") else {},
        )
        _add(found, _rust_path(cwd, item.get("manifest_path"), span["file_name"]), diag)
    if not recognised and returncode != 0:
        raise DetectorOutputError(f"cargo exited with {returncode}: {_snippet(stderr)}")
    return found


_TOKEN = re.compile(r"[\w$]+|\"[^\"]*\"|'[^']*'|`[^`]*`|\S")


def widen_to_token(diag: Diagnostic, lines: list[str]) -> None:
    """Give a zero-width range (tsc and pyflakes report only a start) the extent of the token
    there (`lines`: the text's lines)."""
    ln, col = diag.range.start.line, diag.range.start.character
    if diag.range.start == diag.range.end and ln < len(lines):
        m = _TOKEN.match(lines[ln], col)
        if m:
            diag.range = Range.of(ln, col, ln, m.end())
