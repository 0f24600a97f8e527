"""Workspace phases on real files in tmp_path: listing, skipping, cycles, incremental updates."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import TESTS

from codecortex.analysis import (
    affected_files,
    analyze_workspace,
    iter_source_files,
    reanalyze_file,
)
from codecortex.analysis import phases as workspace_mod
from codecortex.analysis.project import strongly_connected_components


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


CYCLE = {
    "pkg/__init__.py": "",
    "pkg/a.py": "from pkg import b\n\n\ndef fa():\n    return b.fb()\n",
    "pkg/b.py": "from . import c\n\n\ndef fb():\n    return c.fc()\n",
    "pkg/c.py": "import pkg.a\n\n\ndef fc():\n    return 1\n",
    # d <-> e only through a function-local import and a TYPE_CHECKING import: not a cycle
    "pkg/d.py": "from pkg import e\n",
    "pkg/e.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pkg import d\n\n\n"
        "def late():\n"
        "    from pkg import d\n"
        "    return d\n"
    ),
    "main.py": "from pkg.a import fa\n\nprint(fa())\n",
}


def test_import_cycle_found_across_files(tmp_path: Path) -> None:
    _write(tmp_path, CYCLE)
    ws = analyze_workspace(tmp_path, "medium", site_packages=[])
    cycles = [i for i in ws.insights if i.rule == "architecture.import_cycle"]
    assert len(cycles) == 1
    cycle = cycles[0]
    assert cycle.detail["members"] == ["pkg/a.py", "pkg/b.py", "pkg/c.py"]
    assert cycle.detail["cycle"] == ["pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/a.py"]
    assert cycle.file == "pkg/a.py" and cycle.range.start.line == 0
    edges = {(r.source_file, r.target_file) for r in ws.relationships if r.type == "imports"}
    assert ("pkg/e.py", "pkg/d.py") in edges  # recorded, but not a runtime edge
    assert ("main.py", "pkg/a.py") in edges


def test_tarjan_components() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"f"}}
    assert strongly_connected_components(graph) == [["a", "b", "c"], ["d", "e"]]


def test_affected_files_are_the_file_and_its_importers(tmp_path: Path) -> None:
    _write(tmp_path, CYCLE)
    ws = analyze_workspace(tmp_path, "medium", site_packages=[])
    assert affected_files("pkg/a.py", ws.relationships) == {"pkg/a.py", "pkg/c.py", "main.py"}
    assert affected_files("pkg/d.py", ws.relationships) == {"pkg/d.py", "pkg/e.py"}
    assert affected_files("main.py", ws.relationships) == {"main.py"}


def test_reanalyze_file_breaks_the_cycle(tmp_path: Path) -> None:
    _write(tmp_path, CYCLE)
    ws = analyze_workspace(tmp_path, "medium", site_packages=[])
    new_c = "def fc():\n    import pkg.a\n    return 1\n"
    result = reanalyze_file(ws, "pkg/c.py", new_c)
    assert result.affected == {"pkg/c.py", "pkg/b.py"}
    assert result.cycle_insights == []
    assert result.analysis is not None and result.analysis.imports[0].local
    # and back: the cycle is found again
    result = reanalyze_file(ws, "pkg/c.py", CYCLE["pkg/c.py"])
    assert len(result.cycle_insights) == 1
    # a deleted file disappears from the graph
    (tmp_path / "pkg" / "b.py").unlink()
    result = reanalyze_file(ws, "pkg/b.py")
    assert result.analysis is None and "pkg/b.py" not in ws.analyses
    assert not any("pkg/b.py" in (r.source_file, r.target_file) for r in ws.relationships)
    assert result.cycle_insights == []


def test_skips_binary_non_utf8_huge_and_ignored_dirs(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "ok.py": "x = 1\n",
            "bin.py": b"\x00\x01\x02binary",
            "latin.py": "s = 'caf\xe9'\n".encode("latin-1"),
            "big.py": "x = 1\n" * 100,
            "node_modules/lib/index.js": "module.exports = 1;\n",
            ".venv/lib/site.py": "x = 1\n",
            "notes.txt": "not source\n",
        },
    )
    skipped: list = []
    files = list(iter_source_files(tmp_path, max_file_size=300, skipped=skipped))
    assert [f.path for f in files] == ["ok.py"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["bin.py"] == "binary" and reasons["latin.py"] == "not UTF-8"
    assert reasons["big.py"].startswith("too large")
    ws = analyze_workspace(tmp_path, "quick", max_file_size=300)
    assert ws.changed == ["ok.py"]
    assert {s.path for s in ws.skipped} == {"bin.py", "latin.py", "big.py"}


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_gitignore_is_honoured(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            ".gitignore": "generated/\n*.gen.py\n",
            "src/app.py": "x = 1\n",
            "src/skip.gen.py": "x = 1\n",
            "generated/out.py": "x = 1\n",
            "untracked.ts": "export const a = 1;\n",
        },
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "src/app.py", ".gitignore"], cwd=tmp_path, check=True)
    paths = [f.path for f in iter_source_files(tmp_path)]
    assert paths == ["src/app.py", "untracked.ts"]


def test_previous_hashes_skip_unchanged_files(tmp_path: Path) -> None:
    _write(tmp_path, CYCLE)
    progress: list[tuple[int, int]] = []
    first = analyze_workspace(tmp_path, "quick", on_progress=lambda d, t: progress.append((d, t)))
    assert progress[-1] == (7, 7) and len(progress) == 7
    assert len(first.changed) == 7 and first.lines == sum(
        a.line_count for a in first.analyses.values()
    )
    (tmp_path / "pkg" / "d.py").write_text("from pkg import e\nX = 1\n")
    (tmp_path / "main.py").unlink()
    second = analyze_workspace(tmp_path, "quick", previous_hashes=first.hashes)
    assert second.changed == ["pkg/d.py"]
    assert len(second.unchanged) == 5 and second.removed == ["main.py"]
    # medium needs every file's imports: unchanged files are re-parsed (without their rules) ...
    third = analyze_workspace(tmp_path, "medium", previous_hashes=second.hashes, site_packages=[])
    assert third.changed == [] and len(third.analyses) == 6
    assert any(i.rule == "architecture.import_cycle" for i in third.insights)
    # ... or taken from previous analyses
    fourth = analyze_workspace(
        tmp_path,
        "medium",
        previous_hashes=second.hashes,
        previous_analyses=third.analyses,
        site_packages=[],
    )
    assert fourth.analyses["pkg/a.py"] is third.analyses["pkg/a.py"]
    assert {r.to_json()["target_file"] for r in fourth.relationships} == {
        r.to_json()["target_file"] for r in third.relationships
    }


def test_process_pool_gives_the_same_results(tmp_path: Path, monkeypatch) -> None:
    fixtures = TESTS / "fixtures" / "analysis"
    shutil.copytree(fixtures, tmp_path / "fx")
    _write(tmp_path, CYCLE)
    single = analyze_workspace(tmp_path, "medium", processes=1, site_packages=[])
    monkeypatch.setattr(workspace_mod, "POOL_MIN_FILES", 1)
    pooled = analyze_workspace(tmp_path, "medium", processes=2, site_packages=[])
    assert pooled.changed == single.changed
    assert sorted(i.fingerprint for i in pooled.insights) == sorted(
        i.fingerprint for i in single.insights
    )
    assert {p: a.to_json() for p, a in pooled.analyses.items()} == {
        p: a.to_json() for p, a in single.analyses.items()
    }


def test_unknown_phase_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        analyze_workspace(tmp_path, "deep")
