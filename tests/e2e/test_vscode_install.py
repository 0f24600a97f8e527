"""The e2e test's VS Code install says what is missing instead of failing obscurely."""

from __future__ import annotations

from pathlib import Path

import pytest
import vscode_install
from vscode_install import InstallError, ensure_installed


def test_a_missing_prerequisite_is_named_and_nothing_is_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODECORTEX_E2E_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no npm, no make, no g++
    with pytest.raises(InstallError, match=r"npm is not on PATH"):
        ensure_installed()
    assert not vscode_install.install_dir().exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [".install.lock"]
