"""Detectors run real tools on fixture files (copied to tmp_path so the repo's config is not used)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import ROOT, TESTS

from codecortex.detectors import (
    TOOLS,
    available_detectors,
    find_executable,
    run_detectors,
    run_detectors_sync,
)
from codecortex.detectors.parsers import parse_mypy_json, parse_mypy_text
from codecortex.memory.signatures import compute_signature

FIXTURES = TESTS / "fixtures" / "detectors"
# A node_modules/.bin with tsc and eslint: given, or the VS Code extension's dev toolchain.
NODE_BIN = os.environ.get("CODECORTEX_TEST_NODE_BIN") or str(
    ROOT / "client-vscode" / "node_modules" / ".bin"
)


def _node_tool(name: str) -> str | None:
    if NODE_BIN and (Path(NODE_BIN) / name).exists():
        return str(Path(NODE_BIN) / name)
    return shutil.which(name)


@pytest.fixture
def pyproj(tmp_path: Path) -> Path:
    for name in ("sample.py", "clean.py"):
        shutil.copy(FIXTURES / "python" / name, tmp_path / name)
    return tmp_path


def _fake_tool(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _codes(diags: list, source: str) -> set[tuple[str, int]]:
    return {(d.code, d.range.start.line) for d in diags if d.source == source}


# --------------------------------------------------------------------------- python tools


async def test_ruff_mypy_pyflakes_on_fixture(pyproj: Path) -> None:
    run = await run_detectors([pyproj], tools=["ruff", "mypy", "pyflakes"])
    assert run.errors == {}
    sample, clean = (pyproj / "sample.py").resolve(), (pyproj / "clean.py").resolve()
    assert set(run.checked) == {"ruff", "mypy", "pyflakes"}
    assert sorted(run.checked["ruff"]) == sorted([sample, clean])
    assert run.diagnostics[clean] == []  # checked, no problems

    diags = run.diagnostics[sample]
    assert _codes(diags, "ruff") == {("F401", 0), ("F821", 4), ("F841", 4)}
    assert _codes(diags, "mypy") == {("name-defined", 4), ("return-value", 5)}
    assert {d.range.start.line for d in diags if d.source == "pyflakes"} == {0, 4}

    f401 = next(d for d in diags if d.code == "F401")
    assert (f401.range.start.character, f401.range.end.character) == (7, 9)  # `os`, 0-based
    assert f401.message == "`os` imported but unused" and f401.severity == 2
    ret = next(d for d in diags if d.code == "return-value")
    assert (ret.range.start.character, ret.range.end.character) == (11, 12)  # `x` in `return x`
    undefined = next(d for d in diags if d.source == "pyflakes" and "undefined" in d.message)
    assert (undefined.range.start.character, undefined.range.end.character) == (8, 22)

    # Detector output feeds signatures directly.
    sig = compute_signature(f401.source, f401.code, f401.message)
    assert sig.key == "ruff:F401:'{module}' imported but unused"


def test_mypy_text_and_json_parsers_agree(pyproj: Path) -> None:
    import subprocess

    mypy = find_executable("mypy")
    assert mypy is not None
    files = [str(pyproj / "sample.py")]
    common = dict(cwd=pyproj, capture_output=True, text=True, check=False)
    j = subprocess.run([mypy, "--output", "json", *files], **common)  # type: ignore[call-overload]
    t = subprocess.run(  # type: ignore[call-overload]
        [
            mypy,
            "--show-column-numbers",
            "--show-error-end",
            "--show-error-codes",
            "--no-error-summary",
            "--no-pretty",
            *files,
        ],
        **common,
    )
    from_json = parse_mypy_json(j.stdout, j.stderr, j.returncode, pyproj)
    from_text = parse_mypy_text(t.stdout, t.stderr, t.returncode, pyproj)
    assert from_json and from_json.keys() == from_text.keys()
    for path in from_json:
        a = [(d.code, d.message, d.range) for d in from_json[path]]
        b = [(d.code, d.message, d.range) for d in from_text[path]]
        assert a == b


# --------------------------------------------------------------------------- failures


async def test_garbage_tool_is_an_error_and_others_continue(pyproj: Path, tmp_path: Path) -> None:
    fake = _fake_tool(tmp_path, "ruff", 'echo "Segmentation fault (core dumped) {not json"')
    run = await run_detectors([pyproj], tools=["ruff", "mypy"], executables={"ruff": fake})
    assert "ruff" in run.errors and "invalid JSON" in run.errors["ruff"]
    assert "ruff" not in run.checked
    assert "mypy" in run.checked and "mypy" not in run.errors
    sample = (pyproj / "sample.py").resolve()
    assert {d.source for d in run.diagnostics[sample]} == {"mypy"}


async def test_crashing_and_hanging_tools(pyproj: Path, tmp_path: Path) -> None:
    crash = _fake_tool(tmp_path, "pyflakes", "echo 'Traceback: boom' >&2; exit 70")
    hang = _fake_tool(tmp_path, "mypy", "sleep 30")
    run = await run_detectors(
        [pyproj],
        tools=["pyflakes", "mypy", "ruff"],
        executables={"pyflakes": crash, "mypy": hang},
        timeout=1.0,
    )
    assert "exited with 70" in run.errors["pyflakes"] and "boom" in run.errors["pyflakes"]
    assert "timed out" in run.errors["mypy"]
    assert run.checked.keys() == {"ruff"}


async def test_not_installed_unknown_and_no_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.js").write_text("const x = 1;\n")
    (tmp_path / "b.rs").write_text("fn main() {}\n")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    run = await run_detectors([tmp_path], tools=["eslint", "nosuchtool", "ruff"], root=tmp_path)
    assert run.skipped["eslint"] == "not installed"
    assert run.skipped["nosuchtool"] == "unknown detector"
    assert run.skipped["ruff"] == "no files to check"
    fake = _fake_tool(tmp_path, "eslint", "echo '[]'")
    cargo = _fake_tool(tmp_path, "cargo", "echo")
    run = await run_detectors(
        [tmp_path], tools=["eslint", "cargo"], executables={"eslint": fake, "cargo": cargo}
    )
    assert run.skipped == {"eslint": "no ESLint configuration", "cargo": "no Cargo.toml"}


async def test_unreadable_files_are_skipped_with_reason(pyproj: Path) -> None:
    (pyproj / "binary.py").write_bytes(b"x = 1\n\x00\x01\x02")
    (pyproj / "latin1.py").write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    (pyproj / "huge.py").write_text("x = 1\n" * 400)
    run = await run_detectors([pyproj], tools=["ruff"], max_file_size=1000)
    skipped = {p.name: reason for p, reason in run.skipped_files.items()}
    assert skipped["binary.py"] == "binary file"
    assert skipped["latin1.py"].startswith("not UTF-8")
    assert skipped["huge.py"].startswith("larger than 1000 bytes")
    assert {p.name for p in run.checked["ruff"]} == {"sample.py", "clean.py"}
    assert not any(p.name in skipped for p in run.diagnostics)
    missing = await run_detectors([pyproj / "gone.py"], tools=["ruff"])
    assert list(missing.skipped_files.values()) == ["does not exist"]


async def test_does_not_block_the_event_loop(pyproj: Path, tmp_path: Path) -> None:
    slow = _fake_tool(tmp_path, "ruff", "sleep 0.6; echo '[]'")
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.02)

    task = asyncio.create_task(ticker())
    run = await run_detectors([pyproj], tools=["ruff"], executables={"ruff": slow})
    stop.set()
    await task
    assert run.errors == {} and run.diagnostics[(pyproj / "sample.py").resolve()] == []
    assert ticks >= 10


async def test_sync_wrapper_inside_and_outside_a_loop(pyproj: Path) -> None:
    inside = run_detectors_sync([pyproj / "sample.py"], tools=["ruff"])  # loop is running here
    outside = await asyncio.to_thread(run_detectors_sync, [pyproj / "sample.py"], None, ["ruff"])
    for run in (inside, outside):
        assert {d.code for ds in run.diagnostics.values() for d in ds} == {"F401", "F821", "F841"}


def test_available_detectors_lists_every_tool() -> None:
    found = available_detectors()
    assert set(found) == set(TOOLS)
    assert found["ruff"] and Path(found["ruff"]).name == "ruff"
    assert found["mypy"] and found["pyflakes"]


# --------------------------------------------------------------------------- live node / rust


@pytest.mark.skipif(_node_tool("tsc") is None, reason="tsc not installed (npm i typescript)")
async def test_tsc_live(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ts", tmp_path / "ts")
    tsc = _node_tool("tsc")
    assert tsc is not None
    run = await run_detectors([tmp_path / "ts"], tools=["tsc"], executables={"tsc": tsc})
    assert run.errors == {}
    diags = run.diagnostics[(tmp_path / "ts" / "cases.ts").resolve()]
    codes = _codes(diags, "tsc")
    assert {("2307", 0), ("6133", 14), ("2339", 16), ("2554", 30), ("18047", 38)} <= codes
    email = next(d for d in diags if d.code == "2339" and "email" in d.message)
    assert (email.range.start.character, email.range.end.character) == (16, 21)


@pytest.mark.skipif(_node_tool("eslint") is None, reason="eslint not installed (npm i eslint)")
async def test_eslint_live(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "js_live", tmp_path / "js")
    eslint = _node_tool("eslint")
    assert eslint is not None
    run = await run_detectors([tmp_path / "js"], tools=["eslint"], executables={"eslint": eslint})
    assert run.errors == {}
    diags = run.diagnostics[(tmp_path / "js" / "sample.js").resolve()]
    assert _codes(diags, "eslint") == {("no-unused-vars", 0), ("eqeqeq", 3), ("no-undef", 3)}
    undef = next(d for d in diags if d.code == "no-undef")
    assert (undef.range.start.character, undef.range.end.character, undef.severity) == (11, 18, 1)


def _cargo_skip_reason() -> str | None:
    from codecortex.detectors.tools import cargo_toolchain

    working, reason = cargo_toolchain()
    return None if working else f"cargo: {reason}"


@pytest.mark.skipif(_cargo_skip_reason() is not None, reason=str(_cargo_skip_reason()))
async def test_cargo_live(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "rust", tmp_path / "rust")
    run = await run_detectors([tmp_path / "rust"], tools=["cargo"], timeout=120)
    assert run.errors == {}
    diags = run.diagnostics[(tmp_path / "rust" / "src" / "main.rs").resolve()]
    assert {("unused_imports", 0), ("E0599", 20), ("E0425", 34)} <= _codes(diags, "rustc")
    norm = next(d for d in diags if d.code == "E0599" and "norm" in d.message)
    assert (norm.range.start.character, norm.range.end.character) == (6, 10)


def test_mypy_configuration_notes_are_not_problems(tmp_path) -> None:
    from codecortex.detectors.parsers import parse_mypy_json, parse_mypy_text

    note = "setup.cfg: note: unused section(s): [mypy-pkg.jws]"
    error = (
        '{"file": "a.py", "line": 2, "column": 4, "message": "boom", "hint": null,'
        ' "code": "misc", "severity": "error"}'
    )
    found = parse_mypy_json(f"{note}\n{error}\n", "", 1, tmp_path)
    assert [d.message for d in found[tmp_path / "a.py"]] == ["boom"]
    text = f"{note}\na.py:2:5:2:6: error: boom  [misc]\nFound 1 error in 1 file\n"
    assert [d.code for d in parse_mypy_text(text, "", 1, tmp_path)[tmp_path / "a.py"]] == ["misc"]


async def test_cargo_without_a_toolchain_is_skipped_with_the_reason(tmp_path: Path) -> None:
    """rustup's proxy on PATH without a default toolchain: cargo is there but cannot run."""
    proxy = _fake_tool(
        tmp_path,
        "cargo",
        "echo 'error: rustup could not choose a version of cargo to run, because one was not "
        "specified explicitly, and no default is configured.' >&2; exit 1",
    )
    shutil.copytree(FIXTURES / "rust", tmp_path / "rust")
    run = await run_detectors([tmp_path / "rust"], tools=["cargo"], executables={"cargo": proxy})
    assert run.errors == {}
    assert run.skipped["cargo"].startswith("no working toolchain (error: rustup could not choose")
