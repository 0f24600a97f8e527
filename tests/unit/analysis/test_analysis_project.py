"""README and dependency-drift rules on real files; version range helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codecortex.analysis import run_project_rules
from codecortex.analysis.deps import dependency_rules
from codecortex.analysis.project import readme_rules
from codecortex.analysis.versions import npm_satisfies, pep440_satisfies


def _rules(insights) -> list[tuple[str, str]]:
    return sorted(
        (i.rule, i.detail.get("package") or i.detail.get("target") or "") for i in insights
    )


def test_readme_sections_and_broken_links(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n")
    (tmp_path / "README.md").write_text(
        "# Tool\n\n"
        "## Installation\n\npip install tool\n\n"
        "See [the guide](docs/guide.md#start), [API](docs/api.md) and [site](https://x.org).\n"
        "![logo](img/logo.png)\n\n"
        "```\n[not a link](nowhere.md)\n```\n"
        "[ref]: ./missing/ref.md\n"
    )
    found = readme_rules(tmp_path)
    assert _rules(found) == [
        ("readme.broken_link", "./missing/ref.md"),
        ("readme.broken_link", "docs/api.md"),
        ("readme.broken_link", "img/logo.png"),
        ("readme.missing_test_section", ""),
        ("readme.missing_usage_section", ""),
    ]
    link = next(i for i in found if i.detail.get("target") == "docs/api.md")
    line = (tmp_path / "README.md").read_text().splitlines()[link.range.start.line]
    assert line[link.range.start.character : link.range.end.character] == "docs/api.md"
    assert all(i.type == "readme_quality" and i.file == "README.md" for i in found)


def test_complete_readme_and_missing_readme(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "Tool\n====\n\n## Getting started\n\ntool run\n\n## Running the tests\n\npytest\n"
    )
    assert readme_rules(tmp_path) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert [i.rule for i in readme_rules(empty)] == ["readme.missing"]
    assert readme_rules(empty, has_sources=False) == []


def _site_packages(root: Path, dists: dict[str, str]) -> Path:
    site = root / "site"
    for name, version in dists.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return site


def test_python_dependency_drift(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[project]\n"
        'name = "demo"\n'
        "dependencies = [\n"
        '    "requests>=2.31",\n'
        '    "PyYAML>=6,<7",\n'
        '    "rich",\n'
        "    \"attrs>=23; python_version < '3.8'\",\n"
        "]\n"
        "[project.optional-dependencies]\n"
        'dev = ["pytest>=8"]\n'
    )
    (tmp_path / "requirements.txt").write_text(
        "flask\nclick==8.1.7\nclick==8.1.6\n# comment\n-r other.txt\n"
    )
    (tmp_path / "uv.lock").write_text(
        'version = 1\n[[package]]\nname = "requests"\nversion = "2.30.0"\n'
        '[[package]]\nname = "pyyaml"\nversion = "6.0.1"\n'
        '[[package]]\nname = "flask"\nversion = "3.0.0"\n'
        '[[package]]\nname = "click"\nversion = "8.1.7"\n'
    )
    site = _site_packages(tmp_path, {"requests": "2.32.3", "PyYAML": "5.4.1", "rich": "13.0.0"})
    found = dependency_rules(tmp_path, [site])
    assert _rules(found) == [
        ("stale_dep.duplicate", "click"),
        ("stale_dep.installed_drift", "PyYAML"),
        ("stale_dep.lock_drift", "click"),  # click==8.1.6, locked 8.1.7
        ("stale_dep.lock_drift", "requests"),
        ("stale_dep.missing_from_lock", "rich"),
        ("stale_dep.unpinned", "flask"),
    ]
    by_rule = {i.rule: i for i in found}
    assert by_rule["stale_dep.duplicate"].severity == "warning"  # 8.1.7 vs 8.1.6
    assert by_rule["stale_dep.duplicate"].file == "requirements.txt"
    drift = by_rule["stale_dep.installed_drift"]
    assert drift.file == "pyproject.toml" and drift.range.start.line == 4
    assert drift.detail["installed"] == "5.4.1"
    locked = {i.detail["package"]: i.detail["locked"] for i in found if "locked" in i.detail}
    assert locked == {"requests": "2.30.0", "click": "8.1.7"}
    # without an environment only the manifest/lock checks run
    assert "stale_dep.installed_drift" not in {i.rule for i in dependency_rules(tmp_path, [])}


def test_npm_dependency_drift(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(
        json.dumps(
            {
                "dependencies": {"react": "^18.2.0", "lodash": "~4.17.0", "left-pad": "*"},
                "devDependencies": {"typescript": "^5.4.0", "react": "^18.2.0"},
            },
            indent=2,
        )
    )
    (tmp_path / "package-lock.json").write_text(
        json.dumps(
            {
                "lockfileVersion": 3,
                "packages": {
                    "": {"name": "demo"},
                    "node_modules/react": {"version": "17.0.2"},
                    "node_modules/lodash": {"version": "4.17.21"},
                    "node_modules/left-pad": {"version": "1.3.0"},
                },
            }
        )
    )
    (tmp_path / "node_modules" / "lodash").mkdir(parents=True)
    (tmp_path / "node_modules" / "lodash" / "package.json").write_text('{"version": "4.18.0"}')
    found = run_project_rules(tmp_path, {}, [], site_packages=[])
    assert _rules(i for i in found if i.type == "stale_dep") == [
        ("stale_dep.duplicate", "react"),
        ("stale_dep.installed_drift", "lodash"),
        ("stale_dep.lock_drift", "react"),
        ("stale_dep.lock_drift", "react"),
        ("stale_dep.missing_from_lock", "typescript"),
        ("stale_dep.unpinned", "left-pad"),
    ]
    lock = [i for i in found if i.rule == "stale_dep.lock_drift"]
    assert lock[0].fingerprint != lock[1].fingerprint  # one per declaring group


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [
        ("2.31.0", ">=2.31", True),
        ("2.30.9", ">=2.31", False),
        ("6.0.1", ">=6,<7", True),
        ("7.0", ">=6,<7", False),
        ("1.4.2", "~=1.4", True),
        ("2.0", "~=1.4", False),
        ("1.4.5", "~=1.4.2", True),
        ("1.5.0", "~=1.4.2", False),
        ("3.2.1", "==3.2.*", True),
        ("3.3", "==3.2.*", False),
        ("1.0rc1", "<1.0", True),
        ("1.0", "!=1.0.0", False),
        ("1.0.post1", ">1.0", True),
    ],
)
def test_pep440(version: str, spec: str, ok: bool) -> None:
    assert pep440_satisfies(version, spec) is ok


@pytest.mark.parametrize(
    ("version", "range_", "ok"),
    [
        ("18.3.1", "^18.2.0", True),
        ("19.0.0", "^18.2.0", False),
        ("0.2.5", "^0.2.3", True),
        ("0.3.0", "^0.2.3", False),
        ("4.17.21", "~4.17.0", True),
        ("4.18.0", "~4.17.0", False),
        ("1.2.3", "1.x", True),
        ("2.0.0", ">=1.0.0 <2.0.0", False),
        ("1.5.0", "1.0.0 - 1.9.9", True),
        ("3.0.0", "^1.0.0 || ^3.0.0", True),
        ("1.0.0", "latest", True),
    ],
)
def test_npm_ranges(version: str, range_: str, ok: bool) -> None:
    assert npm_satisfies(version, range_) is ok


def test_npm_unknown_ranges() -> None:
    assert npm_satisfies("1.0.0", "github:user/repo") is None
    assert npm_satisfies("1.0.0", "file:../x") is None
